import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { LicensorError } from '@licensor/shared';
import BetterSqlite3 from 'better-sqlite3';
import { GroupCommit } from './groupCommit';
import { migrate } from './migrations';
import { recordStatement } from './sqlRecorder';
import type { Db, Params } from './types';

export type { Db, Params, Row } from './types';

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

export function openDatabase(path: string, opts: { readonly?: boolean; migrate?: boolean } = {}): Db {
  const onDisk = path !== ':memory:' && path !== '';
  if (onDisk && !opts.readonly) {
    makePrivateDir(dirname(path));
    makePrivateFile(path);
    tightenCompanions(path);
  }
  let sqlite: BetterSqlite3.Database;
  try {
    sqlite = new BetterSqlite3(path, { readonly: opts.readonly ?? false });
  } catch (err) {
    throw new LicensorError(
      'STORAGE_UNAVAILABLE',
      `Cannot open database ${path}: ${(err as Error).message}`,
      undefined,
      {
        cause: err,
      },
    );
  }
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');

  const cache = new Map<string, BetterSqlite3.Statement>();
  const prepare = (sql: string) => {
    let stmt = cache.get(sql);
    if (!stmt) {
      stmt = sqlite.prepare(sql);
      recordStatement(sql);
      cache.set(sql, stmt);
    }
    return stmt;
  };
  const bind = (params: Params | undefined): unknown[] =>
    params === undefined ? [] : Array.isArray(params) ? (params as unknown[]) : [params];

  let groupCommit: GroupCommit | undefined;
  // One transaction wrapper for every call: better-sqlite3 builds four wrapper variants per `transaction()`,
  // which costs more than a small write itself. Nested calls become savepoints.
  const inTransaction = sqlite.transaction(<T>(fn: () => T): T => fn());

  const db: Db = {
    path,
    raw: sqlite,
    all: <T>(sql: string, params?: Params) => prepare(sql).all(...bind(params)) as T[],
    first: <T>(sql: string, params?: Params) => prepare(sql).get(...bind(params)) as T | undefined,
    run: (sql, params) => {
      const r = prepare(sql).run(...bind(params));
      return { changes: r.changes, lastInsertRowid: r.lastInsertRowid };
    },
    transaction: <T>(fn: () => T): T => inTransaction.immediate(fn) as T,
    batched: <T>(fn: () => T): Promise<T> => groupCommit!.write(fn),
    exec: (sql) => {
      sqlite.exec(sql);
    },
    backup: async (destination, onProgress) => {
      // A backup holds every license code: private from its first byte, not chmod-ed afterwards.
      makePrivateDir(dirname(destination));
      makePrivateFile(destination);
      await sqlite.backup(destination, {
        progress: ({ totalPages, remainingPages }) => {
          onProgress?.(totalPages - remainingPages, totalPages);
          return 200;
        },
      });
      tightenCompanions(destination);
    },
    integrityCheck: () =>
      (sqlite.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check),
    close: () => {
      groupCommit?.close();
      cache.clear();
      sqlite.close();
    },
  };
  if (opts.migrate !== false && !opts.readonly) migrate(db);
  groupCommit = new GroupCommit(db);
  return db;
}

export const nowIso = (d: Date = new Date()): string => d.toISOString();
