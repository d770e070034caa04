import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';

/** License codes and token hashes work like passwords: folders we create are 0700, database files 0600. */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Creates the folder (and missing parents) readable by the owner only. */
export function makePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/**
 * Creates `file` empty with mode 0600 if it does not exist, and takes group/other access away if it does.
 * SQLite creates a database's -wal, -shm and -journal files with the database file's mode, so creating the
 * database file first is what keeps those private too.
 */
export function makePrivateFile(file: string): void {
  if (!existsSync(file)) closeSync(openSync(file, 'a', PRIVATE_FILE_MODE));
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, PRIVATE_FILE_MODE);
}

const SQLITE_COMPANIONS = ['-wal', '-shm', '-journal'];

/** Tightens the companion files an older version left readable (a new database's are created 0600). */
export function tightenCompanions(path: string): void {
  for (const suffix of SQLITE_COMPANIONS) {
    const f = `${path}${suffix}`;
    if (existsSync(f) && (statSync(f).mode & 0o077) !== 0) chmodSync(f, PRIVATE_FILE_MODE);
  }
}
