import type BetterSqlite3 from 'better-sqlite3';

// The synchronous facade's types, as the server had them before issue 16's conversion (bench baseline only).

export type Row = Record<string, unknown>;
export type Params = readonly unknown[] | Record<string, unknown>;

/**
 * The storage facade every feature uses: a handful of calls over cached prepared statements. SQLite runs
 * in WAL mode with synchronous=FULL, so a committed transaction is on disk before the call returns — the
 * production interface answers `000000` only after that. The facade is synchronous (better-sqlite3), so a
 * transaction cannot interleave with another request in this process; unique constraints make duplicates
 * collapse across processes too.
 */
export interface Db {
  all<T = Row>(sql: string, params?: Params): T[];
  first<T = Row>(sql: string, params?: Params): T | undefined;
  run(sql: string, params?: Params): { changes: number; lastInsertRowid: number | bigint };
  /** Runs fn in a write transaction (BEGIN IMMEDIATE); nested calls become savepoints. */
  transaction<T>(fn: () => T): T;
  /**
   * Group commit (see groupCommit.ts): runs fn in a transaction shared with every other `batched` call of
   * the same event-loop turn (each in its own savepoint, so one failure rolls back only its own writes) and
   * resolves once the batch is on disk. Many concurrent requests then share one WAL sync, which runs off the
   * event loop.
   */
  batched<T>(fn: () => T): Promise<T>;
  exec(sql: string): void;
  backup(destination: string, onProgress?: (done: number, total: number) => void): Promise<void>;
  integrityCheck(): string[];
  close(): void;
  readonly path: string;
  readonly raw: BetterSqlite3.Database;
}
