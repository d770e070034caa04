import { fstatSync, mkdtempSync, openSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LicensorError } from '@licensor/shared';
import { turn, turns, until } from '@licensor/testkit/eventLoop';
import { holdThreadPool } from '@licensor/testkit/threadPool';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DurableBarrier } from './durableBarrier';

/**
 * The WAL barrier on its own (ported from the former groupCommit.test.ts, whose barrier this is): what it syncs,
 * when a wait resolves, how many syncs overlap, and which descriptors it keeps. The "WAL" here is a plain file: the
 * barrier only fdatasyncs whatever the path names. sqlite.test.ts checks it inside the group commit.
 */

let dir: string;
let walPath: string;
let barrier: DurableBarrier | undefined;
/** Set by holdPool; released before the barrier closes, so a failing test cannot hang the worker. */
let releasePool: (() => Promise<void>) | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'licensor-barrier-'));
  walPath = join(dir, 'licensor.db-wal');
  writeFileSync(walPath, 'frames');
});
afterEach(async () => {
  await releasePool?.();
  releasePool = undefined;
  barrier?.close();
  barrier = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** The private state the tests observe (and, for `sync`, wrap) through a cast. */
interface Internals {
  inflight: number;
  wal: { fd: number; ino: number } | undefined;
  retired: number[];
  sync(): Promise<void>;
}
const internals = (b: DurableBarrier) => b as unknown as Internals;

function make(opts: { path?: string | null; fallback?: () => Promise<void> } = {}): DurableBarrier {
  const path = opts.path === null ? undefined : (opts.path ?? walPath);
  barrier = new DurableBarrier(path, () => true, opts.fallback ?? (async () => {}));
  return barrier;
}

/** Whether `fd` is an open descriptor (fstat fails with EBADF once it is closed). */
function isOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EBADF') return false;
    throw err;
  }
}

const fifos = process.platform !== 'win32';
async function holdPool(): Promise<() => Promise<void>> {
  releasePool = await holdThreadPool(dir);
  return releasePool;
}

describe('DurableBarrier', () => {
  it('shares one sync between the waits of one event-loop turn; a later wait gets a sync of its own', async () => {
    const b = make();
    await Promise.all(Array.from({ length: 20 }, () => b.wait()));
    expect(b.stats).toEqual({ barriers: 1, fallbacks: 0 });
    expect(internals(b).wal?.ino).toBe(statSync(walPath).ino);
    await b.wait();
    expect(b.stats).toEqual({ barriers: 2, fallbacks: 0 });
  });

  it('gives waits asked while a sync runs a sync of their own', async () => {
    const b = make();
    const first = b.wait();
    await turn(); // the first sync is now running
    const later = [1, 2, 3].map(() => b.wait());
    await Promise.all([first, ...later]);
    expect(b.stats).toEqual({ barriers: 2, fallbacks: 0 });
  });

  it('resolves each wait of many event-loop turns only after a sync that started after it was asked', async () => {
    const b = make();
    const state = internals(b);
    // A logical clock ticked by waits and sync starts; the start ticks of completed syncs.
    let clock = 0;
    const synced: number[] = [];
    let running = 0;
    let maxRunning = 0;
    const sync = state.sync.bind(b);
    state.sync = async () => {
      const startedAt = ++clock;
      maxRunning = Math.max(maxRunning, ++running);
      try {
        await sync();
      } finally {
        running--;
      }
      synced.push(startedAt);
    };
    const bursts = 8;
    const perBurst = 25;
    const waits: Promise<void>[] = [];
    for (let burst = 0; burst < bursts; burst++) {
      for (let i = 0; i < perBurst; i++) {
        const askedAt = ++clock; // a commit made just before its wait
        waits.push(
          b.wait().then(() => {
            expect(synced.some((startedAt) => startedAt > askedAt)).toBe(true);
          }),
        );
      }
      await turn(); // the next burst arrives while this one's sync runs
    }
    await Promise.all(waits);
    expect(b.stats.barriers).toBeGreaterThan(1);
    expect(b.stats.barriers).toBeLessThanOrEqual(bursts);
    expect(b.stats.barriers).toBe(synced.length);
    expect(b.stats.fallbacks).toBe(0);
    expect(maxRunning).toBeGreaterThanOrEqual(1);
    expect(maxRunning).toBeLessThanOrEqual(2);
    expect(state.inflight).toBe(0);
  });

  it('syncs through the fallback when there is no WAL file: not in WAL mode, or the file is gone', async () => {
    let fallbacks = 0;
    const fallback = async () => {
      fallbacks++;
    };
    const noWal = make({ path: null, fallback });
    await Promise.all([noWal.wait(), noWal.wait()]);
    expect([noWal.stats, fallbacks]).toEqual([{ barriers: 1, fallbacks: 1 }, 1]);
    noWal.close();

    const gone = make({ path: join(dir, 'missing.db-wal'), fallback });
    await gone.wait();
    expect([gone.stats, fallbacks]).toEqual([{ barriers: 1, fallbacks: 1 }, 2]);
    expect(internals(gone).wal).toBeUndefined();
  });

  it('rejects every waiter of a failed sync (STORAGE_UNAVAILABLE, or the LicensorError as it is), and recovers', async () => {
    let failure: Error | undefined = new Error('EIO: i/o error, fdatasync');
    const b = make({
      path: null,
      fallback: async () => {
        if (failure) throw failure;
      },
    });
    const first = await Promise.allSettled([b.wait(), b.wait()]);
    expect(first.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    const reason = (first[0] as PromiseRejectedResult).reason as LicensorError;
    expect(reason).toBeInstanceOf(LicensorError);
    expect([reason.code, reason.retryable]).toEqual(['STORAGE_UNAVAILABLE', true]);
    expect((reason as Error & { cause?: unknown }).cause).toBe(failure);

    failure = new LicensorError('INTERNAL', 'database disk image is malformed');
    await expect(b.wait()).rejects.toBe(failure);

    failure = undefined;
    await expect(b.wait()).resolves.toBeUndefined();
    expect(b.stats).toEqual({ barriers: 3, fallbacks: 3 });
  });

  it.skipIf(!fifos)('runs at most two syncs at once; waits asked meanwhile share a third', async () => {
    const b = make();
    const state = internals(b);
    await b.wait(); // the WAL descriptor is open before the pool is held
    const release = await holdPool();
    const resolved: number[] = [];
    const wait = (n: number) =>
      b.wait().then(() => {
        resolved.push(n);
      });
    const w1 = wait(1);
    await until(() => state.inflight === 1, 'the first sync');
    const w2 = wait(2);
    await until(() => state.inflight === 2, 'the second sync');
    expect(b.stats.barriers).toBe(3);
    const w3 = wait(3);
    await turns(3);
    const w4 = wait(4);
    await turns(10);
    expect(state.inflight).toBe(2); // no third sync while two run
    expect(b.stats.barriers).toBe(3);
    expect(resolved).toEqual([]); // no sync has completed, so no wait has resolved
    await release();
    await Promise.all([w1, w2, w3, w4]);
    expect(resolved.sort()).toEqual([1, 2, 3, 4]);
    expect(b.stats).toEqual({ barriers: 4, fallbacks: 0 }); // 3 and 4 shared one sync
    expect(state.inflight).toBe(0);
  });

  it.skipIf(!fifos)(
    'keeps a replaced WAL descriptor open while a sync may use it, and closes it once none runs',
    async () => {
      const b = make();
      const state = internals(b);
      await b.wait();
      const old = state.wal!;
      expect(old.ino).toBe(statSync(walPath).ino);
      await holdPool();
      const states: { n: number; inflight: number; oldOpen: boolean }[] = [];
      const wait = (n: number) =>
        b.wait().then(() => {
          states.push({ n, inflight: state.inflight, oldOpen: isOpen(old.fd) });
        });
      const w1 = wait(1);
      await until(() => state.inflight === 1, 'a sync through the old descriptor');
      // SQLite deletes the WAL when it leaves WAL mode and creates a new file when it returns to it. (The old
      // inode stays allocated while its descriptor is open, so the new file's number differs.)
      unlinkSync(walPath);
      writeFileSync(walPath, 'new frames');
      const w2 = wait(2);
      await until(() => state.inflight === 2, 'a sync through the new descriptor');
      const current = state.wal!;
      expect(current.ino).toBe(statSync(walPath).ino);
      expect(current.ino).not.toBe(old.ino);
      expect(state.retired).toEqual([old.fd]);
      expect(fstatSync(old.fd).ino).toBe(old.ino); // still open, still the replaced file
      await releasePool!();
      await Promise.all([w1, w2]);
      // Whichever sync finished first, the other one was still running: the old descriptor stayed open.
      expect(states.map((s) => [s.inflight, s.oldOpen])).toEqual([
        [1, true],
        [0, false],
      ]);
      expect(state.retired).toEqual([]);
      expect(isOpen(old.fd)).toBe(false);
      expect(fstatSync(current.fd).ino).toBe(statSync(walPath).ino);
      expect(b.stats).toEqual({ barriers: 3, fallbacks: 0 });
    },
  );

  it('closes the current and every retired descriptor on close, and reopens the WAL at the next barrier', async () => {
    const b = make();
    const state = internals(b);
    await b.wait();
    const current = state.wal!.fd;
    // A retired descriptor left over from a replaced WAL (close() only keeps one while a sync runs).
    const retired = openSync(walPath, 'r+');
    state.retired.push(retired);
    expect([isOpen(current), isOpen(retired)]).toEqual([true, true]);
    b.close();
    expect([isOpen(current), isOpen(retired)]).toEqual([false, false]);
    expect(state.wal).toBeUndefined();
    expect(state.retired).toEqual([]);
    await b.wait();
    expect(b.stats).toEqual({ barriers: 2, fallbacks: 0 });
    expect(fstatSync(state.wal!.fd).ino).toBe(statSync(walPath).ino);
    b.close();
    expect(state.wal).toBeUndefined();
  });

  it('syncs nothing through the WAL once the connection is closed, and lets its descriptor go', async () => {
    let connectionOpen = true;
    let fallbacks = 0;
    barrier = new DurableBarrier(
      walPath,
      () => connectionOpen,
      async () => {
        fallbacks++;
      },
    );
    const b = barrier;
    await b.wait();
    const fd = internals(b).wal!.fd;
    connectionOpen = false;
    await b.wait();
    expect([b.stats, fallbacks]).toEqual([{ barriers: 2, fallbacks: 1 }, 1]);
    expect(internals(b).wal).toBeUndefined();
    expect(isOpen(fd)).toBe(false);
  });
});
