import {
  createTestPostgres,
  openTestPostgresAdmin,
  type TestPostgres,
  waitUntilUnused,
} from '@licensor/testkit/postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { pgSchemaStatus, schemaIsCurrent } from '../schemaStatus';
import { SNAPSHOT_RACE_INDEXES } from './errors';
import { openPostgres } from './facade';
import { MIGRATION_LOCK_KEY, migratePostgres, pgCurrentVersion } from './migrate';
import { PG_MIGRATIONS } from './schema';
import { postgresSettings } from './settings';

const pgTest = await createTestPostgres('migrate');
const LATEST = PG_MIGRATIONS.at(-1)!.version;

/** Runs at most `n` tasks at a time; done() waits for all and throws the first failure. */
function limit(n: number) {
  const running = new Set<Promise<void>>();
  const all: Promise<void>[] = [];
  return {
    run(task: () => Promise<void>): void {
      const started = (async () => {
        while (running.size >= n) await Promise.race(running).catch(() => undefined);
        const p = task();
        running.add(p);
        try {
          await p;
        } finally {
          running.delete(p);
        }
      })();
      started.catch(() => undefined); // reported by done()
      all.push(started);
    },
    done: async (): Promise<void> => {
      await Promise.all(all);
    },
  };
}

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

  /** One schema at the latest version, for the tests that only read it or leave it as it was. */
  let current: Promise<void> | undefined;
  async function currentSchema() {
    current ??= (async () => {
      const db = await freshSchema('m_current');
      await migratePostgres(db);
      await db.close();
    })();
    await current;
    return openOn('m_current');
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
    const db = await currentSchema();
    const names = (
      await db.all<{ indexname: string }>(
        `SELECT indexname FROM pg_indexes WHERE schemaname = 'm_current' AND indexdef LIKE 'CREATE UNIQUE INDEX%'`,
      )
    ).map((r) => r.indexname);
    expect(names).toEqual(expect.arrayContaining([...SNAPSHOT_RACE_INDEXES]));
    await db.close();
  });

  it('upgrade from every earlier version to the latest', async () => {
    // One database is migrated a version at a time and copied at each version (CREATE DATABASE … TEMPLATE): the
    // starts cost one pass of the migrations and a copy each, instead of versions² DDL transactions to build each
    // start again from empty. Each copy then upgrades to the latest as a deployment at that version would (its
    // own database, a new session), three at a time while the next copies are made.
    const source = await createTestPostgres('migrate_up');
    const admin = openTestPostgresAdmin();
    const starts: TestPostgres[] = [];
    const upgrades = limit(3);
    try {
      for (const m of PG_MIGRATIONS) {
        const db = source!.open();
        expect(await migratePostgres(db, m.version)).toEqual([m.version]);
        await db.close();
        await waitUntilUnused(admin, source!.database);
        const start = (await createTestPostgres(`migrate_from_${m.version}`, { template: source!.database }))!;
        starts.push(start);
        upgrades.run(async () => {
          const db = start.open();
          expect(await pgCurrentVersion(db)).toBe(m.version);
          expect(await migratePostgres(db)).toEqual(
            PG_MIGRATIONS.filter((x) => x.version > m.version).map((x) => x.version),
          );
          expect(await pgCurrentVersion(db)).toBe(LATEST);
          await db.close();
        });
      }
      await upgrades.done();
    } finally {
      await admin.close();
      // All at once: each DROP DATABASE waits for a checkpoint, which drops waiting together share, and a copy
      // dropped before a checkpoint starts is never written out (≈ 750–1000 files synced, against ≈ 2300 for the
      // schemas of the three databases before, and 10 000 when each copy was dropped after its upgrade).
      await Promise.all([source, ...starts].map((d) => d?.drop()));
    }
  });

  it('roll back a failing migration as a whole (DDL included)', async () => {
    const db = await currentSchema();
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
