import { execFileSync } from 'node:child_process';
import {
  closeSync,
  fstatSync,
  mkdtempSync,
  open as openAsync,
  openSync,
  rmSync,
  stat as statAsync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Db, openDatabase } from './database';
import { GroupCommit } from './groupCommit';

let dir: string;
let db: Db;
/** Set by holdThreadPool; always called before the database closes, so a failing test cannot hang the worker. */
let releasePool: (() => Promise<void>) | undefined;
afterEach(async () => {
  await releasePool?.();
  releasePool = undefined;
  db?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function open(): Db {
  dir = mkdtempSync(join(tmpdir(), 'licensor-gc-'));
  db = openDatabase(join(dir, 'licensor.db'));
  db.exec('CREATE TABLE t (v INTEGER)');
  return db;
}

const synchronous = (d: Db) => Number(d.raw.pragma('synchronous', { simple: true }));

/** The private state the tests below observe (and, for `sync`, wrap) through a cast. */
interface Internals {
  inflight: number;
  wal: { fd: number; ino: number } | undefined;
  retired: number[];
  sync(): Promise<void>;
}
const internals = (gc: GroupCommit) => gc as unknown as Internals;

const turn = () => new Promise<void>((r) => setImmediate(r));
const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await turn();
};
/** Waits, one event-loop turn at a time, until `cond` holds. */
async function until(cond: () => boolean, what: string, max = 200): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (cond()) return;
    await turn();
  }
  throw new Error(`gave up waiting for ${what}`);
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

/** Whether holdThreadPool works here: it needs mkfifo, and an O_RDWR open of a FIFO that never blocks. */
const fifos = process.platform !== 'win32';

/**
 * Occupies every thread of libuv's pool with an open() of a FIFO that has no writer: the WAL fdatasyncs queued
 * behind them cannot run, so syncs stay in flight (and overlap) until `release` opens the FIFO for writing. No
 * CPU is used while the pool is held.
 */
async function holdThreadPool(): Promise<() => Promise<void>> {
  const fifo = join(dir, 'pool.fifo');
  execFileSync('mkfifo', [fifo]);
  const threads = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  const readers = Array.from(
    { length: threads },
    () =>
      new Promise<number>((resolve, reject) => openAsync(fifo, 'r', (err, fd) => (err ? reject(err) : resolve(fd)))),
  );
  let released = false;
  releasePool = async () => {
    if (released) return;
    released = true;
    const writer = openSync(fifo, 'r+'); // never blocks on Linux or macOS, and unblocks every reader
    try {
      for (const fd of await Promise.all(readers)) closeSync(fd);
    } finally {
      closeSync(writer);
    }
  };
  // The premise of the tests using this: work queued now does not run.
  let probed = false;
  statAsync(dir, () => {
    probed = true;
  });
  await turns(5);
  expect(probed).toBe(false);
  return releasePool;
}

describe('GroupCommit', () => {
  it('shares one durable barrier between the writes of one event-loop turn', async () => {
    const gc = new GroupCommit(open());
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => gc.write(() => db.run('INSERT INTO t VALUES (?)', [i]).changes)),
    );
    expect(results).toEqual(Array(20).fill(1));
    expect(gc.stats).toEqual({ batches: 1, barriers: 1, writes: 20, fallbacks: 0 });
    expect(db.first('SELECT COUNT(*) AS n FROM t')).toEqual({ n: 20 });
    await gc.write(() => db.run('INSERT INTO t VALUES (99)'));
    expect(gc.stats.barriers).toBe(2);
    gc.close();
  });

  it('gives writes that commit while a sync runs a sync of their own', async () => {
    const gc = new GroupCommit(open());
    const first = gc.write(() => db.run('INSERT INTO t VALUES (1)'));
    await new Promise((r) => setImmediate(r)); // the first sync is now running
    const later = [2, 3, 4].map((v) => gc.write(() => db.run('INSERT INTO t VALUES (?)', [v])));
    await Promise.all([first, ...later]);
    expect(gc.stats).toMatchObject({ batches: 2, barriers: 2, writes: 4 });
    gc.close();
  });

  it('falls back to a FULL commit when there is no WAL file to sync', async () => {
    open().raw.pragma('journal_mode = DELETE');
    const gc = new GroupCommit(db);
    await Promise.all([1, 2].map((v) => gc.write(() => db.run('INSERT INTO t VALUES (?)', [v]))));
    expect(gc.stats).toEqual({ batches: 1, barriers: 1, writes: 2, fallbacks: 1 });
    expect(db.first<{ at: number }>('SELECT at FROM commit_marks')!.at).toBeGreaterThan(0);
  });

  it('leaves the connection in FULL mode for everybody else, also when a write fails', async () => {
    const gc = new GroupCommit(open());
    expect(synchronous(db)).toBe(2);
    await expect(
      gc.write(() => {
        db.run('INSERT INTO t VALUES (1)');
        expect(synchronous(db)).toBe(1); // NORMAL inside the lazily committed transaction
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(synchronous(db)).toBe(2);
    expect(db.first('SELECT COUNT(*) AS n FROM t')).toEqual({ n: 0 }); // rolled back
  });

  it('rolls back a failing write alone: the rest of its batch commits', async () => {
    const gc = new GroupCommit(open());
    const results = await Promise.allSettled([
      gc.write(() => db.run('INSERT INTO t VALUES (1)')),
      gc.write(() => {
        db.run('INSERT INTO t VALUES (2)');
        throw new Error('second fails');
      }),
      gc.write(() => db.run('INSERT INTO t VALUES (3)')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(db.all('SELECT v FROM t ORDER BY v')).toEqual([{ v: 1 }, { v: 3 }]);
    expect(gc.stats).toMatchObject({ batches: 1, barriers: 1 });
    gc.close();
  });

  it('rejects every write of a batch the database refuses, and recovers', async () => {
    const gc = new GroupCommit(open());
    db.raw.pragma('query_only = ON');
    const results = await Promise.allSettled(
      [1, 2].map((v) => gc.write(() => db.run('INSERT INTO t VALUES (?)', [v]))),
    );
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    db.raw.pragma('query_only = OFF');
    await gc.write(() => db.run('INSERT INTO t VALUES (3)'));
    expect(db.all('SELECT v FROM t')).toEqual([{ v: 3 }]);
    expect(Number(db.raw.pragma('synchronous', { simple: true }))).toBe(2);
    gc.close();
  });

  it('joins a transaction the caller already opened', async () => {
    const gc = new GroupCommit(open());
    let inner: Promise<number> | undefined;
    db.transaction(() => {
      inner = gc.write(() => {
        expect(synchronous(db)).toBe(2);
        return db.run('INSERT INTO t VALUES (1)').changes;
      });
    });
    expect(await inner).toBe(1);
  });

  it('keeps writes that were answered: a reopened database has them', async () => {
    const gc = new GroupCommit(open());
    await Promise.all([1, 2, 3].map((v) => gc.write(() => db.run('INSERT INTO t VALUES (?)', [v]))));
    gc.close();
    db.close();
    db = openDatabase(join(dir, 'licensor.db'));
    expect(db.all('SELECT v FROM t ORDER BY v')).toEqual([{ v: 1 }, { v: 2 }, { v: 3 }]);
  });

  it('does nothing special for in-memory databases or connections configured below FULL', async () => {
    db = openDatabase(':memory:');
    db.exec('CREATE TABLE t (v INTEGER)');
    const gc = new GroupCommit(db);
    await gc.write(() => db.run('INSERT INTO t VALUES (1)'));
    expect(gc.stats.barriers).toBe(0);
    db.close();
    const d2 = open();
    d2.raw.pragma('synchronous = NORMAL');
    const gc2 = new GroupCommit(d2);
    await gc2.write(() => d2.run('INSERT INTO t VALUES (1)'));
    expect([gc2.stats.barriers, synchronous(d2)]).toEqual([0, 1]);
  });

  it('acknowledges each write of many event-loop turns only after a sync that started after its commit', async () => {
    const gc = new GroupCommit(open());
    const path = join(dir, 'licensor.db');
    const reader = openDatabase(path, { readonly: true }); // sees committed rows only
    const gcState = internals(gc);
    // A logical clock ticked by commits and sync starts; the start ticks of completed syncs.
    let clock = 0;
    const synced: number[] = [];
    let running = 0;
    let maxRunning = 0;
    let maxInflight = 0;
    const sync = gcState.sync.bind(gc);
    gcState.sync = async () => {
      const startedAt = ++clock;
      maxInflight = Math.max(maxInflight, gcState.inflight);
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
    const writes: Promise<void>[] = [];
    try {
      for (let b = 0; b < bursts; b++) {
        for (let i = 0; i < perBurst; i++) {
          const v = b * perBurst + i;
          let committedAt = 0;
          const w = gc.write(() => {
            db.run('INSERT INTO t VALUES (?)', [v]);
            committedAt = ++clock; // the batch commits before any later sync can start
          });
          writes.push(
            w.then(() => {
              expect(committedAt).toBeGreaterThan(0);
              expect(synced.some((s) => s > committedAt)).toBe(true);
              expect(db.raw.inTransaction).toBe(false);
              expect(reader.first('SELECT v FROM t WHERE v = ?', [v])).toEqual({ v });
            }),
          );
        }
        await turn(); // the next burst arrives while this one's sync runs
      }
      await Promise.all(writes);
    } finally {
      reader.close();
    }
    expect(gc.stats).toMatchObject({ writes: bursts * perBurst, fallbacks: 0 });
    expect(gc.stats.batches).toBeGreaterThanOrEqual(bursts);
    expect(gc.stats.barriers).toBeGreaterThan(1);
    expect(gc.stats.barriers).toBe(synced.length);
    expect(maxRunning).toBeGreaterThanOrEqual(1);
    expect(maxRunning).toBeLessThanOrEqual(2);
    expect(maxInflight).toBeLessThanOrEqual(2);
    expect(gcState.inflight).toBe(0);
    gc.close();
    db.close();
    db = openDatabase(path);
    expect(db.first('SELECT COUNT(*) AS n, COUNT(DISTINCT v) AS d, MIN(v) AS lo, MAX(v) AS hi FROM t')).toEqual({
      n: bursts * perBurst,
      d: bursts * perBurst,
      lo: 0,
      hi: bursts * perBurst - 1,
    });
  });

  it.skipIf(!fifos)(
    'runs at most two syncs at once; writes that commit meanwhile wait for, and share, a third',
    async () => {
      const gc = new GroupCommit(open());
      const gcState = internals(gc);
      await gc.write(() => db.run('INSERT INTO t VALUES (0)'));
      const release = await holdThreadPool();
      const acknowledged: number[] = [];
      const write = (v: number) =>
        gc
          .write(() => db.run('INSERT INTO t VALUES (?)', [v]))
          .then(() => {
            acknowledged.push(v);
          });
      const w1 = write(1);
      await until(() => gcState.inflight === 1, 'the first sync');
      const w2 = write(2);
      await until(() => gcState.inflight === 2, 'the second sync');
      expect(gc.stats).toMatchObject({ batches: 3, barriers: 3 });
      const w3 = write(3);
      await turns(3);
      const w4 = write(4);
      await turns(10);
      expect(gcState.inflight).toBe(2); // no third sync while two run
      expect(gc.stats).toMatchObject({ batches: 5, barriers: 3 });
      expect(acknowledged).toEqual([]); // no sync has completed, so no write is answered…
      expect(db.all('SELECT v FROM t ORDER BY v')).toEqual([0, 1, 2, 3, 4].map((v) => ({ v }))); // …though all committed
      await release();
      await Promise.all([w1, w2, w3, w4]);
      expect(acknowledged.sort()).toEqual([1, 2, 3, 4]);
      expect(gc.stats).toEqual({ batches: 5, barriers: 4, writes: 5, fallbacks: 0 }); // 3 and 4 shared one sync
      expect(gcState.inflight).toBe(0);
      gc.close();
    },
  );

  it.skipIf(!fifos)(
    'keeps a replaced WAL descriptor open while a sync may use it, and closes it once none runs',
    async () => {
      const gc = new GroupCommit(open());
      const gcState = internals(gc);
      const walPath = join(dir, 'licensor.db-wal');
      await gc.write(() => db.run('INSERT INTO t VALUES (0)'));
      const old = gcState.wal!;
      expect(old.ino).toBe(statSync(walPath).ino);
      await holdThreadPool();
      const states: { v: number; inflight: number; oldOpen: boolean }[] = [];
      const write = (v: number) =>
        gc
          .write(() => db.run('INSERT INTO t VALUES (?)', [v]))
          .then(() => {
            states.push({ v, inflight: gcState.inflight, oldOpen: isOpen(old.fd) });
          });
      const w1 = write(1);
      await until(() => gcState.inflight === 1, 'a sync through the old descriptor');
      // SQLite deletes the WAL when it leaves WAL mode and creates a new file when it returns to it.
      db.raw.pragma('journal_mode = DELETE');
      db.raw.pragma('journal_mode = WAL');
      const w2 = write(2);
      await until(() => gcState.inflight === 2, 'a sync through the new descriptor');
      const current = gcState.wal!;
      expect(current.ino).toBe(statSync(walPath).ino);
      expect(current.ino).not.toBe(old.ino);
      expect(gcState.retired).toEqual([old.fd]);
      expect(fstatSync(old.fd).ino).toBe(old.ino); // still open, still the replaced file
      await releasePool!();
      await Promise.all([w1, w2]);
      // Whichever sync finished first, the other one was still running: the old descriptor stayed open.
      expect(states.map((s) => [s.inflight, s.oldOpen])).toEqual([
        [1, true],
        [0, false],
      ]);
      expect(gcState.retired).toEqual([]);
      expect(isOpen(old.fd)).toBe(false);
      expect(fstatSync(current.fd).ino).toBe(statSync(walPath).ino);
      expect(gc.stats).toMatchObject({ barriers: 3, fallbacks: 0 });
      gc.close();
    },
  );

  it('closes the current and every retired descriptor on close, and reopens the WAL at the next barrier', async () => {
    const gc = new GroupCommit(open());
    const gcState = internals(gc);
    const walPath = join(dir, 'licensor.db-wal');
    await gc.write(() => db.run('INSERT INTO t VALUES (1)'));
    const current = gcState.wal!.fd;
    // A retired descriptor left over from a replaced WAL (close() only keeps one while a sync runs).
    const retired = openSync(walPath, 'r+');
    gcState.retired.push(retired);
    expect([isOpen(current), isOpen(retired)]).toEqual([true, true]);
    gc.close();
    expect([isOpen(current), isOpen(retired)]).toEqual([false, false]);
    expect(gcState.wal).toBeUndefined();
    expect(gcState.retired).toEqual([]);
    await gc.write(() => db.run('INSERT INTO t VALUES (2)'));
    expect(gc.stats).toMatchObject({ barriers: 2, fallbacks: 0 });
    expect(fstatSync(gcState.wal!.fd).ino).toBe(statSync(walPath).ino);
    gc.close();
    expect(gcState.wal).toBeUndefined();
  });
});
