import { createTestPostgres } from '@licensor/testkit/postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { pgTables, schemaDifferences, sqliteTables } from '../introspect';
import { MIGRATIONS } from '../migrations';
import { openSqliteDatabase } from '../sqlite';
import { migratePostgres } from './migrate';
import { PG_MIGRATIONS } from './schema';

const pgTest = await createTestPostgres('parity');

describe('PostgreSQL twins of the SQLite migrations', () => {
  it('exist for every SQLite migration, with the same version and name', () => {
    const missing = MIGRATIONS.filter(
      (m) => !PG_MIGRATIONS.some((p) => p.version === m.version && p.name === m.name),
    ).map(
      (m) =>
        `SQLite migration ${String(m.version).padStart(3, '0')}_${m.name} has no PostgreSQL twin in packages/server/src/db/postgres/schema.ts`,
    );
    const extra = PG_MIGRATIONS.filter((p) => !MIGRATIONS.some((m) => m.version === p.version)).map(
      (p) => `PostgreSQL migration ${p.version} (${p.name}) has no SQLite migration`,
    );
    expect([...missing, ...extra]).toEqual([]);
  });

  describe.skipIf(!pgTest)('on a real PostgreSQL', () => {
    afterAll(() => pgTest?.drop());

    it('build the same tables, columns, keys, unique constraints and indexes from empty databases', async () => {
      const sqlite = openSqliteDatabase(':memory:');
      const pg = pgTest!.open();
      await migratePostgres(pg);
      const differences = schemaDifferences(sqliteTables(sqlite), await pgTables(pg));
      await sqlite.close();
      expect(differences).toEqual([]);
    });
  });
});

describe('schemaDifferences', () => {
  // The comparison itself must be able to fail: a SQLite migration without a twin is reported by name.
  it('names a table, a column and a unique constraint that PostgreSQL lacks', async () => {
    const sqlite = openSqliteDatabase(':memory:');
    await sqlite.exec(
      'CREATE TABLE extra (id TEXT PRIMARY KEY, k TEXT NOT NULL UNIQUE); ALTER TABLE outbox ADD COLUMN owner TEXT',
    );
    await sqlite.exec(
      'CREATE UNIQUE INDEX entitlements_customer ON entitlements(customer_id) WHERE customer_id IS NOT NULL',
    );
    const shapes = sqliteTables(sqlite);
    const reference = openSqliteDatabase(':memory:');
    const differences = schemaDifferences(shapes, sqliteTables(reference));
    await sqlite.close();
    await reference.close();
    expect(differences).toEqual([
      'unique entitlements(customer_id) WHERE … exists in SQLite but not in PostgreSQL: add it to the PostgreSQL twin in packages/server/src/db/postgres/schema.ts',
      'index entitlements_customer on entitlements exists in SQLite but not in PostgreSQL: add it to the PostgreSQL twin in packages/server/src/db/postgres/schema.ts',
      'table extra exists in SQLite but not in PostgreSQL: add it to the PostgreSQL twin in packages/server/src/db/postgres/schema.ts',
      'column outbox.owner exists in SQLite but not in PostgreSQL: add it to the PostgreSQL twin in packages/server/src/db/postgres/schema.ts',
    ]);
  });
});
