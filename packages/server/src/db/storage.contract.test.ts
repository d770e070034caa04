import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LicensorError } from '@licensor/shared';
import { createTestPostgres } from '@licensor/testkit/postgres';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openPostgres } from './postgres/facade';
import { postgresSettings } from './postgres/settings';
import { postgresDatabase } from './postgres/storage';
import { openSqliteDatabase } from './sqlite';
import type { Database, Storage } from './storage';

// One contract, both backends (issue 16): what domain code may rely on whichever database it runs on.
// Without a reachable PostgreSQL its half is skipped with a warning (a failure under CI=true, testkit/postgres.ts).

const pgTest = await createTestPostgres('storage-contract');
afterAll(() => pgTest?.drop());

const SCHEMA = `
  CREATE TABLE t (v INTEGER NOT NULL);
  CREATE TABLE u (k TEXT PRIMARY KEY, n INTEGER NOT NULL)`;

interface Backend {
  name: 'sqlite' | 'postgres';
  /** A database with the tables of SCHEMA, empty; undefined when the backend is not available here. */
  open: (() => Promise<{ db: Database; done: () => Promise<void> }>) | undefined;
}

const backends: Backend[] = [
  {
    name: 'sqlite',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'licensor-contract-'));
      const db = openSqliteDatabase(join(dir, 'licensor.db'), { migrate: false });
      await db.exec(SCHEMA);
      return {
        db,
        done: async () => {
          await db.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'postgres',
    open: pgTest
      ? async () => {
          // A pool wider than the tests' default, so concurrent transactions really run at once.
          const db = postgresDatabase(openPostgres(pgTest.url, { settings: { ...postgresSettings(), poolSize: 8 } }));
          await db.exec(`DROP TABLE IF EXISTS t, u; ${SCHEMA}`);
          return { db, done: () => db.close() };
        }
      : undefined,
  },
];

const turn = () => new Promise<void>((r) => setImmediate(r));
const values = async (q: Storage) => (await q.all<{ v: number }>('SELECT v FROM t ORDER BY v')).map((r) => r.v);

describe.each(backends)('storage contract on $name', ({ name, open }) => {
  if (!open) {
    it.skip(`${name} is not reachable here (see the warning above)`, () => {});
    return;
  }
  let db: Database;
  let done: () => Promise<void>;
  beforeEach(async () => {
    ({ db, done } = await open());
  });
  afterEach(() => done());

  it('answers all, first and run with the same shapes', async () => {
    expect(db.dialect).toBe(name);
    expect(await db.run('INSERT INTO t (v) VALUES (?), (?), (?)', [3, 1, 2])).toEqual({ changes: 3 });
    expect(await db.all('SELECT v FROM t ORDER BY v')).toEqual([{ v: 1 }, { v: 2 }, { v: 3 }]);
    expect(await db.first('SELECT v FROM t WHERE v > ? ORDER BY v', [1])).toEqual({ v: 2 });
    expect(await db.first('SELECT v FROM t WHERE v > ?', [9])).toBeUndefined();
    expect(await db.run('UPDATE t SET v = v + 10 WHERE v >= ?', [2])).toEqual({ changes: 2 });
    expect(await db.run('DELETE FROM t WHERE v = ?', [99])).toEqual({ changes: 0 });
    expect(await db.first('SELECT COUNT(*) AS n FROM t')).toEqual({ n: 3 });
    await db.ping();
  });

  it('commits a transaction whole, and rolls it back whole with the error fn threw', async () => {
    expect(
      await db.transaction(async (tx) => {
        await tx.run('INSERT INTO t (v) VALUES (?)', [1]);
        await tx.run('INSERT INTO t (v) VALUES (?)', [2]);
        return values(tx);
      }),
    ).toEqual([1, 2]);
    const boom = new Error('boom');
    await expect(
      db.transaction(async (tx) => {
        await tx.run('INSERT INTO t (v) VALUES (?)', [3]);
        throw boom;
      }),
    ).rejects.toBe(boom);
    const refused = new LicensorError('TOO_MANY_DEVICES', 'no seat left');
    await expect(
      db.transaction(async (tx) => {
        await tx.run('INSERT INTO t (v) VALUES (?)', [4]);
        throw refused;
      }),
    ).rejects.toBe(refused);
    expect(await values(db)).toEqual([1, 2]);
  });

  it('makes a nested transaction a savepoint: its failure undoes only its writes', async () => {
    await db.transaction(async (tx) => {
      await tx.run('INSERT INTO t (v) VALUES (1)');
      await expect(
        tx.transaction(async (sp) => {
          await sp.run('INSERT INTO t (v) VALUES (2)');
          await sp.transaction((deeper) => deeper.run('INSERT INTO t (v) VALUES (3)'));
          expect(await values(sp)).toEqual([1, 2, 3]);
          throw new Error('inner');
        }),
      ).rejects.toThrow('inner');
      await tx.transaction((sp) => sp.run('INSERT INTO t (v) VALUES (4)'));
    });
    expect(await values(db)).toEqual([1, 4]);
  });

  it('runs concurrent savepoints of one transaction one after another', async () => {
    const events: string[] = [];
    await db.transaction(async (tx) => {
      const results = await Promise.allSettled(
        [1, 2, 3].map((v) =>
          tx.transaction(async (sp) => {
            events.push(`start ${v}`);
            await sp.run('INSERT INTO t (v) VALUES (?)', [v]);
            await turn();
            events.push(`end ${v}`);
            if (v === 2) throw new Error('second fails');
          }),
        ),
      );
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    });
    expect(events).toEqual(['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
    expect(await values(db)).toEqual([1, 3]);
  });

  it('isolates concurrent batched writes from one another: a failure rejects only its caller', async () => {
    const results = await Promise.allSettled(
      [1, 2, 3, 4].map((v) =>
        db.batched(async (tx) => {
          await tx.run('INSERT INTO t (v) VALUES (?)', [v]);
          await tx.transaction((sp) => sp.run('INSERT INTO t (v) VALUES (?)', [v * 10]));
          if (v === 2) throw new Error('second fails');
          return v;
        }),
      ),
    );
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
      1,
      'second fails',
      3,
      4,
    ]);
    expect(await values(db)).toEqual([1, 3, 4, 10, 30, 40]);
    // On a transaction's handle, batched is a savepoint of it.
    await db.transaction(async (tx) => {
      await expect(
        tx.batched(async (b) => {
          await b.run('INSERT INTO t (v) VALUES (5)');
          throw new Error('no');
        }),
      ).rejects.toThrow('no');
      await tx.batched((b) => b.run('INSERT INTO t (v) VALUES (6)'));
    });
    expect(await values(db)).toEqual([1, 3, 4, 6, 10, 30, 40]);
  });

  it('gives 30 concurrent read-then-write increments the effect of running one after another', async () => {
    await db.run('INSERT INTO u (k, n) VALUES (?, ?)', ['counter', 0]);
    const increment = () =>
      db.transaction(async (tx) => {
        const row = await tx.first<{ n: number }>('SELECT n FROM u WHERE k = ?', ['counter']);
        await turn(); // the others get every chance to read the same value
        await tx.run('UPDATE u SET n = ? WHERE k = ?', [row!.n + 1, 'counter']);
        await tx.run('INSERT INTO t (v) VALUES (?)', [row!.n]);
      });
    await Promise.all(Array.from({ length: 30 }, increment));
    expect(await db.first('SELECT n FROM u WHERE k = ?', ['counter'])).toEqual({ n: 30 });
    // Each transaction saw a distinct value: none read a state another one was about to change.
    expect(await values(db)).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });

  it('queues 30 concurrent read-then-write increments on a locked row at read committed: none reruns', async () => {
    await db.run('INSERT INTO u (k, n) VALUES (?, ?)', ['counter', 0]);
    let attempts = 0;
    const increment = () =>
      db.transaction(
        async (tx) => {
          attempts++;
          const row = await tx.lockRow<{ k: string; n: number }>('u', 'k', 'counter');
          await turn(); // the others get every chance to read the same value
          await tx.run('UPDATE u SET n = ? WHERE k = ?', [row!.n + 1, 'counter']);
          await tx.run('INSERT INTO t (v) VALUES (?)', [row!.n]);
        },
        { isolation: 'read committed' },
      );
    await Promise.all(Array.from({ length: 30 }, increment));
    expect(await db.first('SELECT n FROM u WHERE k = ?', ['counter'])).toEqual({ n: 30 });
    expect(await values(db)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    // They waited for the lock instead of colliding: each function ran once (SERIALIZABLE reruns them here).
    expect(attempts).toBe(30);
  });

  it('answers lockRow with the row (undefined for none), only inside a transaction and for plain identifiers', async () => {
    await db.run('INSERT INTO u (k, n) VALUES (?, ?)', ['a', 7]);
    await db.transaction(async (tx) => {
      expect(await tx.lockRow('u', 'k', 'a')).toEqual({ k: 'a', n: 7 });
      expect(await tx.lockRow('u', 'k', 'missing')).toBeUndefined();
      await tx.transaction(async (sp) => expect(await sp.lockRow('u', 'k', 'a')).toEqual({ k: 'a', n: 7 }));
      await expect(tx.lockRow('u; DROP TABLE u', 'k', 'a')).rejects.toMatchObject({ code: 'STORAGE_MISUSE' });
    });
    // Outside a transaction the lock would end with the statement: refused whether or not checks are on.
    await expect(db.lockRow('u', 'k', 'a')).rejects.toMatchObject({ code: 'STORAGE_MISUSE' });
    expect(await db.first('SELECT n FROM u WHERE k = ?', ['a'])).toEqual({ n: 7 });
  });

  it("refuses a savepoint that asks for 'serializable' inside a 'read committed' transaction", async () => {
    const nested = await db
      .transaction(
        (tx) => tx.transaction((sp) => sp.run('INSERT INTO t (v) VALUES (1)'), { isolation: 'serializable' }),
        { isolation: 'read committed' },
      )
      .catch((e: unknown) => e);
    expect(nested).toMatchObject({ code: 'STORAGE_MISUSE' });
    // Weaker than or the same as the enclosing transaction, or unset (inherited): allowed.
    await db.transaction(
      async (tx) => {
        await tx.transaction((sp) => sp.run('INSERT INTO t (v) VALUES (2)'), { isolation: 'read committed' });
        await tx.batched((sp) => sp.run('INSERT INTO t (v) VALUES (3)'));
      },
      { isolation: 'serializable' },
    );
    await db.batched((tx) => tx.transaction((sp) => sp.run('INSERT INTO t (v) VALUES (4)')), {
      isolation: 'read committed',
    });
    expect(await values(db)).toEqual([2, 3, 4]);
  });

  it('reports a duplicate key as CONFLICT and a NOT NULL violation as INVALID_INPUT', async () => {
    await db.run('INSERT INTO u (k, n) VALUES (?, ?)', ['a', 1]);
    const dup = await db.run('INSERT INTO u (k, n) VALUES (?, ?)', ['a', 2]).catch((e: unknown) => e);
    expect(dup).toBeInstanceOf(LicensorError);
    expect(dup).toMatchObject({ code: 'CONFLICT' });
    const inTx = await db
      .transaction((tx) => tx.run('INSERT INTO u (k, n) VALUES (?, ?)', ['a', 3]))
      .catch((e: unknown) => e);
    expect(inTx).toMatchObject({ code: 'CONFLICT' });
    await expect(db.run('INSERT INTO u (k, n) VALUES (?, NULL)', ['b'])).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
    expect(await db.all('SELECT k, n FROM u')).toEqual([{ k: 'a', n: 1 }]);
  });

  it('refuses (tests: LICENSOR_STORAGE_CHECKS=1) a top-level query inside a transaction, and a handle used after it', async () => {
    const inside = await db.transaction(async () => db.first('SELECT 1 AS x')).catch((e: unknown) => e);
    expect(inside).toMatchObject({ code: 'STORAGE_MISUSE' });
    const inBatch = await db.batched(async () => db.run('INSERT INTO t (v) VALUES (1)')).catch((e: unknown) => e);
    expect(inBatch).toMatchObject({ code: 'STORAGE_MISUSE' });
    let leaked: Storage | undefined;
    await db.transaction(async (tx) => {
      leaked = tx;
    });
    await expect(leaked!.run('INSERT INTO t (v) VALUES (2)')).rejects.toMatchObject({ code: 'STORAGE_MISUSE' });
    expect(await values(db)).toEqual([]);
  });
});

/** A promise and its resolver, to put two transactions' statements in a chosen order. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  return { open, opened };
}

// What the isolation option changes, which only PostgreSQL can show: on SQLite the second transaction of each
// test below could not even begin before the first ended.
describe.runIf(pgTest)('isolation on postgres', () => {
  let db: Database;
  beforeEach(async () => {
    db = postgresDatabase(openPostgres(pgTest!.url, { settings: { ...postgresSettings(), poolSize: 4 } }));
    await db.exec(`DROP TABLE IF EXISTS t, u; ${SCHEMA}`);
    await db.run('INSERT INTO u (k, n) VALUES (?, ?)', ['counter', 0]);
  });
  afterEach(() => db.close());

  const level = (tx: Storage) =>
    tx.first<{ transaction_isolation: string }>('SHOW transaction_isolation').then((r) => r!.transaction_isolation);

  it('runs a transaction at the level it asks for, serializable when it asks for none', async () => {
    expect(await db.transaction(level)).toBe('serializable');
    expect(await db.transaction(level, { isolation: 'read committed' })).toBe('read committed');
    expect(await db.batched(level, { isolation: 'read committed' })).toBe('read committed');
    expect(await db.transaction((tx) => tx.transaction(level), { isolation: 'read committed' })).toBe('read committed');
  });

  it('loses an update at read committed without a lock: the option is for transactions that lock what they decide on', async () => {
    const aRead = gate();
    const bRead = gate();
    let attempts = 0;
    const increment = (mine: ReturnType<typeof gate>, other: ReturnType<typeof gate>) =>
      db.transaction(
        async (tx) => {
          attempts++;
          const row = await tx.first<{ n: number }>('SELECT n FROM u WHERE k = ?', ['counter']);
          mine.open();
          await other.opened; // both have read 0 before either writes
          await tx.run('UPDATE u SET n = ? WHERE k = ?', [row!.n + 1, 'counter']);
        },
        { isolation: 'read committed' },
      );
    await Promise.all([increment(aRead, bRead), increment(bRead, aRead)]);
    expect(attempts).toBe(2);
    expect(await db.first('SELECT n FROM u WHERE k = ?', ['counter'])).toEqual({ n: 1 });
  });

  it("makes a serializable transaction that read a row before another's lockRow rerun when it writes the row", async () => {
    const serialRead = gate();
    const lockerDone = gate();
    let attempts = 0;
    const serial = db.transaction(async (tx) => {
      attempts++;
      const row = await tx.first<{ n: number }>('SELECT n FROM u WHERE k = ?', ['counter']);
      const seen = (await values(tx)).length;
      if (attempts === 1) {
        serialRead.open();
        await lockerDone.opened; // the locker commits a row of t between this read and the write below
      }
      await tx.run('UPDATE u SET n = ? WHERE k = ?', [row!.n + 100 + seen, 'counter']);
    });
    await serialRead.opened;
    await db.transaction(
      async (tx) => {
        const row = await tx.lockRow<{ n: number }>('u', 'k', 'counter');
        await tx.run('INSERT INTO t (v) VALUES (?)', [row!.n]);
      },
      { isolation: 'read committed' },
    );
    lockerDone.open();
    await serial;
    // Its first run decided on a view without the locker's row; it reran and saw it (a plain FOR UPDATE lock
    // would have let it commit 100).
    expect(attempts).toBe(2);
    expect(await db.first('SELECT n FROM u WHERE k = ?', ['counter'])).toEqual({ n: 101 });
  });
});
