import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Opt-in record of the distinct SQL statements the SQLite facade prepares, for the portability check that
 * PREPAREs each of them on PostgreSQL after the test suite (db/portability/). Off unless
 * LICENSOR_SQL_RECORD_DIR names a folder; the test setup sets it, production never does.
 *
 * Cheap by construction: the facade calls `recordStatement` only when a statement misses its prepared-statement
 * cache, the Set makes each text count once per process, and a new text costs one stack capture (where it came
 * from) and one write. Each line is written as it is seen rather than at exit, so a server process the crash
 * tests SIGKILL still leaves its statements behind.
 */
export const SQL_RECORD_DIR_ENV = 'LICENSOR_SQL_RECORD_DIR';

export interface RecordedStatement {
  sql: string;
  /** The first frames outside the facade, innermost first: "packages/server/src/jobs/daily.ts:92". */
  at: string[];
  /** Microseconds this record cost (stack capture and write), so a run can report what recording cost it. */
  us?: number;
}

const FACADE_FILES = /[\\/]db[\\/](database|sqlRecorder|groupCommit)\.[cm]?[jt]s\b/;
const FRAMES_KEPT = 3;

let seen: Set<string> | undefined;
let fd: number | undefined;

function callers(): string[] {
  const holder: { stack?: string } = {};
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 16;
  Error.captureStackTrace(holder, recordStatement);
  Error.stackTraceLimit = limit;
  const frames: string[] = [];
  for (const line of (holder.stack ?? '').split('\n').slice(1)) {
    // "    at fn (file:///…/x.ts:12:5)" or "    at /…/x.ts:12:5"
    const m = /\(?((?:file:\/\/)?[^\s()]+?):(\d+):\d+\)?$/.exec(line.trim());
    if (!m || m[1]!.startsWith('node:') || FACADE_FILES.test(m[1]!) || m[1]!.includes('node_modules')) continue;
    frames.push(`${repoRelative(m[1]!)}:${m[2]}`);
    if (frames.length === FRAMES_KEPT) break;
  }
  return frames;
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
