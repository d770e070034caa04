import { LicensorError } from '@licensor/shared';
import { Mutex } from './mutex';
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

/**
 * How much a transaction sees of concurrent ones (PostgreSQL; SQLite runs its transactions one at a time, which is
 * at least as strong as either).
 * - 'serializable', the default: the outcome of some serial order. The domain code was written for SQLite, where a
 *   read that decides a write (seats left, an order already delivered, a counter) relies on nothing changing in
 *   between; SERIALIZABLE keeps that without auditing each such read, at the price of reruns when transactions
 *   collide.
 * - 'read committed': each statement sees what was committed before it started. Only for a transaction whose every
 *   read that decides a write is either of a row it locked first (`lockRow`), or guarded by a unique constraint
 *   whose violation is an answer (a replayed nonce) or a rerun (the seat slot index, postgres/errors.ts). Transactions
 *   that must queue (the activations of one license) then wait for the lock instead of failing and rerunning.
 */
export type Isolation = 'serializable' | 'read committed';

export interface TransactionOptions {
  /**
   * Unset: 'serializable' for a transaction, the enclosing transaction's for a savepoint. A savepoint cannot be
   * stronger than its transaction: asking for 'serializable' inside a 'read committed' one throws STORAGE_MISUSE
   * (on both backends, so a test on SQLite catches what PostgreSQL would not honour).
   */
  isolation?: Isolation;
}

export interface Storage extends Queryable {
  readonly dialect: 'sqlite' | 'postgres';
  /**
   * Runs fn in a write transaction and commits; rolls back and rethrows on failure. On a transaction's handle
   * it is a savepoint (a failure rolls back only fn's writes). On PostgreSQL a serialization failure or a
   * deadlock reruns fn, so fn may only touch the database through `tx` (no HTTP calls, no timers, no other
   * effects).
   */
  transaction<T>(fn: (tx: Storage) => Promise<T>, opts?: TransactionOptions): Promise<T>;
  /**
   * The write of one request, resolved only once it is durable. SQLite: group commit (sqlite.ts) — the
   * writes of concurrent requests share one transaction (each in its own savepoint) and one WAL sync.
   * PostgreSQL: a transaction of its own. On a transaction's handle: a savepoint of that transaction.
   */
  batched<T>(fn: (tx: Storage) => Promise<T>, opts?: TransactionOptions): Promise<T>;
  /**
   * Reads the row of `table` whose `keyColumn` is `key` (undefined if none) and holds it until the transaction
   * ends: another transaction's lockRow or write of that row waits until then, and this transaction's later
   * statements see everything committed before the lock was granted (at 'read committed'). On PostgreSQL it is an
   * UPDATE that rewrites the row unchanged (`SET key = key … RETURNING *`), not a `SELECT … FOR UPDATE`: a
   * SERIALIZABLE transaction that read the row before and writes it after then fails and reruns (a concurrent
   * update), where a lock alone would let it write from its older view. On SQLite a plain read: the writer lock,
   * held since BEGIN IMMEDIATE, already excludes everyone else. Only on a transaction's handle (STORAGE_MISUSE on
   * the top-level storage, where the lock would end with the statement). `table` and `keyColumn` are identifiers
   * written in the code, never input.
   */
  lockRow<T = Row>(table: string, keyColumn: string, key: unknown): Promise<T | undefined>;
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

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/** The statement of lockRow on each backend (see Storage.lockRow). */
function lockRowSql(dialect: Storage['dialect'], table: string, keyColumn: string): string {
  if (!IDENTIFIER.test(table) || !IDENTIFIER.test(keyColumn)) {
    throw new LicensorError('STORAGE_MISUSE', `lockRow takes plain identifiers, not ${table}.${keyColumn}`);
  }
  return dialect === 'postgres'
    ? `UPDATE ${table} SET ${keyColumn} = ${keyColumn} WHERE ${keyColumn} = ? RETURNING *`
    : `SELECT * FROM ${table} WHERE ${keyColumn} = ?`;
}

/** lockRow on a top-level storage: always refused (the lock would end with the statement). */
export const lockRowOutsideTransaction = (): Promise<never> =>
  Promise.reject(
    new LicensorError('STORAGE_MISUSE', 'lockRow outside a transaction: call it on the transaction handle (tx)'),
  );

/**
 * The isolation a savepoint runs at: its transaction's, which `requested` may not exceed (see TransactionOptions).
 */
function savepointIsolation(enclosing: Isolation, requested: Isolation | undefined): Isolation {
  if (requested === 'serializable' && enclosing === 'read committed') {
    throw new LicensorError(
      'STORAGE_MISUSE',
      "a savepoint asked for 'serializable' inside a 'read committed' transaction, which cannot give it",
    );
  }
  return enclosing;
}

/** What a backend gives a transaction handle: its statements on the transaction's connection, and its savepoints. */
export interface HandleBackend extends Queryable {
  readonly dialect: Storage['dialect'];
  /** Runs fn in a new savepoint at `isolation`, handing it the savepoint's own handle (made with transactionHandle). */
  savepoint<T>(isolation: Isolation, fn: (tx: Storage) => Promise<T>): Promise<T>;
}

/** A transaction's (or savepoint's) handle and the call that retires it when its transaction ends. */
export interface TransactionHandle extends Storage {
  end(): void;
}

/**
 * The handle of a transaction or savepoint, the same on both backends. Its own savepoints run one at a time
 * (SAVEPOINT/RELEASE nest as a stack, so two concurrent `tx.transaction` calls must not interleave). After end() it
 * refuses every call: a forgotten promise would otherwise write outside the transaction (SQLite: outside the writer
 * mutex; PostgreSQL: on a connection back in the pool).
 */
export function transactionHandle(level: Isolation, backend: HandleBackend): TransactionHandle {
  let active = true;
  const children = new Mutex();
  const live = () => {
    if (!active) {
      throw new LicensorError('STORAGE_MISUSE', 'a transaction handle (tx) used after its transaction ended');
    }
  };
  const savepoint = async <T>(fn: (tx: Storage) => Promise<T>, o?: TransactionOptions): Promise<T> => {
    live();
    const inner = savepointIsolation(level, o?.isolation);
    const wait = children.lock();
    if (wait) await wait;
    try {
      return await backend.savepoint(inner, fn);
    } finally {
      children.unlock();
    }
  };
  return {
    dialect: backend.dialect,
    all: async <T = Row>(sql: string, params?: SqlParams) => {
      live();
      return backend.all<T>(sql, params);
    },
    first: async <T = Row>(sql: string, params?: SqlParams) => {
      live();
      return backend.first<T>(sql, params);
    },
    run: async (sql, params) => {
      live();
      return backend.run(sql, params);
    },
    lockRow: async <T = Row>(table: string, keyColumn: string, key: unknown) => {
      live();
      return backend.first<T>(lockRowSql(backend.dialect, table, keyColumn), [key]);
    },
    transaction: savepoint,
    // Inside a transaction its commit decides durability: a savepoint is all a batched write needs.
    batched: savepoint,
    end: () => {
      active = false;
    },
  };
}
