import { dirname } from 'node:path';
import { LicensorError } from '@licensor/shared';
import BetterSqlite3 from 'better-sqlite3';
import { DurableBarrier } from './durableBarrier';
import { makePrivateDir, makePrivateFile, tightenCompanions } from './files';
import { type MigrationTarget, migrate } from './migrations';
import { misuseGuard } from './misuse';
import { Mutex } from './mutex';
import { recordStatement } from './sqlRecorder';
import {
  type Database,
  type Isolation,
  lockRowOutsideTransaction,
  type SqlParams,
  type Storage,
  type TransactionHandle,
  type TransactionOptions,
  transactionHandle,
} from './storage';
import type { Row } from './types';

/**
 * The asynchronous storage (storage.ts) on SQLite (issue 16, docs/design/async-storage.md).
 *
 * better-sqlite3 stays the driver: every statement runs synchronously and its promise is already settled. The
 * write connection is shared by the whole process, so a transaction whose function awaits must own it from BEGIN
 * to COMMIT, or another request's statements would run inside it: a mutex (FIFO, handed from holder to holder) is
 * held for that stretch. A transaction's handle runs its statements directly; a statement on the top-level
 * handle is a transaction of its own and waits for the mutex. Reads on the top-level handle go to a second,
 * read-only connection instead: WAL readers see committed data only and never wait for the writer, so lists and
 * lookups do not queue behind writes. (In-memory and read-only databases have one connection.)
 *
 * `batched` is the group commit of the former synchronous facade (groupCommit.ts) with asynchronous functions: the calls of one event-loop turn
 * run one after another under the mutex, each in its own savepoint, inside one transaction committed with
 * synchronous=NORMAL; the callers are answered after an fdatasync of the WAL off the event loop
 * (durableBarrier.ts), so an answer still means "on disk", exactly as a synchronous=FULL commit.
 *
 * A transaction function may await only its handle (no HTTP calls, no timers): every request waits for the
 * mutex meanwhile.
 */
export interface SqliteDatabase extends Database {
  readonly dialect: 'sqlite';
  /** The database file (':memory:' for an in-memory database). */
  readonly path: string;
  /** The write connection: for db/ internals, copies and migrations only, never for domain code. */
  readonly raw: BetterSqlite3.Database;
  /** An online copy to `destination`, private (0600) from its first byte. */
  backup(destination: string, onProgress?: (done: number, total: number) => void): Promise<void>;
  /** PRAGMA integrity_check's lines: ['ok'] for a sound file. */
  integrityCheck(): Promise<string[]>;
  /** Group commit counters, for tests and the benchmark. */
  readonly stats: GroupCommitStats;
}

export interface GroupCommitStats {
  /** Batches applied, syncs run, batched writes, fallback syncs. */
  batches: number;
  barriers: number;
  writes: number;
  fallbacks: number;
}

export interface OpenSqliteOptions {
  readonly?: boolean;
  /** Bring the schema current (default); false for tools that inspect or copy a file as it is. */
  migrate?: boolean;
  /**
   * Told about a transaction or batch that held the write connection longer than `slowHoldMs` (default 50):
   * every request waits for it meanwhile, so a function that awaits something other than its `tx` shows here.
   */
  onSlowHold?: (hold: SlowHold) => void;
  slowHoldMs?: number;
}

export interface SlowHold {
  what: 'transaction' | 'batch';
  ms: number;
  /** The transaction function's name, or the number of writes in the batch. */
  detail: string;
}

const STORAGE_FAILURE = /^SQLITE_(FULL|READONLY|IOERR|BUSY|LOCKED|CANTOPEN|NOTADB|CORRUPT)/;

/**
 * What better-sqlite3 throws, as the project's one error type, with the same codes as the PostgreSQL facade
 * (postgres/errors.ts): a unique key → CONFLICT, another constraint → INVALID_INPUT, the disk or file → STORAGE_UNAVAILABLE,
 * anything else (a bad statement) → INTERNAL. SQLite's messages name tables and columns, never values.
 */
export function toSqliteStorageError(err: unknown, what = 'Database operation'): LicensorError {
  if (err instanceof LicensorError) return err;
  const code = String((err as { code?: unknown } | undefined)?.code ?? '');
  const message = (err as Error | undefined)?.message ?? String(err);
  const where = { sqliteCode: code || undefined };
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    return new LicensorError('CONFLICT', `${what}: duplicate key (${message})`, where, { cause: err });
  }
  if (code.startsWith('SQLITE_CONSTRAINT')) {
    return new LicensorError('INVALID_INPUT', `${what}: a constraint refused the change (${message})`, where, {
      cause: err,
    });
  }
  if (STORAGE_FAILURE.test(code)) {
    return new LicensorError(
      'STORAGE_UNAVAILABLE',
      `${what}: the database file cannot be written or read (${code}); retry shortly`,
      where,
      { cause: err },
    );
  }
  return new LicensorError('INTERNAL', `${what} failed (${code || 'driver error'}): ${message}`, where, {
    cause: err,
  });
}

/** The synchronous calls migrations need, on a raw connection (the asynchronous facade migrates before serving). */
export function migrationTarget(raw: BetterSqlite3.Database): MigrationTarget {
  return {
    exec: (sql) => {
      raw.exec(sql);
    },
    first: <T>(sql: string, params?: readonly unknown[] | Record<string, unknown>) =>
      raw.prepare(sql).get(...bindAny(params)) as T | undefined,
    run: (sql, params) => {
      const r = raw.prepare(sql).run(...bindAny(params));
      return { changes: r.changes, lastInsertRowid: r.lastInsertRowid };
    },
    transaction: <T>(fn: () => T): T => raw.transaction(fn).immediate() as T,
  };
}

const bindAny = (params: readonly unknown[] | Record<string, unknown> | undefined): unknown[] =>
  params === undefined ? [] : Array.isArray(params) ? (params as unknown[]) : [params];

interface Cached {
  stmt: BetterSqlite3.Statement;
  /** The same text on the read connection, for a statement that writes nothing (prepared on first read). */
  read: BetterSqlite3.Statement | undefined;
}

interface Queued {
  fn: (tx: Storage) => Promise<unknown>;
  isolation: Isolation;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export function openSqliteDatabase(path: string, opts: OpenSqliteOptions = {}): SqliteDatabase {
  const onDisk = path !== ':memory:' && path !== '';
  const readonly = opts.readonly ?? false;
  if (onDisk && !readonly) {
    makePrivateDir(dirname(path));
    makePrivateFile(path);
    tightenCompanions(path);
  }
  const open = (ro: boolean): BetterSqlite3.Database => {
    try {
      return new BetterSqlite3(path, { readonly: ro });
    } catch (err) {
      throw new LicensorError(
        'STORAGE_UNAVAILABLE',
        `Cannot open database ${path}: ${(err as Error).message}`,
        undefined,
        { cause: err },
      );
    }
  };
  const raw = open(readonly);
  let reader: BetterSqlite3.Database | undefined;
  try {
    raw.pragma('journal_mode = WAL');
    raw.pragma('synchronous = FULL');
    raw.pragma('foreign_keys = ON');
    raw.pragma('busy_timeout = 5000');
    // wal_autocheckpoint stays at SQLite's 1000 pages: 4000 made the production mix's COMMITs cheaper but each
    // checkpoint (inside a COMMIT, on the event loop) longer, and p99 at 300k–1M stored activations rose from
    // 30–36 to 47–63 ms (bench/results/report.md, "production-mix").
    if (opts.migrate !== false && !readonly) migrate(migrationTarget(raw));
    // Opened after the migrations, so the file exists and is in WAL mode.
    if (onDisk && !readonly) {
      reader = open(true);
      reader.pragma('busy_timeout = 5000');
    }
  } catch (err) {
    // A migration that failed (or a file that is no database) leaves no open connection behind.
    raw.close();
    throw err;
  }

  const cache = new Map<string, Cached>();
  const cached = (sql: string): Cached => {
    let c = cache.get(sql);
    if (!c) {
      let stmt: BetterSqlite3.Statement;
      try {
        stmt = raw.prepare(sql);
      } catch (err) {
        throw toSqliteStorageError(err);
      }
      recordStatement(sql);
      c = { stmt, read: undefined };
      cache.set(sql, c);
    }
    return c;
  };
  /** The read connection's statement for `c`, or undefined when it must run on the writer. */
  const readStatement = (c: Cached): BetterSqlite3.Statement | undefined => {
    if (!reader || !c.stmt.readonly) return undefined;
    if (!c.read) {
      try {
        c.read = reader.prepare(c.stmt.source);
      } catch (err) {
        throw toSqliteStorageError(err);
      }
    }
    return c.read;
  };
  // Transaction control as prepared statements (better-sqlite3 does the same): no parse per transaction.
  const control = new Map<string, BetterSqlite3.Statement>();
  const ctl = (sql: string): void => {
    let stmt = control.get(sql);
    if (!stmt) {
      stmt = raw.prepare(sql);
      control.set(sql, stmt);
    }
    stmt.run();
  };

  const all = <T>(stmt: BetterSqlite3.Statement, params: SqlParams | undefined): T[] => {
    try {
      return stmt.all(...(params ?? [])) as T[];
    } catch (err) {
      throw toSqliteStorageError(err);
    }
  };
  const first = <T>(stmt: BetterSqlite3.Statement, params: SqlParams | undefined): T | undefined => {
    try {
      return stmt.get(...(params ?? [])) as T | undefined;
    } catch (err) {
      throw toSqliteStorageError(err);
    }
  };
  const run = (stmt: BetterSqlite3.Statement, params: SqlParams | undefined): { changes: number } => {
    try {
      return { changes: stmt.run(...(params ?? [])).changes };
    } catch (err) {
      throw toSqliteStorageError(err);
    }
  };

  const mutex = new Mutex();
  const guard = misuseGuard();
  const inside = <T>(fn: () => Promise<T>): Promise<T> => (guard ? guard.inside(fn) : fn());

  /** Runs fn holding the mutex: a statement of the top-level handle, DDL, the barrier's fallback commit. */
  const locked = async <T>(fn: () => T): Promise<T> => {
    const wait = mutex.lock();
    if (wait) await wait;
    try {
      return fn();
    } finally {
      mutex.unlock();
    }
  };

  /** Rolls back to a savepoint and drops it; nothing to do when SQLite already ended the whole transaction. */
  const rollbackTo = (name: string): void => {
    if (raw.inTransaction) {
      ctl(`ROLLBACK TO ${name}`);
      ctl(`RELEASE ${name}`);
    }
  };

  /**
   * The handle of a transaction (depth 0) or of a savepoint inside one (db/storage.ts transactionHandle). Its
   * statements run directly: the mutex is already held.
   */
  const handle = (depth: number, isolation: Isolation): TransactionHandle =>
    transactionHandle(isolation, {
      dialect: 'sqlite',
      all: async <T = Row>(sql: string, params?: SqlParams) => all<T>(cached(sql).stmt, params),
      first: async <T = Row>(sql: string, params?: SqlParams) => first<T>(cached(sql).stmt, params),
      run: async (sql, params) => run(cached(sql).stmt, params),
      savepoint: async (inner, fn) => {
        const name = `licensor_sp${depth + 1}`;
        const tx = handle(depth + 1, inner);
        try {
          ctl(`SAVEPOINT ${name}`);
          try {
            const result = await fn(tx);
            ctl(`RELEASE ${name}`);
            return result;
          } catch (err) {
            rollbackTo(name);
            throw err;
          }
        } finally {
          tx.end();
        }
      },
    });

  const slowMs = opts.slowHoldMs ?? 50;
  const noteHold = (what: SlowHold['what'], since: number, detail: () => string) => {
    const ms = performance.now() - since;
    if (ms > slowMs && opts.onSlowHold) opts.onSlowHold({ what, ms: Math.round(ms), detail: detail() });
  };

  const transaction = async <T>(fn: (tx: Storage) => Promise<T>, o?: TransactionOptions): Promise<T> => {
    guard?.check();
    const wait = mutex.lock();
    if (wait) await wait;
    const since = performance.now();
    try {
      try {
        ctl('BEGIN IMMEDIATE');
      } catch (err) {
        throw toSqliteStorageError(err, 'Starting a transaction');
      }
      const tx = handle(0, o?.isolation ?? 'serializable');
      let result: T;
      try {
        result = await inside(() => fn(tx));
      } catch (err) {
        if (raw.inTransaction) ctl('ROLLBACK');
        throw err;
      } finally {
        tx.end();
      }
      try {
        ctl('COMMIT');
      } catch (err) {
        if (raw.inTransaction) ctl('ROLLBACK');
        throw toSqliteStorageError(err, 'Committing a transaction');
      }
      return result;
    } finally {
      noteHold('transaction', since, () => fn.name || 'anonymous');
      mutex.unlock();
    }
  };

  // ---- group commit ----
  const stats: GroupCommitStats = { batches: 0, barriers: 0, writes: 0, fallbacks: 0 };
  /** The connection's own setting (2 = FULL, 3 = EXTRA), restored after each batch. */
  const mode = Number(raw.pragma('synchronous', { simple: true }));
  /** Whether commits are deferred to a barrier (in memory, or below FULL, nothing waits for the disk anyway). */
  const deferring = onDisk && !readonly && mode >= 2;
  const barrier = new DurableBarrier(
    onDisk ? `${path}-wal` : undefined,
    () => raw.open,
    // A FULL-mode commit syncs the journal, and with it every frame appended before it.
    () =>
      locked(() => {
        ctl('BEGIN IMMEDIATE');
        try {
          run(
            cached('INSERT INTO commit_marks (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at')
              .stmt,
            [Date.now()],
          );
          ctl('COMMIT');
        } catch (err) {
          if (raw.inTransaction) ctl('ROLLBACK');
          throw err;
        }
      }),
    stats,
  );
  let queue: Queued[] = [];

  /** Applies the queued writes in one transaction under the mutex, then answers them after the barrier. */
  const flush = async (): Promise<void> => {
    const batch = queue;
    queue = [];
    if (batch.length === 0) return;
    const wait = mutex.lock();
    if (wait) await wait;
    const since = performance.now();
    stats.batches++;
    const done: { item: Queued; value: unknown }[] = [];
    const failed = new Set<Queued>();
    try {
      // Not a cached statement: SQLite applies this pragma when it compiles it, not when it runs. Nothing else
      // uses the connection while it is in NORMAL mode: everybody else waits for the mutex.
      raw.exec('PRAGMA synchronous = NORMAL');
      try {
        ctl('BEGIN IMMEDIATE');
        try {
          for (const item of batch) {
            const tx = handle(1, item.isolation);
            ctl('SAVEPOINT licensor_batch');
            try {
              const value = await inside(() => item.fn(tx));
              ctl('RELEASE licensor_batch');
              done.push({ item, value });
            } catch (err) {
              rollbackTo('licensor_batch'); // nothing of this write stays; the others go on
              failed.add(item);
              item.reject(err);
              // Some failures (SQLITE_FULL, IOERR, NOMEM) roll back the whole transaction, not only the savepoint:
              // the writes released before are gone too, and the next SAVEPOINT would start an autocommit
              // transaction of its own. Stop: the batch fails as a whole (below), nothing of it is written.
              if (!raw.inTransaction) throw err;
            } finally {
              tx.end();
            }
          }
          ctl('COMMIT');
        } catch (err) {
          if (raw.inTransaction) ctl('ROLLBACK');
          throw err;
        }
      } finally {
        raw.exec(`PRAGMA synchronous = ${mode}`);
      }
    } catch (err) {
      // BEGIN or COMMIT failed (read-only or full disk…): nothing of the batch was written.
      const failure = toSqliteStorageError(err, 'Writing a batch');
      for (const item of batch) if (!failed.has(item)) item.reject(failure);
      return;
    } finally {
      noteHold('batch', since, () => `${batch.length} writes`);
      mutex.unlock();
    }
    if (done.length === 0) return;
    barrier.wait().then(
      () => {
        for (const { item, value } of done) item.resolve(value);
      },
      (err: unknown) => {
        for (const { item } of done) item.reject(err);
      },
    );
  };

  const batched = <T>(fn: (tx: Storage) => Promise<T>, o?: TransactionOptions): Promise<T> => {
    try {
      guard?.check();
    } catch (err) {
      return Promise.reject(err);
    }
    stats.writes++;
    if (!deferring) return transaction(fn, o);
    return new Promise<T>((resolve, reject) => {
      queue.push({
        fn,
        isolation: o?.isolation ?? 'serializable',
        resolve: resolve as (value: unknown) => void,
        reject,
      });
      if (queue.length === 1) setImmediate(() => void flush());
    });
  };

  /** A top-level read: on the read connection without waiting, or on the writer under the mutex. */
  const read = async <R>(sql: string, exec: (stmt: BetterSqlite3.Statement) => R): Promise<R> => {
    guard?.check();
    const c = cached(sql);
    const stmt = readStatement(c);
    if (stmt) return exec(stmt);
    return locked(() => exec(c.stmt));
  };

  let closed = false;
  const db: SqliteDatabase = {
    dialect: 'sqlite',
    path,
    location: path,
    raw,
    stats,
    all: <T = Row>(sql: string, params?: SqlParams) => read(sql, (stmt) => all<T>(stmt, params)),
    first: <T = Row>(sql: string, params?: SqlParams) => read(sql, (stmt) => first<T>(stmt, params)),
    run: async (sql, params) => {
      guard?.check();
      const { stmt } = cached(sql); // prepared (and recorded) before waiting: the caller's frames are still on the stack
      return locked(() => run(stmt, params));
    },
    transaction,
    batched,
    lockRow: lockRowOutsideTransaction,
    exec: async (sql) => {
      guard?.check();
      await locked(() => {
        try {
          raw.exec(sql);
        } catch (err) {
          throw toSqliteStorageError(err);
        }
      });
    },
    ping: async () => {
      try {
        (reader ?? raw).prepare('SELECT 1').get();
      } catch (err) {
        throw new LicensorError('STORAGE_UNAVAILABLE', `The database ${path} does not answer`, undefined, {
          cause: err,
        });
      }
    },
    backup: async (destination, onProgress) => {
      // A backup holds every license code: private from its first byte, not chmod-ed afterwards.
      makePrivateDir(dirname(destination));
      makePrivateFile(destination);
      await raw.backup(destination, {
        progress: ({ totalPages, remainingPages }) => {
          onProgress?.(totalPages - remainingPages, totalPages);
          return 200;
        },
      });
      tightenCompanions(destination);
    },
    integrityCheck: async () => {
      guard?.check();
      const check = (conn: BetterSqlite3.Database) =>
        (conn.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check);
      // The read connection checks a committed snapshot without holding up writers.
      return reader ? check(reader) : locked(() => check(raw));
    },
    close: async () => {
      guard?.check(); // it waits for the mutex: from inside a transaction, forever
      if (closed) return;
      closed = true;
      // After the running transaction or batch, never in the middle of one.
      await locked(() => {
        barrier.close();
        cache.clear();
        control.clear();
        reader?.close();
        raw.close();
      });
    },
  };
  return db;
}
