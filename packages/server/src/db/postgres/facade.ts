import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { redactDatabaseUrl } from '../backend';
import type { Row } from '../types';
import { isRetryableTransactionError, toStorageError } from './errors';
import { type PostgresSettings, poolConfig, postgresSettings } from './settings';
import { toPgPlaceholders } from './sql';

/**
 * The asynchronous PostgreSQL facade: the same four verbs as the SQLite facade (all/first/run/exec) plus
 * transactions, over a `pg` connection pool. Domain SQL keeps SQLite's `?` placeholders (rewritten in sql.ts);
 * every failure leaves as a LicensorError (errors.ts).
 */
export interface PgQueryable {
  all<T = Row>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  first<T = Row>(sql: string, params?: readonly unknown[]): Promise<T | undefined>;
  run(sql: string, params?: readonly unknown[]): Promise<{ changes: number }>;
  /** Several statements, no parameters (simple query protocol): migrations and DDL. */
  exec(sql: string): Promise<void>;
}

export interface PgTransaction extends PgQueryable {
  /** Runs fn inside a savepoint: a failure rolls back only fn's writes and rethrows. */
  savepoint<T>(fn: (tx: PgTransaction) => Promise<T>): Promise<T>;
}

export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable';

export interface TransactionOptions {
  isolation?: IsolationLevel;
  /** Attempts after a serialization failure or deadlock (default 5); fn must only touch the database. */
  retries?: number;
  readOnly?: boolean;
}

export interface PgDb extends PgQueryable {
  /** The URL without its password. */
  readonly url: string;
  /**
   * Runs fn in a transaction on one pooled connection and commits; rolls back and rethrows on failure. On a
   * serialization failure or deadlock the whole fn runs again (with a short random backoff), so fn must not
   * have effects outside the database.
   */
  transaction<T>(fn: (tx: PgTransaction) => Promise<T>, opts?: TransactionOptions): Promise<T>;
  /** One connection for session-scoped work (advisory locks, cursors); released (or destroyed on error) after. */
  withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T>;
  /**
   * A connection of its own, outside the pool, with the pool's settings: for a session that lives as long as
   * the process (LISTEN), which would otherwise hold a pooled connection forever. The caller ends it.
   */
  connectDedicated(): Promise<pg.Client>;
  /** Throws STORAGE_UNAVAILABLE unless the server answers. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface OpenPostgresOptions {
  settings?: PostgresSettings;
  /** Errors of idle pooled connections (a server restart): logged, never a crash of the process. */
  onIdleError?: (err: Error) => void;
}

// bigint columns hold epoch milliseconds, row ids and counts: numbers below 2^53, so JavaScript numbers like
// the SQLite facade returns. A larger value (never written by Licensor) stays a string rather than losing digits.
const parseInt8 = (text: string): number | string => {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : text;
};
const INT8_OID = 20;
const NUMERIC_OID = 1700; // SUM(bigint) and AVG are numeric
const types = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === INT8_OID) return parseInt8;
    if (oid === NUMERIC_OID) return (text: string) => Number(text);
    return pg.types.getTypeParser(oid, format as 'text');
  }) as typeof pg.types.getTypeParser,
};

function queryable(q: (sql: string, params?: readonly unknown[]) => Promise<pg.QueryResult>): PgQueryable {
  const query = async (sql: string, params?: readonly unknown[]) => {
    try {
      return await q(toPgPlaceholders(sql), params);
    } catch (err) {
      throw toStorageError(err);
    }
  };
  return {
    all: async <T>(sql: string, params?: readonly unknown[]) => (await query(sql, params)).rows as T[],
    first: async <T>(sql: string, params?: readonly unknown[]) => (await query(sql, params)).rows[0] as T | undefined,
    run: async (sql, params) => ({ changes: (await query(sql, params)).rowCount ?? 0 }),
    exec: async (sql) => {
      try {
        await q(sql);
      } catch (err) {
        throw toStorageError(err);
      }
    },
  };
}

function transactionOn(client: pg.PoolClient, depth = 0): PgTransaction {
  const base = queryable((sql, params) => client.query(sql, params as unknown[] | undefined));
  return {
    ...base,
    savepoint: async (fn) => {
      const name = `sp_${depth + 1}`;
      await base.exec(`SAVEPOINT ${name}`);
      try {
        const result = await fn(transactionOn(client, depth + 1));
        await base.exec(`RELEASE SAVEPOINT ${name}`);
        return result;
      } catch (err) {
        await base.exec(`ROLLBACK TO SAVEPOINT ${name}`);
        throw err;
      }
    },
  };
}

export function openPostgres(url: string, opts: OpenPostgresOptions = {}): PgDb {
  const settings = opts.settings ?? postgresSettings();
  const config = { ...poolConfig(url, settings), types };
  const pool = new pg.Pool(config);
  // Without a listener an idle connection's error (PostgreSQL restarted) would be an unhandled 'error' event.
  pool.on('error', (err) => opts.onIdleError?.(err));

  const connect = async (): Promise<pg.PoolClient> => {
    try {
      return await pool.connect();
    } catch (err) {
      throw toStorageError(err, 'Connecting to PostgreSQL');
    }
  };

  const withClient = async <T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
    const client = await connect();
    let broken: Error | undefined;
    try {
      return await fn(client);
    } catch (err) {
      // A connection whose session state is unknown (lost mid-query, aborted transaction) is not reused.
      broken = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      client.release(broken);
    }
  };

  const attempt = async <T>(fn: (tx: PgTransaction) => Promise<T>, o: TransactionOptions): Promise<T> =>
    withClient(async (client) => {
      const mode = `ISOLATION LEVEL ${(o.isolation ?? 'read committed').toUpperCase()}${o.readOnly ? ' READ ONLY' : ''}`;
      try {
        await client.query(`BEGIN ${mode}`);
      } catch (err) {
        throw toStorageError(err, 'Starting a transaction');
      }
      try {
        const result = await fn(transactionOn(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });

  return {
    url: redactDatabaseUrl(url),
    ...queryable((sql, params) => pool.query(sql, params as unknown[] | undefined)),
    transaction: async (fn, o = {}) => {
      const retries = o.retries ?? 5;
      for (let n = 0; ; n++) {
        try {
          return await attempt(fn, o);
        } catch (err) {
          const cause = (err as { cause?: unknown }).cause ?? err;
          if (!isRetryableTransactionError(cause) || n >= retries) throw toStorageError(err, 'Transaction');
          // Two instances that collided would collide again in lock step without a random pause.
          await sleep(Math.floor(Math.random() * 20 * (n + 1)) + 1);
        }
      }
    },
    withClient,
    connectDedicated: async () => {
      const client = new pg.Client(config);
      try {
        await client.connect();
      } catch (err) {
        await client.end().catch(() => undefined);
        throw toStorageError(err, 'Connecting to PostgreSQL');
      }
      return client;
    },
    ping: async () => {
      try {
        await pool.query('SELECT 1');
      } catch (err) {
        throw toStorageError(err, 'Reaching PostgreSQL');
      }
    },
    close: () => pool.end(),
  };
}

/**
 * undefined when the PostgreSQL server at `url` answers, else why not (the error's message): the question the tests
 * and the benchmarks ask before creating their throwaway databases. One connection, closed before it returns.
 */
export async function postgresUnreachable(url: string, settings: PostgresSettings): Promise<string | undefined> {
  const db = openPostgres(url, { settings: { ...settings, poolSize: 1 } });
  try {
    await db.ping();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await db.close();
  }
}
