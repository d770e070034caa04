import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from './database';

const tmpDb = () => openDatabase(join(mkdtempSync(join(tmpdir(), 'licensor-db-')), 'db.sqlite'));

describe('Db facade', () => {
  it('runs in WAL mode with synchronous=FULL', () => {
    const db = tmpDb();
    expect(db.raw.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.raw.pragma('synchronous', { simple: true })).toBe(2);
    db.close();
  });

  it('group-commits concurrent batched work, isolating one failure to its own writes', async () => {
    const db = tmpDb();
    db.exec('CREATE TABLE t (k TEXT PRIMARY KEY)');
    const results = await Promise.allSettled(
      ['a', 'b', 'a', 'c'].map((k) =>
        db.batched(() => {
          db.run('INSERT INTO t (k) VALUES (?)', [k]);
          return k;
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(db.all<{ k: string }>('SELECT k FROM t ORDER BY k').map((r) => r.k)).toEqual(['a', 'b', 'c']);
    db.close();
  });

  it('rejects every member of a batch whose commit fails', async () => {
    const db = tmpDb();
    db.exec('CREATE TABLE t (k TEXT PRIMARY KEY)');
    // Deferred foreign-key violations surface only at COMMIT: the whole batch must fail, nothing acknowledged.
    db.exec('CREATE TABLE child (p TEXT REFERENCES t(k) DEFERRABLE INITIALLY DEFERRED)');
    const results = await Promise.allSettled([
      db.batched(() => db.run('INSERT INTO t (k) VALUES (?)', ['x'])),
      db.batched(() => db.run('INSERT INTO child (p) VALUES (?)', ['missing'])),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(db.all('SELECT * FROM t')).toEqual([]);
    db.close();
  });
});
