import { LicensorError } from '@licensor/shared';
import { DurableBarrier } from '../../src/db/durableBarrier';
import type { Db } from './types';

/**
 * Group commit for every write path that answers a client or the marketplace (Db.batched).
 *
 * The database runs with synchronous=FULL: every commit waits for an fsync of the WAL (0.3 ms on an idle
 * local disk, several ms on a busy or networked one), and better-sqlite3 blocks the event loop while it
 * waits. On top of that each commit appends every page it touched to the WAL (an activation touches four
 * B-trees plus the audit log: ~20 kB written and checksummed per commit). One transaction and one fsync per
 * request would cap the API at a few hundred to a few thousand requests per second.
 *
 * So the requests of one event-loop turn are applied together: each request's function runs in its own
 * savepoint (a failure rolls back that request only and is reported to it at once), all of them inside one
 * transaction committed with synchronous=NORMAL — pages shared by the batch reach the WAL once, nothing waits
 * for the disk. Then the batch awaits a barrier: an fdatasync of the WAL file on libuv's thread pool, so the
 * event loop keeps serving. Every frame written before the sync started is durable when it completes; only
 * then are the waiting responses sent. An answer therefore still means "on disk", exactly as with FULL.
 * (SQLite's NORMAL mode already syncs the WAL before each checkpoint and the database after it, so the WAL
 * is the only file a commit depends on.)
 *
 * If the WAL file cannot be synced directly (WAL replaced underneath, another journal mode), the barrier falls
 * back to committing one tiny row with synchronous=FULL, which fsyncs the WAL on the event loop.
 *
 * The batch, the pragma switch and its restoration run in one synchronous stretch: no other code (the
 * production interface, the outbox, the admin API) ever runs inside the batch or while the connection is in
 * NORMAL mode. Requests' functions must therefore be synchronous, and they run a moment after `write` is
 * called — each re-reads the state it decides on, inside its savepoint.
 */
const storageError = (err: unknown) =>
  err instanceof LicensorError
    ? err
    : new LicensorError(
        'STORAGE_UNAVAILABLE',
        'The server could not write to its disk; nothing changed, retry shortly',
        undefined,
        {
          cause: err,
        },
      );

export class GroupCommit {
  /** Writes waiting for the next batch. */
  private queue: { fn: () => unknown; resolve: (value: unknown) => void; reject: (err: unknown) => void }[] = [];
  /** Batches applied, syncs run, writes they covered, fallback syncs: for the benchmark and tests. */
  readonly stats = { batches: 0, barriers: 0, writes: 0, fallbacks: 0 };
  /** The connection's own setting (2 = FULL, 3 = EXTRA), restored after each batch. */
  private readonly mode: number;
  /** The WAL sync off the event loop, shared with the server's storage (db/durableBarrier.ts). */
  private readonly durable: DurableBarrier;

  constructor(private readonly db: Db) {
    this.mode = Number(db.raw.pragma('synchronous', { simple: true }));
    const wal = String(db.raw.pragma('journal_mode', { simple: true })).toLowerCase() === 'wal';
    const walPath = wal && db.path !== ':memory:' && db.path !== '' ? `${db.path}-wal` : undefined;
    // A FULL-mode commit fsyncs the WAL, and with it every frame appended before it.
    const fallback = async () => {
      this.db.transaction(() =>
        this.db.run(`INSERT INTO commit_marks (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at`, [
          Date.now(),
        ]),
      );
    };
    this.durable = new DurableBarrier(walPath, () => this.db.raw.open, fallback, this.stats);
  }

  /** Whether commits are deferred to a barrier (a connection configured below FULL never waits for the disk). */
  private get deferring(): boolean {
    return this.mode >= 2 && this.db.path !== ':memory:';
  }

  /** Runs `fn` in a write transaction and resolves with its result once the commit is durable. */
  write<T>(fn: () => T): Promise<T> {
    this.stats.writes++;
    // An open transaction (a caller's) commits with its own durability; nothing to defer in memory.
    if (this.db.raw.inTransaction || !this.deferring) {
      try {
        return Promise.resolve(this.db.transaction(fn));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      if (this.queue.length === 1) setImmediate(() => this.flush());
    });
  }

  /** Applies the queued writes in one transaction, then releases them after the barrier. */
  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    this.stats.batches++;
    const done: { item: (typeof batch)[number]; value: unknown }[] = [];
    const failed = new Set<(typeof batch)[number]>();
    const raw = this.db.raw;
    try {
      // Not a cached prepared statement: SQLite applies this pragma when it compiles it, not when it runs.
      raw.exec('PRAGMA synchronous = NORMAL');
      try {
        this.db.transaction(() => {
          for (const item of batch) {
            try {
              done.push({ item, value: this.db.transaction(item.fn) }); // a savepoint
            } catch (err) {
              failed.add(item);
              item.reject(err); // rolled back to its savepoint: nothing of it was written
            }
          }
        });
      } finally {
        raw.exec(`PRAGMA synchronous = ${this.mode}`);
      }
    } catch (err) {
      // BEGIN or COMMIT failed (read-only or full disk…): nothing of the batch was written.
      const failure = storageError(err);
      for (const item of batch) if (!failed.has(item)) item.reject(failure);
      return;
    }
    if (done.length === 0) return;
    this.barrier().then(
      () => {
        for (const { item, value } of done) item.resolve(value);
      },
      (err: unknown) => {
        for (const { item } of done) item.reject(err);
      },
    );
  }

  /** Resolves after every commit made so far is on disk. */
  barrier(): Promise<void> {
    if (!this.deferring) return Promise.resolve();
    return this.durable.wait();
  }

  /** Stops using the current WAL descriptor (the database stays open; the next barrier reopens it). */
  close(): void {
    this.durable.close();
  }
}
