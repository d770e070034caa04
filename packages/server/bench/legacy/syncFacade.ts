/**
 * The synchronous SQLite facade the server used before the asynchronous storage (issue 16), kept only as the
 * baseline of async-storage-bench.ts: the server itself no longer has it. Same code as it was, minus the SQL
 * recorder and the file-mode helpers (db/files.ts).
 */
import { dirname } from 'node:path';
import { LicensorError } from '@licensor/shared';
import BetterSqlite3 from 'better-sqlite3';
import { makePrivateDir, makePrivateFile, tightenCompanions } from '../../src/db/files';
import { migrate } from '../../src/db/migrations';
import { GroupCommit } from './groupCommit';
import type { Db, Params } from './types';

export type { Db, Params, Row } from './types';

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
