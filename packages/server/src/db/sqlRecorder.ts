import { closeSync, openSync, writeSync } from 'node:fs';
import { findSourceMap } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Opt-in record of the distinct SQL statements the SQLite facade prepares, for the portability check that
 * PREPAREs each of them on PostgreSQL after the test suite (db/portability/). Off unless
 * LICENSOR_SQL_RECORD_DIR names a folder; the test setup sets it, production never does.
 *
 * Cheap by construction: the facade calls `recordStatement` only when a statement misses its prepared-statement
 * cache, the Set makes each text count once per process, and a new text costs one capture of the call sites (where
 * it came from) and one write. Each line is written as it is seen rather than at exit, so a server process the crash
 * tests SIGKILL still leaves its statements behind.
 */
export const SQL_RECORD_DIR_ENV = 'LICENSOR_SQL_RECORD_DIR';

export interface RecordedStatement {
  sql: string;
  /** The first frames outside the facade, innermost first: "packages/server/src/jobs/daily.ts (planDay)". */
  at: string[];
  /** Microseconds this record cost before its write (call sites, opening the file), for the run's summary. */
  us?: number;
}

const FACADE_FILES = /[\\/]db[\\/](sqlite|storage|sqlRecorder|durableBarrier)\.[cm]?[jt]s\b/;
const FRAMES_KEPT = 3;

let seen: Set<string> | undefined;
let fd: number | undefined;

/**
 * The calling frames as V8's call sites, not as a formatted stack: formatting maps every frame through its
 * source map (tsx, vitest), which cost milliseconds per record in server processes. A call site's file and
 * function name need no map; its line would be the generated code's, so it is left out.
 */
function callers(): string[] {
  const holder: { stack?: NodeJS.CallSite[] } = {};
  const limit = Error.stackTraceLimit;
  const prepare = Error.prepareStackTrace;
  Error.stackTraceLimit = 16;
  Error.prepareStackTrace = (_err, sites) => sites;
  Error.captureStackTrace(holder, recordStatement);
  const sites = holder.stack ?? [];
  Error.prepareStackTrace = prepare;
  Error.stackTraceLimit = limit;
  const frames: string[] = [];
  for (const site of sites) {
    const file = sourceFile(site);
    if (!file || file.startsWith('node:') || FACADE_FILES.test(file) || file.includes('node_modules')) continue;
    const fn = site.getFunctionName() ?? site.getMethodName();
    frames.push(fn ? `${repoRelative(file)} (${fn})` : repoRelative(file));
    if (frames.length === FRAMES_KEPT) break;
  }
  return frames;
}

/**
 * A frame's file; for the built server (packages/<name>/dist, which the test harness's server and CLI processes run)
 * the source file its build map names, so the check tells the facade, SQLite-only modules and the rest apart as it
 * does for the sources. The map is there when the process keeps source maps (node --enable-source-maps, as the
 * harness starts them); without it the generated file's name stays, which counts as production code.
 */
function sourceFile(site: NodeJS.CallSite): string | undefined {
  const file = site.getFileName() ?? undefined;
  if (!file || !/[\\/]dist[\\/]/.test(file)) return file;
  const entry = findSourceMap(file)?.findEntry((site.getLineNumber() ?? 1) - 1, (site.getColumnNumber() ?? 1) - 1);
  const source = entry && 'originalSource' in entry ? entry.originalSource : undefined;
  if (!source) return file;
  if (source.startsWith('file:')) return fileURLToPath(source);
  return resolve(dirname(file.startsWith('file:') ? fileURLToPath(file) : file), source);
}

const repoRelative = (file: string): string => {
  const path = file.replace(/^file:\/\//, '');
  const i = path.search(/[\\/](packages|test|bench)[\\/]/);
  return i === -1 ? path : path.slice(i + 1);
};

/** Notes a statement the facade is about to prepare; a no-op unless recording is on. */
export function recordStatement(sql: string): void {
  const dir = process.env[SQL_RECORD_DIR_ENV];
  if (!dir) return;
  seen ??= new Set();
  if (seen.has(sql)) return;
  seen.add(sql);
  const started = performance.now();
  const entry: RecordedStatement = { sql, at: callers() };
  try {
    fd ??= openSync(join(dir, `${process.pid}-${Date.now().toString(36)}.jsonl`), 'a');
    entry.us = Math.round((performance.now() - started) * 1000);
    writeSync(fd, `${JSON.stringify(entry)}\n`);
  } catch {
    // The folder went away (the run that made it is over): recording is a test aid, never a failure.
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
  }
}
