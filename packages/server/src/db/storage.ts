import type { Row } from './types';

// The asynchronous storage interface every feature uses, on SQLite and PostgreSQL alike (issue 16,
// docs/design/async-storage.md). Whether code runs inside a transaction is visible in its signature: a domain
// function takes the handle it must use (`db: Storage`), and a transaction hands its callback a handle bound
// to that transaction. Code inside a transaction must use only that handle: on SQLite the top-level handle
// waits for the transaction to end (a deadlock), on PostgreSQL it is another connection (not atomic).

/** Positional `?` parameters (PostgreSQL's `$n` are produced by the facade). */
export type SqlParams = readonly unknown[];

/** What a statement needs, inside a transaction or not. */
export interface Queryable {
  all<T = Row>(sql: string, params?: SqlParams): Promise<T[]>;
  first<T = Row>(sql: string, params?: SqlParams): Promise<T | undefined>;
  run(sql: string, params?: SqlParams): Promise<{ changes: number }>;
}

export interface Storage extends Queryable {
  readonly dialect: 'sqlite' | 'postgres';
  /**
   * Runs fn in a write transaction and commits; rolls back and rethrows on failure. On a transaction's handle
   * it is a savepoint (a failure rolls back only fn's writes). On PostgreSQL a serialization failure or a
   * deadlock reruns fn, so fn may only touch the database through `tx` (no HTTP calls, no timers, no other
   * effects).
   */
  transaction<T>(fn: (tx: Storage) => Promise<T>): Promise<T>;
  /**
   * The write of one request, resolved only once it is durable. SQLite: group commit (sqlite.ts) — the
   * writes of concurrent requests share one transaction (each in its own savepoint) and one WAL sync.
   * PostgreSQL: a transaction of its own. On a transaction's handle: a savepoint of that transaction.
   */
  batched<T>(fn: (tx: Storage) => Promise<T>): Promise<T>;
}

/** The process's database: a Storage plus what only its owner does (DDL, health, shutdown). */
export interface Database extends Storage {
  /** Several statements without parameters (DDL, maintenance). */
  exec(sql: string): Promise<void>;
  /** Throws STORAGE_UNAVAILABLE unless the database answers. */
  ping(): Promise<void>;
  /** For logs and status output: the SQLite file, or the PostgreSQL URL without its password. */
  readonly location: string;
  close(): Promise<void>;
}

/**
 * The context `ctx` with its storage handle replaced by a transaction's: `ctx.db.transaction(async (tx) =>
 * f(inTx(ctx, tx)))` runs everything f does through ctx inside the transaction.
 */
export function inTx<C extends { db: Storage }>(ctx: C, tx: Storage): C {
  return { ...ctx, db: tx };
}
