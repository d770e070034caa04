import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Db, openDatabase } from './database';
import { GroupCommit } from './groupCommit';

let dir: string;
let db: Db;
afterEach(() => {
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

  it('runs one sync at a time; writes that commit meanwhile share the next one', async () => {
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
});
