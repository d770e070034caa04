import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestPostgres } from '@licensor/testkit/postgres';
import { createTestApp } from '@licensor/testkit/server';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../app';
import { testConfig } from '../config';
import { MIGRATIONS, migrate } from '../db/migrations';
import { openPostgres } from '../db/postgres/facade';
import { migratePostgres } from '../db/postgres/migrate';
import { postgresSettings } from '../db/postgres/settings';
import { migrationTarget, openSqliteDatabase } from '../db/sqlite';
import { KeyStore } from '../keys/keystore';
import { createLogger } from '../logger';
import { postgresReadiness, type ReadinessCheck } from './readiness';

const LATEST = MIGRATIONS.at(-1)!.version;

/** The real app on a database in a chosen state (and a chosen readiness check). */
async function appWith(opts: { migrateTo?: number; readiness?: ReadinessCheck } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'licensor-readyz-'));
  const db = openSqliteDatabase(join(dir, 'licensor.db'), { migrate: false });
  migrate(migrationTarget(db.raw), opts.migrateTo ?? Number.POSITIVE_INFINITY);
  const { store: keys } = KeyStore.open(join(dir, 'keys'), 'test-passphrase');
  const licensor = await createApp({
    config: testConfig({ dataDir: dir }),
    db,
    log: createLogger('silent'),
    keys,
    readiness: opts.readiness,
  });
  return {
    app: licensor.app,
    db,
    done: async () => {
      await licensor.stop();
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('/readyz beside /healthz', () => {
  it('is 200 when the database answers and its schema is current', async () => {
    const t = await createTestApp();
    const res = await request(t.licensor.app).get('/readyz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ready', backend: 'sqlite', schemaVersion: LATEST, expectedVersion: LATEST });
    expect((await request(t.licensor.app).get('/healthz')).status).toBe(200);
    await t.destroy();
  });

  it('is 503 MIGRATIONS_PENDING while migrations are pending, and says what to run', async () => {
    const t = await appWith({ migrateTo: 6 });
    const res = await request(t.app).get('/readyz');
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ status: 'not_ready', reason: 'MIGRATIONS_PENDING', schemaVersion: 6 });
    expect(res.body.message).toContain('licensor db migrate');
    expect(res.body.pending).toEqual(MIGRATIONS.filter((m) => m.version > 6).map((m) => m.version));
    await t.done();
  });

  it('is 503 SCHEMA_NEWER when a newer build migrated the database', async () => {
    const t = await appWith();
    await t.db.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', 'now')", [
      LATEST + 1,
    ]);
    const res = await request(t.app).get('/readyz');
    expect(res.status).toBe(503);
    expect(res.body.reason).toBe('SCHEMA_NEWER');
    await t.done();
  });

  it('is 503 STORAGE_UNAVAILABLE when the database cannot answer, or not in time', async () => {
    const t = await appWith();
    await t.db.close();
    const res = await request(t.app).get('/readyz');
    expect(res.status).toBe(503);
    expect(res.body).toEqual({
      status: 'not_ready',
      reason: 'STORAGE_UNAVAILABLE',
      message: 'The database cannot be reached',
    });
    await t.done().catch(() => undefined);

    const hanging = await appWith({ readiness: () => new Promise(() => undefined) });
    const started = Date.now();
    const slow = await request(hanging.app).get('/readyz');
    expect(slow.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(4000);
    await hanging.done();
  });
});

const pgTest = await createTestPostgres('readyz');

describe.skipIf(!pgTest)('/readyz on PostgreSQL', () => {
  afterAll(() => pgTest?.drop());

  it('follows the PostgreSQL schema: pending before migrate, ready after', async () => {
    const pg = pgTest!.open();
    const t = await appWith({ readiness: postgresReadiness(pg) });
    const before = await request(t.app).get('/readyz');
    expect(before.status).toBe(503);
    expect(before.body).toMatchObject({ reason: 'MIGRATIONS_PENDING', backend: 'postgres', schemaVersion: 0 });
    await migratePostgres(pg);
    const after = await request(t.app).get('/readyz');
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({ status: 'ready', backend: 'postgres', schemaVersion: LATEST });
    await t.done();
  });

  it('is 503 STORAGE_UNAVAILABLE when PostgreSQL is unreachable', async () => {
    const gone = openPostgres('postgres://postgres@127.0.0.1:1/none', {
      settings: postgresSettings({ LICENSOR_PG_CONNECT_TIMEOUT_MS: '300' }),
    });
    const t = await appWith({ readiness: postgresReadiness(gone) });
    const res = await request(t.app).get('/readyz');
    expect(res.status).toBe(503);
    expect(res.body.reason).toBe('STORAGE_UNAVAILABLE');
    await t.done();
    await gone.close();
  });
});
