import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LicensorError } from '@licensor/shared';
import { turn, turns, until } from '@licensor/testkit/eventLoop';
import { holdThreadPool as holdPool } from '@licensor/testkit/threadPool';
import { afterEach, describe, expect, it } from 'vitest';
import { STORAGE_CHECKS_ENV } from './misuse';
import { openSqliteDatabase, type SqliteDatabase } from './sqlite';
import type { Storage } from './storage';

let dir: string | undefined;
let db: SqliteDatabase | undefined;
let releasePool: (() => Promise<void>) | undefined;
const checks = process.env[STORAGE_CHECKS_ENV];
afterEach(async () => {
  await releasePool?.();
  releasePool = undefined;
  await db?.close();
  db = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
  if (checks === undefined) delete process.env[STORAGE_CHECKS_ENV];
  else process.env[STORAGE_CHECKS_ENV] = checks;
});

async function open(file = 'licensor.db'): Promise<SqliteDatabase> {
  dir ??= mkdtempSync(join(tmpdir(), 'licensor-sqlite-'));
  db = openSqliteDatabase(join(dir, file));
  await db.exec('CREATE TABLE t (v INTEGER); CREATE TABLE u (k TEXT PRIMARY KEY, n INTEGER NOT NULL)');
  return db;
}

const synchronous = (d: SqliteDatabase) => Number(d.raw.pragma('synchronous', { simple: true }));

/** Holds libuv's thread pool (testkit/threadPool.ts): WAL syncs queued behind it wait; released after each test. */
async function holdThreadPool(): Promise<() => Promise<void>> {
  releasePool = await holdPool(dir!);
  return releasePool;
}

describe('openSqliteDatabase: transactions under the mutex', () => {
  it('never interleaves 64 concurrent transactions that await between their statements', async () => {
    const d = await open();
    await d.exec('CREATE TABLE log (seq INTEGER PRIMARY KEY, tx INTEGER NOT NULL, step INTEGER NOT NULL)');
    await d.run('INSERT INTO u (k, n) VALUES (?, ?)', ['counter', 0]);
    // A check-in-shaped transaction: read, await other work, write what it read, log each step.
    const one = (id: number) =>
      d.transaction(async (tx) => {
        const { n } = (await tx.first<{ n: number }>('SELECT n FROM u WHERE k = ?', ['counter']))!;
        await tx.run('INSERT INTO log (tx, step) VALUES (?, 1)', [id]);
        await turn(); // gives every other request the chance to run in the middle
        await tx.run('UPDATE u SET n = ? WHERE k = ?', [n + 1, 'counter']);
        await tx.run('INSERT INTO log (tx, step) VALUES (?, 2)', [id]);
        return n;
      });
    const seen = await Promise.all(Array.from({ length: 64 }, (_, i) => one(i)));
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 64 }, (_, i) => i)); // no lost update
    expect(await d.first('SELECT n FROM u WHERE k = ?', ['counter'])).toEqual({ n: 64 });
    const log = await d.all<{ tx: number; step: number }>('SELECT tx, step FROM log ORDER BY seq');
    expect(log).toHaveLength(128);
    for (let i = 0; i < log.length; i += 2) {
      expect([log[i]!.tx, log[i]!.step, log[i + 1]!.step]).toEqual([log[i]!.tx, 1, 2]);
      expect(log[i + 1]!.tx).toBe(log[i]!.tx);
    }
    expect(seen).toEqual(Array.from({ length: 64 }, (_, i) => i)); // FIFO: in the order they were asked for
  });

  it('rolls back a transaction whose function throws, and rethrows its error', async () => {
    const d = await open();
    const boom = new Error('boom');
    await expect(
      d.transaction(async (tx) => {
        await tx.run('INSERT INTO t VALUES (1)');
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await d.all('SELECT v FROM t')).toEqual([]);
    expect(d.raw.inTransaction).toBe(false);
    await d.run('INSERT INTO t VALUES (2)'); // the mutex was released
    expect(await d.all('SELECT v FROM t')).toEqual([{ v: 2 }]);
  });

  it('makes a nested transaction a savepoint: its failure undoes only its own writes', async () => {
    const d = await open();
    const result = await d.transaction(async (tx) => {
      await tx.run('INSERT INTO t VALUES (1)');
      await expect(
        tx.transaction(async (inner) => {
          await inner.run('INSERT INTO t VALUES (2)');
          await inner.transaction(async (deeper) => deeper.run('INSERT INTO t VALUES (3)'));
          throw new Error('inner fails');
        }),
      ).rejects.toThrow('inner fails');
      const kept = await tx.transaction(async (inner) => {
        await inner.run('INSERT INTO t VALUES (4)');
        return inner.all<{ v: number }>('SELECT v FROM t ORDER BY v');
      });
      return kept.map((r) => r.v);
    });
    expect(result).toEqual([1, 4]);
    expect(await d.all('SELECT v FROM t ORDER BY v')).toEqual([{ v: 1 }, { v: 4 }]);
  });

  it('runs concurrent savepoints of one transaction one after another', async () => {
    const d = await open();
    await d.transaction(async (tx) => {
      const results = await Promise.allSettled(
        [1, 2, 3].map((v) =>
          tx.transaction(async (sp) => {
            await sp.run('INSERT INTO t VALUES (?)', [v]);
            await turn();
            if (v === 2) throw new Error('second fails');
          }),
        ),
      );
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    });
    expect(await d.all('SELECT v FROM t ORDER BY v')).toEqual([{ v: 1 }, { v: 3 }]);
  });

  it('makes a top-level statement wait for the running transaction (its own transaction afterwards)', async () => {
    process.env[STORAGE_CHECKS_ENV] = '0'; // the waiting itself, which the test-only check would turn into an error
    const d = await open();
    const order: string[] = [];
    let outside: Promise<unknown> | undefined;
    await d.transaction(async (tx) => {
      await tx.run('INSERT INTO t VALUES (1)');
      outside = d.run('INSERT INTO t VALUES (2)').then(() => order.push('outside'));
      await turns(3);
      order.push('tx end');
    });
    await outside;
    expect(order).toEqual(['tx end', 'outside']);
    expect(await d.all('SELECT v FROM t ORDER BY v')).toEqual([{ v: 1 }, { v: 2 }]);
  });

  it('reads on the top-level handle from a read connection: committed data only, without waiting', async () => {
    process.env[STORAGE_CHECKS_ENV] = '0'; // a top-level read inside a transaction is what this test makes
    const d = await open();
    await d.run('INSERT INTO t VALUES (1)');
    await d.transaction(async (tx) => {
      await tx.run('INSERT INTO t VALUES (2)');
      expect(await tx.all('SELECT v FROM t ORDER BY v')).toEqual([{ v: 1 }, { v: 2 }]);
      expect(await d.all('SELECT v FROM t ORDER BY v')).toEqual([{ v: 1 }]); // answered now: 2 is uncommitted
    });
    expect(await d.all('SELECT v FROM t ORDER BY v')).toEqual([{ v: 1 }, { v: 2 }]);
  });

  it('reports a transaction or batch that held the connection too long', async () => {
    dir = mkdtempSync(join(tmpdir(), 'licensor-sqlite-'));
    const holds: unknown[] = [];
    db = openSqliteDatabase(join(dir, 'licensor.db'), { onSlowHold: (h) => holds.push(h), slowHoldMs: 30 });
    const d = db;
    await d.exec('CREATE TABLE t (v INTEGER)');
    await d.transaction(async (tx) => tx.run('INSERT INTO t VALUES (1)'));
    await d.batched(async (tx) => tx.run('INSERT INTO t VALUES (2)'));
    expect(holds).toEqual([]);
    await d.transaction(async function waitsForTheNetwork(tx) {
      await new Promise((r) => setTimeout(r, 60));
      await tx.run('INSERT INTO t VALUES (3)');
    });
    await Promise.all([
      d.batched(async (tx) => tx.run('INSERT INTO t VALUES (4)')),
      d.batched(async () => new Promise((r) => setTimeout(r, 60))),
    ]);
    expect(holds).toEqual([
      { what: 'transaction', ms: expect.any(Number), detail: 'waitsForTheNetwork' },
      { what: 'batch', ms: expect.any(Number), detail: '2 writes' },
    ]);
    expect((holds as { ms: number }[]).every((h) => h.ms >= 30)).toBe(true);
  });

  it('refuses a transaction handle used after its transaction ended', async () => {
    const d = await open();
    let leaked: Storage | undefined;
    await d.transaction(async (tx) => {
      leaked = tx;
    });
    await expect(leaked!.run('INSERT INTO t VALUES (1)')).rejects.toMatchObject({ code: 'STORAGE_MISUSE' });
  });

  it('reports a duplicate key as CONFLICT and a bad statement as INTERNAL, as LicensorErrors', async () => {
    const d = await open();
    await d.run('INSERT INTO u (k, n) VALUES (?, ?)', ['a', 1]);
    const dup = await d.run('INSERT INTO u (k, n) VALUES (?, ?)', ['a', 2]).catch((e: unknown) => e);
    expect(dup).toBeInstanceOf(LicensorError);
    expect(dup).toMatchObject({ code: 'CONFLICT' });
    await expect(d.run('INSERT INTO u (k, n) VALUES (?, NULL)', ['b'])).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
    await expect(d.all('SELECT nope FROM t')).rejects.toMatchObject({ code: 'INTERNAL' });
  });
});

describe('openSqliteDatabase: the misuse check (LICENSOR_STORAGE_CHECKS=1)', () => {
  it('is on in every test process (vitest.config.ts), and so in the servers and CLIs they start', () => {
    expect(checks).toBe('1');
  });

  it('throws STORAGE_MISUSE for a top-level query inside a transaction or a batch, instead of deadlocking', async () => {
    process.env[STORAGE_CHECKS_ENV] = '1';
    const d = await open();
    for (const call of [
      () => d.first('SELECT 1 AS x'),
      () => d.all('SELECT 1 AS x'),
      () => d.run('INSERT INTO t VALUES (1)'),
      () => d.transaction(async () => 1),
      () => d.batched(async () => 1),
      () => d.exec('SELECT 1'),
    ]) {
      const inTransaction = await d
        .transaction(async () => {
          await turn(); // still inside after an await
          return call();
        })
        .catch((e: unknown) => e);
      expect(inTransaction).toMatchObject({ code: 'STORAGE_MISUSE' });
      expect((inTransaction as Error).message).toMatch(/use the transaction handle \(tx\)/);
      const inBatch = await d.batched(async () => call()).catch((e: unknown) => e);
      expect(inBatch).toMatchObject({ code: 'STORAGE_MISUSE' });
    }
    // Outside any transaction, and on another database inside one of this one's, the calls are fine.
    expect(await d.first('SELECT 1 AS x')).toEqual({ x: 1 });
    const other = openSqliteDatabase(':memory:');
    try {
      expect(await d.transaction(async () => other.first('SELECT 2 AS x'))).toEqual({ x: 2 });
      // Inside a transaction of the other database that runs inside one of this one's, this one's is still open.
      const nested = await d
        .transaction(async () => other.transaction(async () => d.first('SELECT 1 AS x')))
        .catch((e: unknown) => e);
      expect(nested).toMatchObject({ code: 'STORAGE_MISUSE' });
    } finally {
      await other.close();
    }
    // A continuation created inside a transaction that runs after it ended deadlocks nothing: allowed.
    let later: Promise<unknown> | undefined;
    await d.transaction(async () => {
      later = new Promise((r) => setTimeout(r, 5)).then(() => d.first('SELECT 3 AS x'));
    });
    expect(await later).toEqual({ x: 3 });
  });
});

describe('openSqliteDatabase: batched (asynchronous group commit)', () => {
  it('shares one transaction and one durable barrier between the writes of one event-loop turn', async () => {
    const d = await open();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        d.batched(async (tx) => {
          await turn(); // async functions: each still runs alone, in its savepoint
          return (await tx.run('INSERT INTO t VALUES (?)', [i])).changes;
        }),
      ),
    );
    expect(results).toEqual(Array(20).fill(1));
    expect(d.stats).toEqual({ batches: 1, barriers: 1, writes: 20, fallbacks: 0 });
    expect(await d.first('SELECT COUNT(*) AS n FROM t')).toEqual({ n: 20 });
    await d.batched((tx) => tx.run('INSERT INTO t VALUES (99)'));
    expect(d.stats.barriers).toBe(2);
  });

  it('a write that makes SQLite roll back the whole batch (full disk) fails the batch as one: nothing half-written, nothing acknowledged', async () => {
    const d = await open();
    await d.exec('CREATE TABLE big (b BLOB)');
    const pages = Number(d.raw.pragma('page_count', { simple: true }));
    d.raw.pragma(`max_page_count = ${pages + 8}`); // room for small writes, not for the big one
    const before = d.batched((tx) => tx.run('INSERT INTO t VALUES (1)'));
    const full = d.batched((tx) => tx.run('INSERT INTO big VALUES (zeroblob(1000000))'));
    const after = d.batched((tx) => tx.run('INSERT INTO t VALUES (2)'));
    const outcomes = await Promise.allSettled([before, full, after]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toMatch(/full/i);
    // Neither the write before the failure (rolled back with the whole transaction) nor the one after it (which
    // would otherwise have run in an autocommit transaction of its own) is in the database.
    expect(await d.all('SELECT v FROM t')).toEqual([]);
    expect(d.raw.inTransaction).toBe(false);
    d.raw.pragma('max_page_count = 1073741823');
    await d.batched((tx) => tx.run('INSERT INTO t VALUES (3)'));
    expect(await d.all('SELECT v FROM t')).toEqual([{ v: 3 }]);
  });

  it('gives writes that commit while a sync runs a batch and a sync of their own', async () => {
    const d = await open();
    const first = d.batched((tx) => tx.run('INSERT INTO t VALUES (1)'));
    await until(() => d.stats.barriers === 1, 'the first sync to start');
    const later = [2, 3, 4].map((v) => d.batched((tx) => tx.run('INSERT INTO t VALUES (?)', [v])));
    await Promise.all([first, ...later]);
    expect(d.stats).toEqual({ batches: 2, barriers: 2, writes: 4, fallbacks: 0 });
  });

  it('answers the writes of many event-loop turns each once it is committed: another connection sees it, a reopened database has all', async () => {
    const d = await open();
    const reader = openSqliteDatabase(d.path, { readonly: true }); // sees committed rows only
    const bursts = 8;
    const perBurst = 25;
    const writes: Promise<void>[] = [];
    try {
      for (let burst = 0; burst < bursts; burst++) {
        for (let i = 0; i < perBurst; i++) {
          const v = burst * perBurst + i;
          writes.push(
            d
              .batched((tx) => tx.run('INSERT INTO t VALUES (?)', [v]))
              .then(async () => {
                expect(d.raw.inTransaction).toBe(false);
                expect(await reader.first('SELECT v FROM t WHERE v = ?', [v])).toEqual({ v });
              }),
          );
        }
        await turn(); // the next burst arrives while this one's batch is synced
      }
      await Promise.all(writes);
    } finally {
      await reader.close();
    }
    expect(d.stats).toMatchObject({ writes: bursts * perBurst, fallbacks: 0 });
    expect(d.stats.batches).toBeGreaterThanOrEqual(bursts);
    // Batches committed while a sync ran share the next one: fewer syncs than batches is allowed, none is not.
    expect(d.stats.barriers).toBeGreaterThan(1);
    expect(d.stats.barriers).toBeLessThanOrEqual(d.stats.batches);
    await d.close();
    db = openSqliteDatabase(d.path);
    expect(await db.first('SELECT COUNT(*) AS n, COUNT(DISTINCT v) AS d, MIN(v) AS lo, MAX(v) AS hi FROM t')).toEqual({
      n: bursts * perBurst,
      d: bursts * perBurst,
      lo: 0,
      hi: bursts * perBurst - 1,
    });
  });

  it('rolls back a failing write alone: the rest of its batch commits', async () => {
    const d = await open();
    const results = await Promise.allSettled([
      d.batched((tx) => tx.run('INSERT INTO t VALUES (1)')),
      d.batched(async (tx) => {
        await tx.run('INSERT INTO t VALUES (2)');
        await tx.transaction((sp) => sp.run('INSERT INTO t VALUES (20)')); // a nested savepoint, undone too
        throw new Error('second fails');
      }),
      d.batched((tx) => tx.run('INSERT INTO t VALUES (3)')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ message: 'second fails' });
    expect(await d.all('SELECT v FROM t ORDER BY v')).toEqual([{ v: 1 }, { v: 3 }]);
    expect(d.stats).toMatchObject({ batches: 1, barriers: 1 });
  });

  it('leaves the connection in FULL mode for everybody else, also when a write fails', async () => {
    const d = await open();
    expect(synchronous(d)).toBe(2);
    await expect(
      d.batched(async (tx) => {
        await tx.run('INSERT INTO t VALUES (1)');
        expect(synchronous(d)).toBe(1); // NORMAL inside the batch
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(synchronous(d)).toBe(2);
    expect(await d.first('SELECT COUNT(*) AS n FROM t')).toEqual({ n: 0 });
  });

  it('rejects every write of a batch the database refuses, and recovers', async () => {
    const d = await open();
    d.raw.pragma('query_only = ON');
    const results = await Promise.allSettled(
      [1, 2].map((v) => d.batched((tx) => tx.run('INSERT INTO t VALUES (?)', [v]))),
    );
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    d.raw.pragma('query_only = OFF');
    await d.batched((tx) => tx.run('INSERT INTO t VALUES (3)'));
    expect(await d.all('SELECT v FROM t')).toEqual([{ v: 3 }]);
    expect(synchronous(d)).toBe(2);
  });

  it('is a savepoint of the transaction it is called on', async () => {
    const d = await open();
    await d.transaction(async (tx) => {
      await tx.run('INSERT INTO t VALUES (1)');
      await expect(
        tx.batched(async (b) => {
          expect(synchronous(d)).toBe(2); // the enclosing transaction's own durability
          await b.run('INSERT INTO t VALUES (2)');
          throw new Error('no');
        }),
      ).rejects.toThrow('no');
      expect(await tx.batched(async (b) => (await b.run('INSERT INTO t VALUES (3)')).changes)).toBe(1);
    });
    expect(await d.all('SELECT v FROM t ORDER BY v')).toEqual([{ v: 1 }, { v: 3 }]);
    expect(d.stats.barriers).toBe(0);
  });

  it('falls back to a FULL commit when there is no WAL file to sync', async () => {
    const d = await open();
    d.raw.pragma('journal_mode = DELETE');
    await Promise.all([1, 2].map((v) => d.batched((tx) => tx.run('INSERT INTO t VALUES (?)', [v]))));
    expect(d.stats).toEqual({ batches: 1, barriers: 1, writes: 2, fallbacks: 1 });
    expect((await d.first<{ at: number }>('SELECT at FROM commit_marks'))!.at).toBeGreaterThan(0);
  });

  it('does nothing special for in-memory databases', async () => {
    db = openSqliteDatabase(':memory:');
    await db.exec('CREATE TABLE t (v INTEGER)');
    await Promise.all([1, 2].map((v) => db!.batched((tx) => tx.run('INSERT INTO t VALUES (?)', [v]))));
    expect(db.stats.barriers).toBe(0);
    expect(await db.all('SELECT v FROM t ORDER BY v')).toEqual([{ v: 1 }, { v: 2 }]);
  });

  it('keeps writes that were answered: a reopened database has them', async () => {
    const d = await open();
    await Promise.all([1, 2, 3].map((v) => d.batched((tx) => tx.run('INSERT INTO t VALUES (?)', [v]))));
    await d.close();
    db = openSqliteDatabase(d.path);
    expect(await db.all('SELECT v FROM t ORDER BY v')).toEqual([{ v: 1 }, { v: 2 }, { v: 3 }]);
  });

  it.skipIf(process.platform === 'win32')('answers a committed write only once its WAL sync completed', async () => {
    const d = await open();
    await d.batched((tx) => tx.run('INSERT INTO t VALUES (0)')); // the WAL exists and has a descriptor
    const release = await holdThreadPool();
    let answered = false;
    const write = d
      .batched((tx) => tx.run('INSERT INTO t VALUES (1)'))
      .then(() => {
        answered = true;
      });
    // Committed (another connection sees it) and the mutex is free for the next request…
    await until(() => d.stats.barriers === 2, 'the sync to start');
    expect(await d.all('SELECT v FROM t ORDER BY v')).toEqual([{ v: 0 }, { v: 1 }]);
    await d.run('INSERT INTO t VALUES (2)');
    await turns(10);
    expect(answered).toBe(false); // …but not answered while the sync cannot run
    await release();
    await write;
    expect(answered).toBe(true);
  });

  it('runs the functions of one batch one after another even when they await', async () => {
    const d = await open();
    const events: string[] = [];
    await Promise.all(
      [1, 2, 3].map((v) =>
        d.batched(async (tx) => {
          events.push(`start ${v}`);
          await turns(2);
          await tx.run('INSERT INTO t VALUES (?)', [v]);
          events.push(`end ${v}`);
        }),
      ),
    );
    expect(events).toEqual(['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
    expect(d.stats.batches).toBe(1);
  });
});
