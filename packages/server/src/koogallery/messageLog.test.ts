import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyBodySign } from '@licensor/shared';
import {
  createTestApp,
  openTestDatabase,
  PRODUCE,
  signedGetUrl,
  signedPostUrl,
  type TestApp,
  type TestDatabase,
} from '@licensor/testkit/server';
import request from 'supertest';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { createApp, type LicensorApp } from '../app';
import { type Config, testConfig } from '../config';
import type { Storage } from '../db/storage';
import { startScheduler } from '../jobs/daily';
import { KeyStore } from '../keys/keystore';
import { kitPath } from '../kit';
import { createLogger } from '../logger';
import { formatCompactTime } from './time';

/** The production interface's message log and its door: truncation, counting, retention, per-address limits. */

let t: TestApp | undefined;
afterEach(async () => {
  await t?.destroy();
  t = undefined;
});

const BIG = 80 * 1024;
const uid = () => Math.random().toString(36).slice(2, 10).toUpperCase();
const getLicense = (orderId: string) =>
  signedGetUrl({
    activity: 'getLicense',
    businessId: `biz-${orderId}`,
    customerId: 'cust-1',
    orderId,
    productId: 'OFFI0001',
    expireTime: formatCompactTime(new Date(Date.now() + 365 * 86_400_000)),
    periodType: 'year',
    periodNumber: '1',
    amount: '1',
  });

interface Row {
  activity: string;
  order_id: string | null;
  code: string | null;
  entitlement_id: string | null;
  result_code: string;
  refused: number;
  created_at: string;
}
const rows = async (db: Storage, app: LicensorApp) => {
  await app.ctx.messages.flush();
  return await db.all<Row>('SELECT * FROM marketplace_messages ORDER BY id');
};

const metric = async (app: LicensorApp, config: Config, name: string, labels: string) => {
  const res = await request(app.app).get('/metrics').set('Authorization', `Bearer ${config.metrics.token}`);
  expect(res.status).toBe(200);
  const line = res.text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
};

describe('requests that fail authentication', () => {
  it('are logged with every field they supplied cut to 128 characters, marked refused and counted', async () => {
    t = await createTestApp();
    const app = t.licensor;
    const huge = (c: string) => c.repeat(BIG);
    // One unsigned POST with three 80 KB fields, one mis-signed family-A GET, one POST signed with a wrong key.
    const unsigned = JSON.stringify({
      activity: 'a'.repeat(2000),
      orderId: huge('o'),
      license: huge('l'),
      instanceId: huge('i'),
      eventId: 'e'.repeat(2000),
    });
    const r1 = await request(app.app).post(PRODUCE).set('Content-Type', 'application/json').send(unsigned);
    expect(JSON.parse(r1.text).resultCode).toBe('000001');
    const r2 = await request(app.app).get(`${PRODUCE}?activity=getLicense&orderId=${'x'.repeat(4000)}&authToken=nope`);
    expect(JSON.parse(r2.text).resultCode).toBe('000001');
    const wrongKey = JSON.stringify({ activity: 'refreshLicenseCode', license: huge('p'), orderId: huge('q') });
    const r3 = await request(app.app).post(signedPostUrl(wrongKey, 'NOT-THE-KEY')).send(wrongKey);
    expect(JSON.parse(r3.text).resultCode).toBe('000001');

    const logged = await rows(t.db, app);
    expect(logged).toHaveLength(3);
    for (const row of logged) {
      expect(row.refused).toBe(1);
      for (const field of ['activity', 'order_id', 'code', 'entitlement_id'] as const) {
        expect((row[field] ?? '').length, field).toBeLessThanOrEqual(128);
      }
    }
    expect(logged[0]).toMatchObject({ order_id: `${'o'.repeat(127)}…`, code: `${'l'.repeat(127)}…` });
    expect(logged[0]!.entitlement_id!.startsWith('iii')).toBe(true);
    // Each refused request is counted per path.
    expect(
      await metric(app, t.config, 'licensor_marketplace_refused_requests_total', 'path="/api/koogallery/produce"'),
    ).toBe(3);
  });

  it('authenticated traffic is stored as the marketplace sent it, not marked refused', async () => {
    t = await createTestApp();
    const orderId = `CS${uid()}`;
    const res = await request(t.licensor.app).get(getLicense(orderId));
    expect(JSON.parse(res.text).resultCode).toBe('000000');
    expect(await rows(t.db, t.licensor)).toEqual([
      expect.objectContaining({ activity: 'getLicense', order_id: orderId, result_code: '000000', refused: 0 }),
    ]);
    expect(
      await metric(
        t.licensor,
        t.config,
        'licensor_marketplace_refused_requests_total',
        'path="/api/koogallery/produce"',
      ),
    ).toBe(0);
  });
});

describe('retention', () => {
  let dir: string | undefined;
  let db: TestDatabase | undefined;
  let licensor: LicensorApp | undefined;
  afterEach(async () => {
    await licensor?.stop();
    await db?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
    db = undefined;
    licensor = undefined;
  });

  /** A real app whose clock the test moves (the daily scheduler prunes by it). */
  async function appAt(clock: { now: Date }, overrides: Partial<Config> = {}) {
    dir = mkdtempSync(join(tmpdir(), 'licensor-retention-'));
    const config = testConfig({ dataDir: dir, ...overrides });
    db = await openTestDatabase(join(dir, 'licensor.db'));
    const { store: keys } = KeyStore.open(join(dir, 'keys'), 'test-passphrase');
    licensor = await createApp({ config, db, log: createLogger('silent'), keys, now: () => clock.now });
    return { app: licensor, db };
  }

  /** One daily-scheduler pass at `at` (the scheduler runs its first pass at once). */
  const schedulerPassAt = async (app: LicensorApp, clock: { now: Date }, at: Date) => {
    clock.now = at;
    (await startScheduler(app.ctx))();
  };

  it('keeps refused requests 7 days and live traffic 90 days by default, pruned by the daily scheduler', async () => {
    const clock = { now: new Date() };
    const { app, db } = await appAt(clock);
    expect(app.ctx.config.retention).toEqual({ liveDays: 90, refusedDays: 7 });
    await request(app.app).get(getLicense(`CS${uid()}`));
    await request(app.app).post(PRODUCE).send('{"activity":"newInstance"}');
    expect((await rows(db, app)).map((r) => r.refused)).toEqual([0, 1]);

    const day = 86_400_000;
    const start = Date.now();
    await schedulerPassAt(app, clock, new Date(start + 6 * day));
    expect(await rows(db, app)).toHaveLength(2);
    await schedulerPassAt(app, clock, new Date(start + 8 * day));
    expect((await rows(db, app)).map((r) => r.refused)).toEqual([0]);
    await schedulerPassAt(app, clock, new Date(start + 89 * day));
    expect(await rows(db, app)).toHaveLength(1);
    await schedulerPassAt(app, clock, new Date(start + 91 * day));
    expect(await rows(db, app)).toHaveLength(0);
  });

  it('follows LICENSOR_MESSAGE_RETENTION_DAYS and LICENSOR_REFUSED_RETENTION_DAYS', async () => {
    const clock = { now: new Date() };
    const { app, db } = await appAt(clock, { retention: { liveDays: 3, refusedDays: 1 } });
    await request(app.app).get(getLicense(`CS${uid()}`));
    await request(app.app).post(PRODUCE).send('{}');
    const start = Date.now();
    await schedulerPassAt(app, clock, new Date(start + 2 * 86_400_000));
    expect((await rows(db, app)).map((r) => r.refused)).toEqual([0]);
    await schedulerPassAt(app, clock, new Date(start + 4 * 86_400_000));
    expect(await rows(db, app)).toHaveLength(0);
  });
});

describe('fields a sender controls', () => {
  it('logs a NUL character as U+FFFD, and the messages after it too (PostgreSQL text cannot hold NUL)', async () => {
    t = await createTestApp();
    const messages = t.licensor.ctx.messages;
    messages.record({ direction: 'in', activity: 'get\u0000License', orderId: 'CS\u00001', resultCode: '000001' });
    await messages.flush();
    messages.record({ direction: 'in', activity: 'getLicense', orderId: 'CS2', resultCode: '000000' });
    await messages.flush();
    expect((await rows(t.db, t.licensor)).map((r) => [r.activity, r.order_id])).toEqual([
      ['get\uFFFDLicense', 'CS\uFFFD1'],
      ['getLicense', 'CS2'],
    ]);
  });
});

describe('flush', () => {
  it('resolves only once the messages recorded before it are written, also while another flush is writing', async () => {
    t = await createTestApp();
    const messages = t.licensor.ctx.messages;
    messages.record({ direction: 'in', activity: 'getLicense', orderId: 'CS1', resultCode: '000000' });
    const first = messages.flush(); // a timer's flush, say: its batch is on its way
    await messages.flush();
    expect(await t.db.all('SELECT order_id FROM marketplace_messages')).toEqual([{ order_id: 'CS1' }]);
    await first;
  });
});

describe('per-address limit on the production interface and the Kit paths', () => {
  it('answers 429 (signed) past the limit, without logging the flood, and keeps other addresses going', async () => {
    // The clock stands still: a run slower than the limiter's one-minute window (a loaded machine) would start
    // this address's next window, and with it a new budget.
    vi.useFakeTimers({ toFake: ['Date'] });
    onTestFinished(() => {
      vi.useRealTimers();
    });
    t = await createTestApp({ produceRateLimit: 5, trustProxy: 'loopback' });
    const app = t.licensor.app;
    const from = (ip: string) => request(app).post(PRODUCE).set('X-Forwarded-For', ip).send('{"activity":"x"}');
    for (let i = 0; i < 5; i++) expect((await from('198.51.100.7')).status).toBe(200);
    const limited = await from('198.51.100.7');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(verifyBodySign('ACCESSKEY', limited.text, limited.headers['body-sign'])).toBe(true);
    expect(JSON.parse(limited.text)).toMatchObject({ resultCode: '000005' });
    // Kit paths share the budget of their address; family-A GETs are signed with the Key.
    const kit = await request(app).post(kitPath('v2', 'tenantSync')).set('X-Forwarded-For', '198.51.100.7').send('{}');
    expect(kit.status).toBe(429);
    expect(verifyBodySign('ACCESSKEY', kit.text, kit.headers['body-sign'])).toBe(true);
    const get = await request(app).get(`${PRODUCE}?activity=getLicense`).set('X-Forwarded-For', '198.51.100.7');
    expect(get.status).toBe(429);
    expect(verifyBodySign('KEY', get.text, get.headers['body-sign'])).toBe(true);
    // Another address is not affected.
    expect((await from('198.51.100.8')).status).toBe(200);
    expect(await rows(t.db, t.licensor)).toHaveLength(6);
    expect(await metric(t.licensor, t.config, 'licensor_rate_limited_requests_total', 'door="marketplace"')).toBe(3);
  });

  it('by default lets the marketplace through at 200 signed requests a minute from one address', async () => {
    t = await createTestApp();
    expect(t.config.produceRateLimit).toBe(600);
    const orderId = `CS${uid()}`;
    const codes = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const res = await request(t.licensor.app).get(getLicense(orderId));
      expect(res.status).toBe(200);
      codes.add(JSON.parse(res.text).resultCode);
    }
    expect([...codes]).toEqual(['000000']);
  });
});
