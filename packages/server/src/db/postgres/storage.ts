import { LicensorError } from '@licensor/shared';
import { misuseGuard } from '../misuse';
import {
  type Database,
  type Isolation,
  lockRowOutsideTransaction,
  type SqlParams,
  type Storage,
  type TransactionHandle,
  type TransactionOptions,
  transactionHandle,
} from '../storage';
import type { Row } from '../types';
import type { PgDb, PgTransaction } from './facade';

/**
 * The asynchronous storage (storage.ts) on PostgreSQL, over the facade's pool (facade.ts). Top-level statements
 * run on any pooled connection (each its own transaction); `transaction` runs fn on one connection; a
 * transaction handle's `transaction`/`batched` are savepoints; `batched` is a transaction of its own (PostgreSQL
 * coalesces the WAL flushes of concurrent commits itself, so there is no group commit to do).
 *
 * Transactions are SERIALIZABLE by default: the domain code was written for SQLite, where a transaction runs
 * alone (BEGIN IMMEDIATE, then the mutex of sqlite.ts), so a read that decides a write (seats left, an order
 * already delivered, a counter) relies on nothing changing in between. SERIALIZABLE gives the same outcome as
 * some serial order without auditing each such read for FOR UPDATE; the price is a retry when two transactions
 * collide, which the facade does (40001/40P01, random backoff) — fn must therefore touch only its `tx`. A
 * transaction that locks what it decides on (`lockRow`) may ask for READ COMMITTED instead (storage.ts, Isolation):
 * the activation of a device, whose same-license peers then queue on the license's row instead of rerunning.
 */
export interface PostgresDatabase extends Database {
  readonly dialect: 'postgres';
  /** The facade underneath, for PostgreSQL-only work (advisory locks, LISTEN, the shared rate-limit store). */
  readonly pg: PgDb;
}

export interface PostgresStorageOptions {
  /** The isolation of a transaction that asks for none. Default 'serializable' (see above). */
  isolation?: Isolation;
  /**
   * Reruns of fn after a serialization failure or deadlock. Default 20: 30 concurrent read-then-write increments
   * of one row on a pool of 8 needed up to 8 attempts each (storage.contract.test.ts, 2026-12-04), and running
   * out means a "retry later" answer for a request that would have succeeded.
   */
  retries?: number;
}

/** Carries an error fn threw through the facade's error conversion unchanged. */
class Passthrough extends LicensorError {
  constructor(readonly thrown: unknown) {
    super('INTERNAL', 'an error of the transaction function');
  }
}

export function postgresDatabase(pg: PgDb, opts: PostgresStorageOptions = {}): PostgresDatabase {
  const isolation = opts.isolation ?? 'serializable';
  const retries = opts.retries ?? 20;
  const guard = misuseGuard();

  /** The handle of a transaction or savepoint on its connection (db/storage.ts transactionHandle). */
  const handle = (tx: PgTransaction, level: Isolation): TransactionHandle =>
    transactionHandle(level, {
      dialect: 'postgres',
      all: <T = Row>(sql: string, params?: SqlParams) => tx.all<T>(sql, params),
      first: <T = Row>(sql: string, params?: SqlParams) => tx.first<T>(sql, params),
      run: (sql, params) => tx.run(sql, params),
      savepoint: (inner, fn) =>
        tx.savepoint(async (sp) => {
          const h = handle(sp, inner);
          try {
            return await fn(h);
          } finally {
            h.end();
          }
        }),
    });

  const transaction = async <T>(fn: (tx: Storage) => Promise<T>, o?: TransactionOptions): Promise<T> => {
    guard?.check();
    const level = o?.isolation ?? isolation;
    try {
      return await pg.transaction(
        async (tx) => {
          const h = handle(tx, level);
          try {
            return await (guard ? guard.inside(() => fn(h)) : fn(h));
          } catch (err) {
            // The facade turns whatever is not a LicensorError into INTERNAL; the caller gets its own error back,
            // as on SQLite. (Storage failures from tx calls are LicensorErrors already and keep their retry.)
            throw err instanceof LicensorError ? err : new Passthrough(err);
          } finally {
            h.end();
          }
        },
        { isolation: level, retries },
      );
    } catch (err) {
      throw err instanceof Passthrough ? err.thrown : err;
    }
  };

  return {
    dialect: 'postgres',
    pg,
    location: pg.url,
    all: async <T = Row>(sql: string, params?: SqlParams) => {
      guard?.check();
      return pg.all<T>(sql, params);
    },
    first: async <T = Row>(sql: string, params?: SqlParams) => {
      guard?.check();
      return pg.first<T>(sql, params);
    },
    run: async (sql, params) => {
      guard?.check();
      return pg.run(sql, params);
    },
    transaction,
    batched: transaction,
    lockRow: lockRowOutsideTransaction,
    exec: async (sql) => {
      guard?.check();
      await pg.exec(sql);
    },
    ping: () => pg.ping(),
    close: () => pg.close(),
  };
}
