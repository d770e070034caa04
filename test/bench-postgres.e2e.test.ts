import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LicenseVerifier } from '@licensor/shared';
import { requirePostgres, TEST_PG_ADMIN_URL } from '@licensor/testkit/postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  activationRequests,
  checkInRequests,
  type Device,
  floorCheckInRequests,
  newDevice,
  writeFloorKeys,
} from '../packages/server/bench/activation-bench';
import { type Child, startFloor, startLicensorServer } from '../packages/server/bench/lib';
import {
  type BenchPostgres,
  backendPids,
  createBenchPostgres,
  seedPostgres,
  xactCounts,
} from '../packages/server/bench/postgres';

/**
 * The PostgreSQL section of `npm run bench` (bench/lib/postgres.ts) in small: the SQL seed must stay what the API
 * would have written (a seeded device checks in, a free code takes a new device, the seat limit holds), and the
 * PostgreSQL floor must do its durable write there. Without this a schema change would break the seed, or the
 * floor would silently write to SQLite, and the section's numbers would measure error answers.
 */

const reachable = await requirePostgres('bench PostgreSQL section');

describe.skipIf(!reachable)('benchmark on PostgreSQL', () => {
  let pg: BenchPostgres;
  let dir: string;
  let keys: Device[];
  let server: Child;
  let floor: Child;
  let seed: Awaited<ReturnType<typeof seedPostgres>>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'licensor-bench-pg-'));
    keys = [newDevice(), newDevice(), newDevice()];
    pg = await createBenchPostgres('smoke', TEST_PG_ADMIN_URL);
    seed = await seedPostgres(pg.db, { prefix: 't_', freeCodes: 2, activations: 10, keys });
    const started = await Promise.allSettled([
      startLicensorServer({ LICENSOR_DATA_DIR: dir, LICENSOR_DATABASE_URL: pg.url, LICENSOR_API_RATE_LIMIT: '0' }),
      startFloor(writeFloorKeys(join(dir, 'floor-keys.json'), keys), pg.url),
    ]);
    // Keep whichever came up, so afterAll stops it even when the other did not.
    if (started[0].status === 'fulfilled') server = started[0].value;
    if (started[1].status === 'fulfilled') floor = started[1].value;
    for (const s of started) if (s.status === 'rejected') throw s.reason;
  }, 120_000);
  afterAll(async () => {
    await Promise.all([server?.stop(), floor?.stop()]);
    await pg?.drop();
    rmSync(dir, { recursive: true, force: true });
    if (floor) rmSync(floor.dataDir, { recursive: true, force: true });
  });

  const post = async (url: string, path: string, body: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
    return { status: res.status, json: (await res.json().catch(() => ({}))) as Record<string, unknown> };
  };

  it('seeds licenses, devices and their keys in the shape the API writes', async () => {
    const count = async (sql: string) => Number((await pg.db.first<{ n: number }>(sql))!.n);
    expect(await count('SELECT COUNT(*) AS n FROM activations')).toBe(10);
    expect(await count('SELECT COUNT(*) AS n FROM activation_keys')).toBe(10);
    // 10 devices, 3 per license: 4 licenses, plus the 2 free ones.
    expect(await count('SELECT COUNT(*) AS n FROM entitlements')).toBe(6);
    expect(seed.seeded.map((s) => s.key)).toEqual([0, 1, 2, 0, 1, 2, 0, 1, 2, 0]);
  });

  it('a seeded device checks in (its key verifies, its License file names it)', async () => {
    const [c] = checkInRequests(seed.seeded.slice(4, 5), keys, 1);
    const res = await post(server.url, c!.path, c!.body, { 'licensor-device-signature': c!.signature });
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    expect(res.json.status).toBe('VALID');
    const root = readFileSync(join(dir, 'keys', 'root.crt.pem'), 'utf8');
    expect(new LicenseVerifier({ roots: [root] }).verify(res.json.license as string).payload.lid).toBe(
      seed.seeded[4]!.id,
    );
  });

  it('a free code takes three new devices and refuses a fourth (the seed left its seats free)', async () => {
    const bodies = activationRequests(seed.codes.slice(0, 1), 4);
    const answers = [];
    for (const body of bodies) answers.push(await post(server.url, '/api/v1/activations', body));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 409]);
  });

  it('the PostgreSQL floor writes one row per request in the database, and its backends are visible', async () => {
    const rows = async () => Number((await pg.db.first<{ n: number }>('SELECT COUNT(*) AS n FROM floor_writes'))!.n);
    const before = await rows();
    const [body] = activationRequests(['LSR-FLOOR'], 1);
    expect((await post(floor.url, '/floor/activations', body!)).status).toBe(200);
    const [c] = floorCheckInRequests(keys, 1);
    expect((await post(floor.url, c!.path, c!.body, { 'licensor-device-signature': c!.signature })).status).toBe(200);
    expect(await rows()).toBe(before + 2);
    expect((await backendPids(pg.db, pg.database)).length).toBeGreaterThan(0);
    expect((await xactCounts(pg.db, pg.database)).commits).toBeGreaterThan(0);
  });
});
