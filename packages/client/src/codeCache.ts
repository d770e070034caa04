/**
 * Loads the `licensor-client` CLI bundle (dist/cli.bundle.cjs, one CommonJS file with every dependency; see
 * scripts/build.mjs) with a V8 code cache, so a cold start skips most of the parsing and compiling.
 *
 * A code cache is executable: V8 checks only its version, flags and the source *length*, so a cache planted
 * by someone else could run their code. It therefore lives in a per-user folder that only this user can
 * write (every folder up to the root owned by this user or root, not writable by others unless sticky like
 * /tmp; the cache folder and files mode 0700/0600, never followed through a symbolic link). Anything that
 * looks wrong — ownership, mode, a truncated or corrupt file (SHA-256 checked: V8 checksums a code cache only in
 * debug builds, and a damaged one could crash every start; a CRC-32 would need node:zlib, whose loading costs
 * more than hashing 0.6 MB with the CPU's SHA extensions), a cache V8 rejects — only costs the time of a normal
 * compile: the cache is ignored and, where the folder is safe, rewritten.
 *
 * Which bundle a cache belongs to: the bundle file's identity and state (device, inode, size, modification and
 * change times), read with one stat, instead of hashing its content at every start. Any write to the bundle, or a
 * new file in its place, changes its change time (which no user can set; only the system clock moves it) or its
 * inode, so an updated or reinstalled bundle gets a new cache even when npm gives every file the same mtime. What
 * this does not cover: someone who can write the install folder. They can replace the bundle itself, so a cache
 * matching their bundle gives them nothing they do not already have; and they cannot write the cache, which lives
 * in the user's private folder. The cache folder is the user's own: whoever can write it can already run code as
 * the user. The check guards against accidents (a stale or damaged cache), not against the user.
 *
 * Node 20 has no module.enableCompileCache(), hence vm.Script with cachedData. No third-party imports here:
 * this module runs before anything else on every start.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { basename, dirname, join, parse } from 'node:path';
import { Script } from 'node:vm';

/** What happened to the cache on this load (for tests and the cold-start benchmark). */
export type CodeCacheOutcome =
  | 'hit' // V8 accepted the stored cache
  | 'miss' // no usable cache file (absent, corrupt, or not safely owned): compiled normally, cache written at exit
  | 'rejected' // V8 refused the stored cache (other Node version, flags): compiled normally, rewritten at exit
  | 'unsafe'; // the cache folder is not private to this user: compiled normally, nothing read or written

export interface LoadedBundle {
  exports: Record<string, unknown>;
  cache: CodeCacheOutcome;
  /** The cache file this load reads and writes (also when `cache` is 'unsafe', for the message). */
  cacheFile: string;
  /**
   * Writes the cache now when this load did not use one (miss, rejected); a no-op otherwise and after the
   * first call. Also runs at process exit, so the cache holds the functions this run compiled.
   */
  saveCache: () => void;
}

/** The per-user cache folder: $XDG_CACHE_HOME or ~/.cache (Linux), ~/Library/Caches (macOS), %LOCALAPPDATA%. */
export function defaultCodeCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (process.platform === 'win32') {
    return join(env.LOCALAPPDATA ?? join(homedir(), 'AppData', 'Local'), 'licensor', 'code-cache');
  }
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Caches', 'licensor', 'code-cache');
  const xdg = env.XDG_CACHE_HOME;
  // The XDG spec: a relative path is invalid and must be ignored.
  return join(xdg?.startsWith('/') ? xdg : join(homedir(), '.cache'), 'licensor', 'code-cache');
}

const GROUP_OR_OTHER_WRITE = 0o022;
const STICKY = 0o1000;

/**
 * True when no other user can replace or rename anything in `dir`: `dir` is a real folder owned by this user,
 * not group/other accessible, and every ancestor is owned by this user or root and either not writable by
 * others or sticky (as /tmp is: others cannot rename our entries in it).
 */
function isPrivateDir(dir: string): boolean {
  if (typeof process.getuid !== 'function') return true; // Windows: %LOCALAPPDATA% is per-user by its ACL
  const uid = process.getuid();
  const own = lstatSync(dir);
  if (!own.isDirectory() || own.uid !== uid || (own.mode & 0o077) !== 0) return false;
  for (let parent = dirname(dir); ; parent = dirname(parent)) {
    const st = lstatSync(parent);
    if (st.isSymbolicLink()) {
      // A link in the path is fine only where neither it nor its folder can be changed by someone else.
      if (st.uid !== uid && st.uid !== 0) return false;
    } else if (!st.isDirectory()) return false;
    else if (st.uid !== uid && st.uid !== 0) return false;
    else if ((st.mode & GROUP_OR_OTHER_WRITE) !== 0 && (st.mode & STICKY) === 0) return false;
    if (parent === parse(parent).root) return true;
  }
}

/** Creates the cache folder (0700) when missing; undefined when it is not private to this user. */
function privateCacheDir(dir: string): string | undefined {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return isPrivateDir(dir) ? dir : undefined;
  } catch {
    return undefined; // read-only home, no permission: run without a cache
  }
}

/** 32-byte header: the SHA-256 of the cache data that follows. */
const HEADER = 32;
const digest = (data: Buffer) => createHash('sha256').update(data).digest();

/** The stored cache if it is a regular file of this user, mode 0600, and its SHA-256 header matches. */
function readCache(file: string): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
    const st = fstatSync(fd);
    if (!st.isFile()) return undefined;
    if (typeof process.getuid === 'function' && (st.uid !== process.getuid() || (st.mode & 0o077) !== 0)) {
      return undefined;
    }
    const stored = readFileSync(fd);
    if (stored.length <= HEADER) return undefined;
    const data = stored.subarray(HEADER);
    return digest(data).equals(stored.subarray(0, HEADER)) ? data : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Atomic write (temporary file + rename, 0600); earlier caches of this bundle name are removed. */
function writeCache(file: string, data: Buffer): void {
  const temp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(temp, Buffer.concat([digest(data), data]), {
      mode: 0o600,
      flag: 'wx',
    });
    renameSync(temp, file);
    const [stem] = basename(file).split('-');
    for (const name of readdirSync(dirname(file))) {
      if (name !== basename(file) && name.startsWith(`${stem}-`) && name.endsWith('.cache')) {
        rmSync(join(dirname(file), name), { force: true });
      }
    }
  } catch {
    rmSync(temp, { force: true }); // a full disk or a race with another process: next start compiles again
  }
}

/**
 * Runs an ASCII-only CommonJS bundle (no import(): vm.Script code has no module loader; its require()
 * resolves from the bundle's folder) and returns its exports. The cache is keyed by the bundle file's identity and
 * state (see the module comment), the Node version, the architecture and Node's flags; a missing or rejected cache
 * is written when the process exits, so it also holds the functions this run compiled.
 */
export function loadCachedBundle(bundlePath: string, opts: { cacheDir?: string } = {}): LoadedBundle {
  const file = statSync(bundlePath, { bigint: true }); // nanosecond times where the file system keeps them
  const source = readFileSync(bundlePath, 'latin1'); // the build checks that the bundle is ASCII
  const key = createHash('sha256')
    .update(`${process.version}\0${process.arch}\0${process.execArgv.join(' ')}\0`)
    .update(`${file.dev}:${file.ino}:${file.size}:${file.mtimeNs}:${file.ctimeNs}:${source.length}`)
    .digest('hex')
    .slice(0, 32);
  const name = basename(bundlePath).replace(/\W/g, '_');
  const requestedDir = opts.cacheDir ?? defaultCodeCacheDir();
  const dir = privateCacheDir(requestedDir);
  const cacheFile = join(requestedDir, `${name}-${key}.cache`);
  const cachedData = dir ? readCache(cacheFile) : undefined;

  const wrapper = `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
  const script = new Script(wrapper, {
    filename: bundlePath,
    cachedData,
  });
  const cache: CodeCacheOutcome = !dir
    ? 'unsafe'
    : !cachedData
      ? 'miss'
      : script.cachedDataRejected
        ? 'rejected'
        : 'hit';
  let pending = cache === 'miss' || cache === 'rejected';
  const saveCache = () => {
    if (!pending) return;
    pending = false;
    // Saved early (by the caller): the exit listener has nothing left to do, so it goes, or every load would leave
    // one behind (a process loading many bundles would hit MaxListenersExceededWarning).
    process.removeListener('exit', saveCache);
    writeCache(cacheFile, script.createCachedData());
  };
  if (pending) process.once('exit', saveCache);
  const module = { exports: {} as Record<string, unknown> };
  script.runInThisContext()(module.exports, createRequire(bundlePath), module, bundlePath, dirname(bundlePath));
  return { exports: module.exports, cache, cacheFile, saveCache };
}
