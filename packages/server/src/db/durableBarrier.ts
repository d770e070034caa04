import { closeSync, fdatasync, fstatSync, openSync, statSync } from 'node:fs';
import { LicensorError } from '@licensor/shared';

/**
 * The durable barrier of the asynchronous group commit (sqlite.ts): resolves once every commit made before it
 * was asked for is on disk, by an fdatasync of the WAL file on libuv's thread pool, so the event loop keeps
 * serving while the disk flushes. Every frame written before the sync started is durable when it completes.
 * (SQLite's NORMAL mode already syncs the WAL before each checkpoint and the database after it, so the WAL is
 * the only file a commit depends on.) The same logic as the barrier of the synchronous facade's group commit it
 * replaced (groupCommit.ts, removed with that facade); here the fallback is asynchronous, because it must take
 * the connection's mutex like any other writer.
 *
 * If the WAL file cannot be synced directly (WAL replaced underneath, another journal mode), `fallback` commits
 * something with synchronous=FULL, which syncs the journal and every frame appended before it.
 */

/**
 * Syncs allowed at once. A sync covers every frame written before it started, so a second one may start while
 * the first is still flushing: commits made meanwhile wait for one sync, not for the rest of the running one
 * and then their own (a disk busy with the WAL takes a few milliseconds per flush).
 */
const MAX_SYNCS = 2;

export interface BarrierStats {
  barriers: number;
  fallbacks: number;
}

export class DurableBarrier {
  /** Waiters for the next sync (those that committed after the running one started). */
  private next: { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void } | undefined;
  /** Syncs running on the thread pool, and whether one is about to start. */
  private inflight = 0;
  private starting = false;
  /** A descriptor of the WAL file, for syncing it off the event loop. */
  private wal: { fd: number; ino: number } | undefined;
  /** Descriptors of a replaced WAL file, closed when no sync uses them any more. */
  private readonly retired: number[] = [];

  constructor(
    /** The WAL file, or undefined when the connection is not in WAL mode. */
    private readonly walPath: string | undefined,
    /** Whether the connection is still open (a closed one has nothing left to sync). */
    private readonly isOpen: () => boolean,
    private readonly fallback: () => Promise<void>,
    readonly stats: BarrierStats = { barriers: 0, fallbacks: 0 },
  ) {}

  /** Resolves after every commit made so far is on disk. */
  wait(): Promise<void> {
    if (!this.next) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.next = { promise, resolve, reject };
    }
    const { promise } = this.next;
    if (!this.starting && this.inflight < MAX_SYNCS) void this.kick();
    return promise;
  }

  private async kick(): Promise<void> {
    // Let the commits of this event-loop turn happen first, so they share the sync.
    this.starting = true;
    await new Promise((r) => setImmediate(r));
    this.starting = false;
    const batch = this.next;
    this.next = undefined;
    if (!batch) return;
    this.inflight++;
    try {
      this.stats.barriers++;
      await this.sync();
      batch.resolve();
    } catch (err) {
      batch.reject(
        err instanceof LicensorError
          ? err
          : new LicensorError(
              'STORAGE_UNAVAILABLE',
              'The server could not write to its disk; try again shortly',
              undefined,
              { cause: err },
            ),
      );
    } finally {
      this.inflight--;
      if (this.inflight === 0) this.closeRetired();
      if (this.next && !this.starting && this.inflight < MAX_SYNCS) void this.kick();
    }
  }

  private async sync(): Promise<void> {
    const wal = this.walFile();
    if (wal) {
      await new Promise<void>((resolve, reject) => fdatasync(wal.fd, (err) => (err ? reject(err) : resolve())));
      return;
    }
    this.stats.fallbacks++;
    await this.fallback();
  }

  /**
   * A descriptor of the current WAL file (checked to be the same inode as the path, so a WAL that SQLite
   * replaced is never synced by mistake), or undefined to use the fallback.
   */
  private walFile(): { fd: number; ino: number } | undefined {
    if (!this.walPath || !this.isOpen()) {
      this.close();
      return undefined;
    }
    let ino: number;
    try {
      ino = statSync(this.walPath).ino;
    } catch {
      return undefined;
    }
    if (this.wal?.ino === ino) return this.wal;
    this.close();
    try {
      const fd = openSync(this.walPath, 'r+');
      if (fstatSync(fd).ino !== ino) {
        closeSync(fd);
        return undefined;
      }
      this.wal = { fd, ino };
      return this.wal;
    } catch {
      return undefined;
    }
  }

  /**
   * Stops using the current WAL descriptor (the next barrier reopens it). It is closed once no sync runs:
   * another sync may still be flushing through it, and a closed descriptor's number could meanwhile name a
   * different file.
   */
  close(): void {
    if (this.wal) this.retired.push(this.wal.fd);
    this.wal = undefined;
    if (this.inflight === 0) this.closeRetired();
  }

  private closeRetired(): void {
    for (const fd of this.retired.splice(0)) closeSync(fd);
  }
}
