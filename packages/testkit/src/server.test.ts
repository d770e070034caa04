import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteDatabase } from '@licensor/server';
import { afterAll, describe, expect, it } from 'vitest';
import { openMemoryTestDatabase, openTestDatabase } from './server';

const dir = mkdtempSync(join(tmpdir(), 'licensor-testkit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const versions = async (file: string) => {
  const db = openSqliteDatabase(file, { migrate: false });
  try {
    return (await db.all<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')).map(
      (r) => r.version,
    );
  } finally {
    await db.close();
  }
};

describe('openTestDatabase (a copy of a migrated template)', () => {
  it('has the schema a fresh migration gives, in a private file of its own; a restart keeps what was written', async () => {
    await openSqliteDatabase(join(dir, 'migrated.db')).close();
    const a = await openTestDatabase(join(dir, 'a.db'));
    const b = await openTestDatabase(join(dir, 'b.db'));
    await a.run("INSERT INTO audit_log (at, actor, action) VALUES ('2026-01-01T00:00:00.000Z', 'test', 'only.in.a')");
    expect(await b.all("SELECT * FROM audit_log WHERE action = 'only.in.a'")).toEqual([]);
    await a.close();
    await b.close();
    expect(await versions(join(dir, 'a.db'))).toEqual(await versions(join(dir, 'migrated.db')));
    expect((await versions(join(dir, 'a.db'))).length).toBeGreaterThan(10);
    if (typeof process.getuid === 'function') expect(statSync(join(dir, 'a.db')).mode & 0o077).toBe(0);
    const reopened = await openTestDatabase(join(dir, 'a.db'));
    expect(await reopened.all("SELECT action FROM audit_log WHERE action = 'only.in.a'")).toHaveLength(1);
    await reopened.close();
  });
});

describe('openMemoryTestDatabase (the migrated schema replayed in memory)', () => {
  it('has the schema objects and the migration ledger a migrated in-memory database has, and is a database of its own', async () => {
    const schema = (db: { raw: { prepare(sql: string): { all(): unknown[] } } }) =>
      db.raw
        .prepare("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite%' ORDER BY name")
        .all();
    const ledger = (db: { raw: { prepare(sql: string): { all(): unknown[] } } }) =>
      db.raw.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all();
    const migrated = openSqliteDatabase(':memory:');
    const a = openMemoryTestDatabase();
    const b = openMemoryTestDatabase();
    try {
      expect(schema(a)).toEqual(schema(migrated));
      expect(ledger(a)).toEqual(ledger(migrated));
      expect(ledger(a).length).toBeGreaterThan(20);
      await a.run("INSERT INTO audit_log (at, actor, action) VALUES ('2026-01-01T00:00:00.000Z', 'test', 'only.in.a')");
      expect(await b.all("SELECT * FROM audit_log WHERE action = 'only.in.a'")).toEqual([]);
    } finally {
      await Promise.all([migrated.close(), a.close(), b.close()]);
    }
  });
});
