import { createTestPostgres } from '@licensor/testkit/postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { pgSchemaStatus, schemaIsCurrent } from '../schemaStatus';
import { SNAPSHOT_RACE_INDEXES } from './errors';
import { openPostgres } from './facade';
import { MIGRATION_LOCK_KEY, migratePostgres, pgCurrentVersion } from './migrate';
import { PG_MIGRATIONS } from './schema';
import { postgresSettings } from './settings';

const pgTest = await createTestPostgres('migrate');
const LATEST = PG_MIGRATIONS.at(-1)!.version;

describe.skipIf(!pgTest)('PostgreSQL migrations', () => {
  afterAll(() => pgTest?.drop());

  /** A fresh schema inside the test database (the migrations use the connection's current schema). */
  async function freshSchema(name: string) {
    const admin = pgTest!.open();
    await admin.exec(`CREATE SCHEMA ${name}`);
    await admin.close();
    return openOn(name);
  }

  function openOn(schema: string) {
    const u = new URL(pgTest!.url);
    u.searchParams.set('options', `-c search_path=${schema}`);
    return openPostgres(u.toString(), { settings: postgresSettings({ LICENSOR_PG_POOL_SIZE: '2' }) });
  }

  it('build the schema from empty, record every version and then have nothing to do', async () => {
    const db = await freshSchema('m_empty');
    expect(await pgCurrentVersion(db)).toBe(0);
    expect((await pgSchemaStatus(db)).pending).toHaveLength(PG_MIGRATIONS.length);
    expect(await migratePostgres(db)).toEqual(PG_MIGRATIONS.map((m) => m.version));
    expect(await pgCurrentVersion(db)).toBe(LATEST);
    expect(await migratePostgres(db)).toEqual([]);
    const status = await pgSchemaStatus(db);
    expect(schemaIsCurrent(status)).toBe(true);
    expect(await db.all('SELECT version, name FROM schema_migrations ORDER BY version')).toEqual(
      PG_MIGRATIONS.map((m) => ({ version: m.version, name: m.name })),
    );
    await db.close();
  });

  it('has every unique index whose violation reruns a transaction (a misspelt name would fail instead)', async () => {
    const db = await freshSchema('m_unique');
    await migratePostgres(db);
    const names = (
      await db.all<{ indexname: string }>(
        `SELECT indexname FROM pg_indexes WHERE schemaname = 'm_unique' AND indexdef LIKE 'CREATE UNIQUE INDEX%'`,
      )
    ).map((r) => r.indexname);
    expect(names).toEqual(expect.arrayContaining([...SNAPSHOT_RACE_INDEXES]));
    await db.close();
  });

  it('upgrade from every earlier version to the latest', async () => {
    // Every start runs each migration once (versions² DDL transactions), waiting on PostgreSQL far more than
    // computing: the starts are shared out over three databases at once (the migration lock is per database, so
    // in one they would queue). At a load of 11 this took 16-29 s in one database and 9-11 s in three.
    const more = await Promise.all([createTestPostgres('migrate_up_b'), createTestPostgres('migrate_up_c')]);
    const targets = [pgTest!, ...more.map((d) => d!)];
    try {
      await Promise.all(
        targets.map(async (target, k) => {
          for (const m of PG_MIGRATIONS.filter((_, i) => i % targets.length === k)) {
            const db = openPostgres(await target.schemaUrl(`m_from_${m.version}`), {
              settings: postgresSettings({ LICENSOR_PG_POOL_SIZE: '2' }),
            });
            await migratePostgres(db, m.version);
            expect(await pgCurrentVersion(db)).toBe(m.version);
            expect(await migratePostgres(db)).toEqual(
              PG_MIGRATIONS.filter((x) => x.version > m.version).map((x) => x.version),
            );
            expect(await pgCurrentVersion(db)).toBe(LATEST);
            await db.close();
          }
        }),
      );
    } finally {
      await Promise.all(more.map((d) => d?.drop()));
    }
  });

  it('roll back a failing migration as a whole (DDL included)', async () => {
    const db = await freshSchema('m_broken');
    await migratePostgres(db);
    const err = await migratePostgres(db, Number.POSITIVE_INFINITY, [
      ...PG_MIGRATIONS,
      { version: LATEST + 1, name: 'broken', sql: 'CREATE TABLE t1 (a text); SELECT nope FROM nowhere;' },
    ]).catch((e) => e);
    expect(err.code).toBe('INTERNAL');
    expect(await pgCurrentVersion(db)).toBe(LATEST);
    expect(await db.first("SELECT to_regclass('t1')::text AS t")).toEqual({ t: null });
    // The lock was released: another migration run gets it at once.
    expect(await migratePostgres(db)).toEqual([]);
    await db.close();
  });

  it('apply each migration exactly once when several instances start together (advisory lock)', async () => {
    await (await freshSchema('m_race')).close();
    const pools = [1, 2, 3, 4].map(() => openOn('m_race'));
    const results = await Promise.all(pools.map((p) => migratePostgres(p)));
    expect(results.flat().sort((a, b) => a - b)).toEqual(PG_MIGRATIONS.map((m) => m.version));
    expect(results.filter((r) => r.length > 0)).toHaveLength(1);
    const rows = await pools[0]!.all<{ version: number }>('SELECT version FROM schema_migrations');
    expect(rows).toHaveLength(PG_MIGRATIONS.length);
    // Advisory locks belong to a database: other test files migrating their own databases at the same time hold
    // the same key there, so only this database's count.
    const held = await pools[0]!.first<{ n: number }>(
      "SELECT COUNT(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND ((classid::bigint << 32) | objid::bigint) = ?::bigint",
      [MIGRATION_LOCK_KEY],
    );
    expect(held?.n).toBe(0);
    await Promise.all(pools.map((p) => p.close()));
  });

  it('005 re-keys device_nonces by time, keeping its rows and refusing exact replays only', async () => {
    const db = await freshSchema('m_005');
    await migratePostgres(db, 4);
    await db.run("INSERT INTO device_nonces VALUES ('act-a', 'n1', 1700000300000), ('act-b', 'n1', 1700000200000)");
    await migratePostgres(db, 5);
    expect(await db.all('SELECT activation_id, nonce, expires_at FROM device_nonces ORDER BY activation_id')).toEqual([
      { activation_id: 'act-a', nonce: 'n1', expires_at: 1_700_000_300_000 },
      { activation_id: 'act-b', nonce: 'n1', expires_at: 1_700_000_200_000 },
    ]);
    const insert = 'INSERT INTO device_nonces VALUES (?, ?, ?) ON CONFLICT DO NOTHING';
    expect((await db.run(insert, ['act-a', 'n1', 1_700_000_300_000])).changes).toBe(0);
    expect((await db.run(insert, ['act-a', 'n1', 1_700_000_400_000])).changes).toBe(1);
    await db.close();
  });
  it('015 gives licenses from before 013 their seat count back (the twin of the SQLite test)', async () => {
    const db = await freshSchema('m_015');
    await migratePostgres(db, 12);
    const at = '2026-01-01T00:00:00.000Z';
    await db.run(`INSERT INTO catalog_products (product_id, seats, created_at, updated_at) VALUES ('p', 2, ?, ?)`, [
      at,
      at,
    ]);
    await db.run(
      `INSERT INTO catalog_skus (product_id, sku_code, edition, seats, created_at, updated_at) VALUES ('p', 'solo', 'Solo', 1, ?, ?)`,
      [at, at],
    );
    for (const [id, sku, seats] of [
      ['bought-10-solo', 'solo', 10],
      ['bought-4', null, 4],
    ] as const) {
      await db.run(
        `INSERT INTO entitlements (id, family, product_id, sku_code, seats, status, test, created_at, updated_at)
         VALUES (?, 'A', 'p', ?, ?, 'active', 0, ?, ?)`,
        [id, sku, seats, at, at],
      );
    }
    const seats = () => db.all('SELECT id, seats, ordered_seats FROM entitlements ORDER BY id');
    await migratePostgres(db, 14);
    expect(await seats()).toEqual([
      { id: 'bought-10-solo', seats: 1, ordered_seats: 10 },
      { id: 'bought-4', seats: 2, ordered_seats: 4 },
    ]);
    await migratePostgres(db, 15);
    expect(await seats()).toEqual([
      { id: 'bought-10-solo', seats: 10, ordered_seats: 10 },
      { id: 'bought-4', seats: 4, ordered_seats: 4 },
    ]);
    await db.close();
  });

  it('020 numbers existing licenses in creation order and new ones after them (the twin of the SQLite test)', async () => {
    const db = await freshSchema('m_020');
    await migratePostgres(db, 18);
    const ent = (id: string, day: number) =>
      db.run(
        `INSERT INTO entitlements (id, family, seats, status, test, created_at, updated_at)
         VALUES (?, 'direct', 1, 'active', 0, ?, ?)`,
        [id, `2026-01-0${day}T00:00:00.000Z`, `2026-01-0${day}T00:00:00.000Z`],
      );
    await ent('b-second', 2);
    await ent('a-first', 1);
    await ent('c-third', 3);
    await migratePostgres(db, 20);
    await ent('d-fourth', 4);
    expect(await db.all('SELECT id, seq FROM entitlements ORDER BY seq')).toEqual([
      { id: 'a-first', seq: 1 },
      { id: 'b-second', seq: 2 },
      { id: 'c-third', seq: 3 },
      { id: 'd-fourth', seq: 4 },
    ]);
    await db.close();
  });
});
