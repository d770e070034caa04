import { describe, expect, it } from 'vitest';
import { openDatabase } from './database';
import { currentVersion, MIGRATIONS, migrate } from './migrations';

describe('migrations', () => {
  it('build the schema from an empty database', () => {
    const db = openDatabase(':memory:');
    expect(currentVersion(db)).toBe(MIGRATIONS.at(-1)!.version);
    expect(db.integrityCheck()).toEqual(['ok']);
    expect(migrate(db)).toEqual([]);
    db.close();
  });

  it('upgrade from every earlier version to the latest', () => {
    for (const m of MIGRATIONS) {
      const db = openDatabase(':memory:', { migrate: false });
      migrate(db, m.version);
      expect(currentVersion(db)).toBe(m.version);
      const applied = migrate(db);
      expect(applied).toEqual(MIGRATIONS.filter((x) => x.version > m.version).map((x) => x.version));
      expect(currentVersion(db)).toBe(MIGRATIONS.at(-1)!.version);
      expect(db.integrityCheck()).toEqual(['ok']);
      db.close();
    }
  });

  it('have strictly increasing versions', () => {
    const versions = MIGRATIONS.map((m) => m.version);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);
  });

  it('roll back a failing migration as a whole', () => {
    const db = openDatabase(':memory:');
    const before = currentVersion(db);
    expect(() =>
      migrate(db, Number.POSITIVE_INFINITY, [
        { version: before + 1, name: 'broken', sql: 'CREATE TABLE t1 (a); SELECT nope FROM nowhere;' },
      ]),
    ).toThrow();
    expect(currentVersion(db)).toBe(before);
    expect(db.first("SELECT name FROM sqlite_master WHERE name = 't1'")).toBeUndefined();
    db.close();
  });
});
