import { LicenseVerifier, verifyBodySign } from '@licensor/shared';
import { MarketplaceSimulator } from '@licensor/simulator';
import { commitOnceRacerWaits } from '@licensor/testkit/postgres';
import { createTestApp, PRODUCE, signedGetUrl, signedPostUrl, type TestApp } from '@licensor/testkit/server';
import fc from 'fast-check';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config';
import { formatCompactTime, formatCompactTimeMs } from './time';

const sim = new MarketplaceSimulator('AK', 'SK');
let simUrl = '';
let t: TestApp;

beforeAll(async () => {
  simUrl = await sim.listen();
});
afterAll(async () => {
  await sim.close();
});
beforeEach(async () => {
  sim.faults = {};
  t = await createTestApp({ koo: { apiBase: simUrl, apiFallback: undefined, timeoutMs: 1000 } as never });
});
afterEach(async () => {
  await t.licensor.ctx.outbox.drain();
  // Every order the production interface recorded, in whichever table, has its key in order_keys (the orders
  // list pages on it): a writer that forgot noteOrder() fails here, whatever the test.
  expect(
    await t.db.all(`SELECT order_id, order_line_id FROM orders
      UNION SELECT order_id, order_line_id FROM order_notifications
      UNION SELECT order_id, '' FROM entitlements WHERE family = 'A' AND order_id IS NOT NULL
      UNION SELECT order_id, order_line_id FROM entitlements WHERE family = 'C' AND order_line_id IS NOT NULL
      EXCEPT SELECT order_id, order_line_id FROM order_keys`),
  ).toEqual([]);
  await t.destroy();
});

const app = () => t.licensor.app;
const days = (n: number) => new Date(Date.now() + n * 86_400_000);
const uid = () => Math.random().toString(36).slice(2, 10).toUpperCase();

async function get(params: Record<string, string>, key = 'KEY') {
  const res = await request(app()).get(signedGetUrl(params, key));
  expect(res.status).toBe(200);
  expect(verifyBodySign('KEY', res.text, res.headers['body-sign'])).toBe(true);
  return JSON.parse(res.text) as Record<string, unknown>;
}

async function post(body: Record<string, unknown> | string, key = 'ACCESSKEY', signKey = key) {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await request(app())
    .post(signedPostUrl(raw, signKey))
    .set('Content-Type', 'application/json;charset=utf8')
    .send(raw);
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(verifyBodySign(key, res.text, res.headers['body-sign'])).toBe(true);
  return JSON.parse(res.text) as Record<string, unknown>;
}

/**
 * Runs `statements` in a transaction of their own and `racer` beside it. PostgreSQL: the transaction commits once
 * the racer's transaction waits for one of its locks (a row or key the statements wrote), or once the racer has
 * finished; SQLite runs one transaction at a time, so there the statements simply commit first.
 */
async function commitWhileWaiting<T>(statements: [string, unknown[]][], racer: () => Promise<T>): Promise<T> {
  const db = t.db;
  if (db.dialect !== 'postgres') {
    await db.transaction(async (tx) => {
      for (const [sql, params] of statements) await tx.run(sql, params);
    });
    return await racer();
  }
  const client = await db.pg.connectDedicated();
  try {
    await client.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
    for (const [sql, params] of statements) {
      let n = 0;
      await client.query(
        sql.replace(/\?/g, () => `$${++n}`),
        params,
      );
    }
    return await commitOnceRacerWaits(client, racer, 'the racing request', { mustWait: true });
  } finally {
    await client.end();
  }
}

const getLicenseParams = (orderId = `CS${uid()}`, extra: Record<string, string> = {}) => ({
  activity: 'getLicense',
  businessId: crypto.randomUUID(),
  customerId: 'cust-1',
  orderId,
  productId: 'OFFI0001',
  expireTime: formatCompactTime(days(365)),
  periodType: 'year',
  periodNumber: '1',
  amount: '3',
  ...extra,
});

describe('scheme A (family A transport)', () => {
  it('accepts a valid authToken and signs the answer with the Key', async () => {
    const r = await get(getLicenseParams());
    expect(r.resultCode).toBe('000000');
  });
  it('refuses a token made with another key (000001), still signed', async () => {
    expect((await get(getLicenseParams(), 'WRONG')).resultCode).toBe('000001');
  });
  it('refuses a missing token, unknown activity and missing orderId', async () => {
    const res = await request(app()).get(`${PRODUCE}?activity=getLicense&orderId=x`);
    expect(JSON.parse(res.text).resultCode).toBe('000001');
    expect((await get({ activity: 'explode' })).resultCode).toBe('000002');
    const { orderId: _drop, ...noOrder } = getLicenseParams();
    expect((await get(noOrder)).resultCode).toBe('000002');
  });
});

describe('family A lifecycle', () => {
  it('getLicense is idempotent on orderId, also under 20 concurrent duplicates', async () => {
    const orderId = `CS${uid()}`;
    // A 000005 is "not applied, retry": the marketplace sends the order again (hourly, for 3 h), so it is re-sent
    // here. On PostgreSQL it is what a request gets when no pooled connection frees up in time (testkit: 3
    // connections, 2 s), which on a loaded machine can happen under 20 concurrent SERIALIZABLE transactions and
    // their reruns; no other failure is allowed, and every success, first or re-sent, must be the same answer.
    const deliver = async (tries = 5): Promise<Record<string, unknown>> => {
      const a = await get(getLicenseParams(orderId));
      if (a.resultCode !== '000005' || tries <= 1) return a;
      return await deliver(tries - 1);
    };
    const answers = await Promise.all(Array.from({ length: 20 }, () => deliver()));
    expect(answers.filter((a) => a.resultCode !== '000000')).toEqual([]);
    const pairs = new Set(answers.map((a) => `${a.instanceId}|${a.license}`));
    expect(pairs.size).toBe(1);
    expect(String(answers[0]!.license)).toMatch(/^LSR-/);
    const row = await t.db.first<{ seats: number; n: number }>(
      `SELECT seats, (SELECT COUNT(*) FROM entitlements WHERE order_id = ?) AS n FROM entitlements WHERE order_id = ?`,
      [orderId, orderId],
    );
    expect(row).toEqual({ seats: 3, n: 1 });
    // The orders list's key: one row for the order (a License 1.0 order has no lines), whatever the duplicates.
    expect(await t.db.all('SELECT order_line_id FROM order_keys WHERE order_id = ?', [orderId])).toEqual([
      { order_line_id: '' },
    ]);
    const other = await get(getLicenseParams());
    expect(other.instanceId).not.toBe(answers[0]!.instanceId);
  });

  it('a duplicate that read the order as new while another delivery was creating it answers from that delivery', async () => {
    // The loser of the race on the order's unique index (PostgreSQL reports it as a unique violation, 23505, when
    // its read did not go through that index) must rerun and answer from the winner's row, not fail with 000005.
    const orderId = `CS${uid()}`;
    const now = new Date().toISOString();
    const winner = { id: crypto.randomUUID(), code: `LSR-RACE-${uid()}` };
    const answer = await commitWhileWaiting(
      [
        [
          `INSERT INTO entitlements (id, family, code, order_id, product_id, customer_id, seats, status, created_at, updated_at)
           VALUES (?, 'A', ?, ?, 'OFFI0001', 'cust-1', 3, 'active', ?, ?)`,
          [winner.id, winner.code, orderId, now, now],
        ],
        [`INSERT INTO order_keys (order_id, order_line_id, seen_at) VALUES (?, '', ?)`, [orderId, now]],
      ],
      () => get(getLicenseParams(orderId)),
    );
    expect(answer).toMatchObject({ resultCode: '000000', instanceId: winner.id, license: winner.code });
    expect(await t.db.all('SELECT id FROM entitlements WHERE order_id = ?', [orderId])).toEqual([{ id: winner.id }]);
  });

  it('renews, expires, renews during the freeze, releases; unknown instances', async () => {
    const { instanceId } = await get(getLicenseParams());
    const id = String(instanceId);
    const renewal = {
      activity: 'refreshLicense',
      orderId: `CS${uid()}`,
      instanceId: id,
      expireTime: formatCompactTime(days(730)),
    };
    expect((await get(renewal)).resultCode).toBe('000000');
    expect((await get({ ...renewal, expireTime: formatCompactTime(days(900)) })).resultCode).toBe('000000');
    // The same renewal order applied twice changes nothing.
    expect(
      (
        await t.db.first<{ expires_at: string }>('SELECT expires_at FROM entitlements WHERE id = ?', [id])
      )?.expires_at.slice(0, 10),
    ).toBe(days(730).toISOString().slice(0, 10));
    const expire = { activity: 'expireLicense', orderId: 'CSX', instanceId: id };
    expect((await get(expire)).resultCode).toBe('000000');
    expect((await get(expire)).resultCode).toBe('000000');
    expect((await t.db.first<{ status: string }>('SELECT status FROM entitlements WHERE id = ?', [id]))?.status).toBe(
      'expired',
    );
    expect((await get({ ...renewal, orderId: `CS${uid()}` })).resultCode).toBe('000000');
    expect((await t.db.first<{ status: string }>('SELECT status FROM entitlements WHERE id = ?', [id]))?.status).toBe(
      'active',
    );
    const release = { activity: 'releaseLicense', orderId: 'CSX', instanceId: id };
    expect((await get(release)).resultCode).toBe('000000');
    expect((await get(release)).resultCode).toBe('000000');
    expect((await get({ ...renewal, orderId: `CS${uid()}` })).resultCode).toBe('000003');
    expect((await get({ ...renewal, instanceId: 'missing' })).resultCode).toBe('000003');
    expect((await get({ activity: 'refreshLicense', orderId: 'CS1', instanceId: id })).resultCode).toBe('000002');
    expect((await get({ ...release, instanceId: 'missing' })).resultCode).toBe('000000');
    const audit = await t.db.all<{ action: string }>(
      'SELECT action FROM audit_log WHERE entitlement_id = ? ORDER BY id',
      [id],
    );
    expect(audit.map((a) => a.action)).toEqual([
      'entitlement.created',
      'entitlement.renewed',
      'entitlement.expired',
      'entitlement.renewed',
      'entitlement.released',
    ]);
  });

  it('marks testFlag traffic as test data', async () => {
    const orderId = `CS${uid()}`;
    await get(getLicenseParams(orderId, { testFlag: '1' }));
    expect(
      (await t.db.first<{ test: number }>('SELECT test FROM entitlements WHERE order_id = ?', [orderId]))?.test,
    ).toBe(1);
  });
});

describe('family A replay protection (scheme A has no nonce)', () => {
  const statusOf = async (id: string) =>
    (await t.db.first<{ status: string }>('SELECT status FROM entitlements WHERE id = ?', [id]))?.status;
  const at = (offsetMs: number) => formatCompactTimeMs(new Date(Date.now() + offsetMs));
  const raw = async (url: string) => {
    const res = await request(app()).get(url);
    expect(verifyBodySign('KEY', res.text, res.headers['body-sign'])).toBe(true);
    return res.text;
  };

  it('an authToken seen before gets the recorded answer and changes nothing', async () => {
    const orderId = `CS${uid()}`;
    const purchaseUrl = signedGetUrl(getLicenseParams(orderId));
    const first = await raw(purchaseUrl);
    // The marketplace's retry of the same request (same URL, up to 3 h later) keeps working.
    expect(await raw(purchaseUrl)).toBe(first);
    const id = String(JSON.parse(first).instanceId);
    const expireUrl = signedGetUrl({ activity: 'expireLicense', orderId, instanceId: id });
    const expired = await raw(expireUrl);
    expect(JSON.parse(expired).resultCode).toBe('000000');
    expect(await statusOf(id)).toBe('expired');
    const renewal = { activity: 'refreshLicense', orderId: `CS${uid()}`, instanceId: id };
    expect((await get({ ...renewal, expireTime: formatCompactTime(days(400)) })).resultCode).toBe('000000');
    expect(await statusOf(id)).toBe('active');
    // The old expiry URL (from a proxy log, or a late retry) answers as before and expires nothing.
    expect(await raw(expireUrl)).toBe(expired);
    expect(await statusOf(id)).toBe('active');
    const expiries = await t.db.first<{ n: number }>(
      `SELECT COUNT(*) AS n FROM audit_log WHERE entitlement_id = ? AND action = 'entitlement.expired'`,
      [id],
    );
    expect(expiries?.n).toBe(1);
    expect(
      (await t.db.first<{ n: number }>('SELECT COUNT(*) AS n FROM entitlements WHERE order_id = ?', [orderId]))?.n,
    ).toBe(1);
  });

  it('forgets recorded answers once their timeStamp has left the window', async () => {
    const insert = 'INSERT INTO scheme_a_answers (auth_token, activity, answer, expires_at) VALUES (?, ?, ?, ?)';
    await t.db.run(insert, ['expired-token', 'getLicense', '{}', Date.now() - 1000]);
    await t.db.run(insert, ['current-token', 'getLicense', '{}', Date.now() + 3_600_000]);
    expect((await get(getLicenseParams())).resultCode).toBe('000000');
    const tokens = await t.db.all<{ auth_token: string }>(
      'SELECT auth_token FROM scheme_a_answers ORDER BY auth_token',
    );
    expect(tokens.map((r) => r.auth_token)).not.toContain('expired-token');
    expect(tokens.map((r) => r.auth_token)).toContain('current-token');
    expect(tokens).toHaveLength(2);
  });

  it('refuses a timeStamp older than the window (default 24 h) or far in the future with 000001', async () => {
    const hour = 3_600_000;
    const old = await get({ ...getLicenseParams(), timeStamp: at(-25 * hour) });
    expect(old.resultCode).toBe('000001');
    expect(String(old.resultMsg)).toMatch(/older than 24 h/);
    expect((await get({ ...getLicenseParams(), timeStamp: at(-23 * hour) })).resultCode).toBe('000000');
    expect((await get({ ...getLicenseParams(), timeStamp: at(10 * 60_000) })).resultCode).toBe('000001');
    expect((await get({ ...getLicenseParams(), timeStamp: at(60_000) })).resultCode).toBe('000000');
    expect((await get({ ...getLicenseParams(), timeStamp: '2026-01-01' })).resultCode).toBe('000001');
  });

  it('the window follows LICENSOR_KOO_TIMESTAMP_WINDOW_HOURS', async () => {
    expect(loadConfig({ LICENSOR_KOO_TIMESTAMP_WINDOW_HOURS: '48' }).koo.schemeAWindowMs).toBe(48 * 3_600_000);
    expect(loadConfig({}).koo.schemeAWindowMs).toBe(24 * 3_600_000);
    expect(() => loadConfig({ LICENSOR_KOO_TIMESTAMP_WINDOW_HOURS: '2' })).toThrow(
      /LICENSOR_KOO_TIMESTAMP_WINDOW_HOURS: must be at least 4 \(the marketplace retries family A for 3 hours\)/,
    );
    await t.destroy();
    t = await createTestApp({ koo: { apiBase: simUrl, schemeAWindowMs: 4 * 3_600_000 } as never });
    expect((await get({ ...getLicenseParams(), timeStamp: at(-5 * 3_600_000) })).resultCode).toBe('000001');
    expect((await get({ ...getLicenseParams(), timeStamp: at(-3 * 3_600_000) })).resultCode).toBe('000000');
  });

  it('an expiry or release signed before the last renewal never takes effect', async () => {
    const orderId = `CS${uid()}`;
    const id = String((await get(getLicenseParams(orderId))).instanceId);
    const renewal = {
      activity: 'refreshLicense',
      orderId: `CS${uid()}`,
      instanceId: id,
      expireTime: formatCompactTime(days(400)),
      timeStamp: at(0),
    };
    expect((await get(renewal)).resultCode).toBe('000000');
    const expireBefore = { activity: 'expireLicense', orderId, instanceId: id, timeStamp: at(-10 * 60_000) };
    expect((await get(expireBefore)).resultCode).toBe('000000');
    expect(await statusOf(id)).toBe('active');
    const releaseBefore = { activity: 'releaseLicense', orderId, instanceId: id, timeStamp: at(-5 * 60_000) };
    expect((await get(releaseBefore)).resultCode).toBe('000000');
    expect(await statusOf(id)).toBe('active');
    expect((await get({ ...expireBefore, timeStamp: at(1000) })).resultCode).toBe('000000');
    expect(await statusOf(id)).toBe('expired');
    expect((await get({ ...releaseBefore, timeStamp: at(2000) })).resultCode).toBe('000000');
    expect(await statusOf(id)).toBe('released');
  });
});

describe('scheme B (families B and C transport)', () => {
  const probe = () => ({ activity: 'releaseLicenseCode', license: `PL${uid()}` });

  it('refuses tampered bodies, stale timestamps and replays; accepts the raw bytes as sent', async () => {
    const raw = JSON.stringify(probe());
    const tampered = await request(app())
      .post(signedPostUrl(raw))
      .set('Content-Type', 'application/json')
      .send(raw.replace('PL', 'PX'));
    expect(JSON.parse(tampered.text).resultCode).toBe('000001');
    const stale = await request(app())
      .post(signedPostUrl(raw, 'ACCESSKEY', { timestamp: Date.now() - 61_000 }))
      .set('Content-Type', 'application/json')
      .send(raw);
    expect(JSON.parse(stale.text).resultCode).toBe('000001');
    const url = signedPostUrl(raw);
    const first = await request(app()).post(url).set('Content-Type', 'application/json').send(raw);
    expect(JSON.parse(first.text).resultCode).toBe('000000');
    const replay = await request(app()).post(url).set('Content-Type', 'application/json').send(raw);
    expect(JSON.parse(replay.text).resultCode).toBe('000001');
    const odd = `{ "license" :\t"PL${uid()}",\r\n"activity":"releaseLicenseCode"  }`;
    expect((await post(odd)).resultCode).toBe('000000');
  });

  it('answers malformed, empty, non-object bodies and unknown activities with a signed 000002', async () => {
    expect((await post('{"activity":')).resultCode).toBe('000002');
    expect((await post('')).resultCode).toBe('000002');
    expect((await post('[1,2]')).resultCode).toBe('000002');
    expect((await post({ activity: 'launchRockets' })).resultCode).toBe('000002');
    expect((await post({ license: 'PL1' })).resultCode).toBe('000002');
  });

  it('refuses a U+0000 in any field with a signed 000002 naming it, on both backends (PostgreSQL text cannot hold it)', async () => {
    expect(await post({ activity: 'releaseInstance', instanceId: 'a\u0000b' })).toMatchObject({
      resultCode: '000002',
      resultMsg: 'Invalid parameter instanceId: must not contain the character U+0000',
    });
    const nested = await post({ activity: 'newInstance', orderId: 'CS1', customer: { name: ['x', 'y\u0000'] } });
    expect(nested).toMatchObject({ resultCode: '000002', resultMsg: expect.stringContaining('customer.name.1') });
    // The text "\\u0000" (a backslash, then u0000) is no U+0000: it reaches the handler (releasing an instance
    // that does not exist is a success).
    expect((await post({ activity: 'releaseInstance', instanceId: 'a\\u0000b' })).resultCode).toBe('000000');
    expect(await get({ activity: 'releaseInstance', instanceId: 'a\u0000b', testFlag: '0' })).toMatchObject({
      resultCode: '000002',
      resultMsg: 'Invalid parameter instanceId: must not contain the character U+0000',
    });
  });

  it('refuses an oversized body with 413 and keeps serving', async () => {
    const big = JSON.stringify({ activity: 'releaseLicenseCode', license: 'x'.repeat(400_000) });
    const res = await request(app()).post(signedPostUrl(big)).set('Content-Type', 'application/json').send(big);
    expect(res.status).toBe(413);
    expect(verifyBodySign('ACCESSKEY', res.text, res.headers['body-sign'])).toBe(true);
    expect((await post(probe())).resultCode).toBe('000000');
  });

  it('uses the key bound to each interface type when they differ', async () => {
    await t.destroy();
    t = await createTestApp({
      koo: {
        apiBase: simUrl,
        accessKeys: { basic: 'BASICKEY', licenseCode: 'CODEKEY', generic: 'GENERICKEY', kit: 'KITKEY' },
      } as never,
    });
    expect((await post(probe(), 'CODEKEY')).resultCode).toBe('000000');
    expect((await post(probe(), 'CODEKEY', 'BASICKEY')).resultCode).toBe('000001');
    expect((await post({ activity: 'releaseInstance', instanceId: 'nope' }, 'BASICKEY')).resultCode).toBe('000000');
    expect(
      (await post({ activity: 'orderNotify', orderId: 'CS1', orderLineId: 'CS1-000001', testFlag: '1' }, 'GENERICKEY'))
        .resultCode,
    ).toBe('000000');
  });
});

describe('family B notifications', () => {
  async function register(code: string) {
    const res = await request(app())
      .post('/api/admin/v1/codes')
      .set('Authorization', 'Bearer admin-test-token')
      .send({ code, productId: 'P1', test: true });
    expect([200, 201]).toContain(res.status);
  }
  const status = (code: string) =>
    t.db.first<{ status: string; expires_at: string | null }>(
      'SELECT status, expires_at FROM entitlements WHERE code = ?',
      [code],
    );

  it('renews, refunds, freezes, unfreezes and releases a registered code; unknown codes get 000003', async () => {
    const code = `PL${uid()}`;
    await register(code);
    await register(code);
    const refresh = (scene: string, expire: Date, orderId = `CS${uid()}`) => ({
      activity: 'refreshLicenseCode',
      scene,
      license: code,
      orderId,
      orderLineId: `${orderId}-000001`,
      expireTime: formatCompactTime(expire),
      testFlag: '1',
    });
    expect((await post(refresh('RENEWAL', days(400)))).resultCode).toBe('000000');
    expect((await status(code))?.expires_at?.slice(0, 10)).toBe(days(400).toISOString().slice(0, 10));
    expect((await post(refresh('UNSUBSCRIBE_RENEWAL_PERIOD', days(30)))).resultCode).toBe('000000');
    expect((await status(code))?.expires_at?.slice(0, 10)).toBe(days(30).toISOString().slice(0, 10));
    expect((await post(refresh('BOGUS', days(30)))).resultCode).toBe('000002');
    expect((await post({ ...refresh('RENEWAL', days(30)), expireTime: '2024-13-45' })).resultCode).toBe('000002');
    const freeze = { activity: 'updateLicenseCodeStatus', license: code, status: 'FREEZE' };
    expect((await post(freeze)).resultCode).toBe('000000');
    expect((await post(freeze)).resultCode).toBe('000000');
    expect((await status(code))?.status).toBe('frozen');
    expect((await post({ ...freeze, status: 'UNFREEZE' })).resultCode).toBe('000000');
    expect((await status(code))?.status).toBe('active');
    expect((await post({ ...freeze, status: 'MELT' })).resultCode).toBe('000002');
    expect((await post({ activity: 'updateLicenseCodeStatus', license: code })).resultCode).toBe('000002');
    expect((await post({ ...freeze, license: 'PLNOPE' })).resultCode).toBe('000003');
    expect((await post(refresh('RENEWAL', days(30)))).resultCode).toBe('000000');
    expect((await post({ activity: 'releaseLicenseCode', license: code })).resultCode).toBe('000000');
    expect((await post({ activity: 'releaseLicenseCode', license: code })).resultCode).toBe('000000');
    expect((await status(code))?.status).toBe('released');
    // Live traffic after a release is refused (a debug replay would revive the test code: dialTest.test.ts).
    expect((await post({ ...refresh('RENEWAL', days(60)), testFlag: '0' })).resultCode).toBe('000003');
    expect((await post({ ...refresh('RENEWAL', days(60)), license: 'PLNOPE' })).resultCode).toBe('000003');
  });

  it('admin API: unknown code 404, no token 401', async () => {
    expect(
      (await request(app()).get('/api/admin/v1/codes/PLNONE').set('Authorization', 'Bearer admin-test-token')).status,
    ).toBe(404);
    expect((await request(app()).get('/api/admin/v1/codes/PLNONE')).status).toBe(401);
    expect(
      (await request(app()).get('/api/admin/v1/codes/PLNONE').set('Authorization', 'Bearer wrong-token')).status,
    ).toBe(401);
  });
});

describe('family C', () => {
  const order = (extra: Parameters<typeof sim.addOrder>[0] extends infer T ? Partial<T> : never = {}) => {
    const orderId = `CS${uid()}`;
    sim.addOrder({
      orderId,
      chargingMode: 'PERIOD',
      expireTime: formatCompactTime(days(366)),
      linearValue: 2,
      ...extra,
    });
    return { orderId, orderLineId: `${orderId}-000001` };
  };
  const create = async (o: { orderId: string; orderLineId: string }) => {
    const r = await post({ activity: 'newInstance', businessId: crypto.randomUUID(), ...o, testFlag: '0' });
    expect(['000000', '000004']).toContain(r.resultCode);
    return String(r.instanceId);
  };
  const fingerprint = () =>
    `04:7C:16:5E:${uid().slice(0, 2)}:5D|001B_444A_${uid().slice(0, 4)}.||BFEBFBFF00090672`.toUpperCase();
  const asyncBody = (instanceId: string, extra: Record<string, unknown> = {}) => ({
    activity: 'getLicenseAsync',
    eventId: uid(),
    instanceId,
    effectiveTime: new Date().toISOString().replace('T', ' ').slice(0, 19) + ' z',
    expireTime: days(365).toISOString().replace('T', ' ').slice(0, 19) + ' z',
    deviceFingerprint: fingerprint(),
    testFlag: '0',
    ...extra,
  });

  it('newInstance queries the order and provisions seats and expiry; retries return the same instance', async () => {
    const o = order({ linearValue: 5 });
    const id = await create(o);
    expect(await create(o)).toBe(id);
    const ent = await t.db.first<{ seats: number; status: string; charging_mode: string; product_id: string }>(
      'SELECT seats, status, charging_mode, product_id FROM entitlements WHERE id = ?',
      [id],
    );
    expect(ent).toEqual({ seats: 5, status: 'active', charging_mode: 'PERIOD', product_id: 'OFFI000000000000000001' });
    expect(sim.calls.some((c) => c.path.endsWith('/v1/order/query') && c.authOk)).toBe(true);
    expect((await post({ activity: 'newInstance', businessId: 'b', orderId: o.orderId })).resultCode).toBe('000002');
    expect(((await post({ activity: 'queryInstance', instanceId: `${id},missing` })).info as unknown[]).length).toBe(1);
  });

  it('a duplicate newInstance that read the order line as new while another delivery was creating it answers from that delivery', async () => {
    // Same race as getLicense's, on the online License's unique index (entitlements_order_c).
    const o = order();
    const now = new Date().toISOString();
    const winner = crypto.randomUUID();
    const answer = await commitWhileWaiting(
      [
        [
          `INSERT INTO entitlements (id, family, order_id, order_line_id, seats, starts_at, status, test, created_at, updated_at)
           VALUES (?, 'C', ?, ?, 2, ?, 'active', 0, ?, ?)`,
          [winner, o.orderId, o.orderLineId, now, now, now],
        ],
        [`INSERT INTO order_keys (order_id, order_line_id, seen_at) VALUES (?, ?, ?)`, [o.orderId, o.orderLineId, now]],
      ],
      () => post({ activity: 'newInstance', businessId: crypto.randomUUID(), ...o, testFlag: '0' }),
    );
    expect(answer).toMatchObject({ resultCode: '000000', instanceId: winner });
    expect(
      await t.db.all(`SELECT id FROM entitlements WHERE family = 'C' AND order_id = ? AND order_line_id = ?`, [
        o.orderId,
        o.orderLineId,
      ]),
    ).toEqual([{ id: winner }]);
  });

  it('a duplicate getLicenseAsync that raced the first one for the same event uploads the License the first one stored', async () => {
    // The loser of the race on license_requests' key (event, fingerprint) must rerun and upload the stored file,
    // not answer 000005 or issue a second License for the same event.
    const id = await create(order());
    const body = asyncBody(id);
    const fingerprint = String(body.deviceFingerprint).toUpperCase();
    const stored = 'the License file the first delivery stored';
    const answer = await commitWhileWaiting(
      [
        [
          `INSERT INTO license_requests (event_id, fingerprint, entitlement_id, device_key, file_name, license_file, sha256, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          [body.eventId, fingerprint, id, fingerprint, `${id}-first.lic`, stored, 'sha', new Date().toISOString()],
        ],
      ],
      () => post(body),
    );
    expect(['000000', '000004']).toContain(answer.resultCode);
    await t.licensor.ctx.outbox.drain();
    expect(sim.uploadsFor(String(body.eventId)).map((u) => u.content)).toEqual([stored]);
    expect(await t.db.all('SELECT license_file FROM license_requests WHERE event_id = ?', [body.eventId])).toEqual([
      { license_file: stored },
    ]);
  });

  it('getLicenseAsync uploads a signed License bound to the fingerprint, byte-identical on retry', async () => {
    const id = await create(order());
    const body = asyncBody(id);
    expect(['000000', '000004']).toContain((await post(body)).resultCode);
    expect(['000000', '000004']).toContain((await post(body)).resultCode);
    await t.licensor.ctx.outbox.drain();
    const uploads = sim.uploadsFor(String(body.eventId));
    expect(uploads).toHaveLength(2);
    expect(uploads[0]!.content).toBe(uploads[1]!.content);
    const verified = new LicenseVerifier({ roots: [t.keys.rootCertificatePem] }).verify(uploads[0]!.content);
    expect(verified.payload.fingerprint?.koogallery).toBe(String(body.deviceFingerprint).toUpperCase());
    expect(verified.payload.eid).toBe(id);
    expect(verified.payload.family).toBe('C');
  });

  it('answers 000902, 000903, 000901, 000900 and 000003 where the spec says', async () => {
    const id = await create(order({ linearValue: 1 }));
    expect((await post(asyncBody(id, { expireTime: undefined }))).resultCode).toBe('000902');
    expect((await post(asyncBody(id, { deviceFingerprint: undefined }))).resultCode).toBe('000903');
    expect(
      (await post(asyncBody(id, { effectiveTime: '2099-01-01 00:00:00 z', expireTime: '2099-12-01 00:00:00 z' })))
        .resultCode,
    ).toBe('000901');
    expect(['000000', '000004']).toContain((await post(asyncBody(id))).resultCode);
    expect((await post(asyncBody(id))).resultCode).toBe('000900');
    expect((await post(asyncBody('missing'))).resultCode).toBe('000003');
    expect((await post(asyncBody(id, { eventId: undefined }))).resultCode).toBe('000002');
    await post({ activity: 'updateInstanceStatus', instanceId: id, status: 'FREEZE' });
    expect((await post(asyncBody(id))).resultCode).toBe('000901');
    expect((await post({ activity: 'releaseInstance', instanceId: id })).resultCode).toBe('000000');
    expect((await post({ activity: 'releaseInstance', instanceId: id })).resultCode).toBe('000000');
    expect((await post(asyncBody(id))).resultCode).toBe('000003');
  });

  it('a replayed debug getLicenseAsync answers as the first time whatever state the instance is in', async () => {
    const o = order();
    const created = await post({ activity: 'newInstance', businessId: crypto.randomUUID(), ...o, testFlag: '1' });
    const id = String(created.instanceId);
    const body = asyncBody(id, { testFlag: '1' });
    expect(['000000', '000004']).toContain((await post(body)).resultCode);
    // Replayed out of order: after the saved FREEZE case, and after the saved release case.
    await post({ activity: 'updateInstanceStatus', instanceId: id, status: 'FREEZE', testFlag: '1' });
    expect(['000000', '000004']).toContain((await post(body)).resultCode);
    await post({ activity: 'releaseInstance', instanceId: id, testFlag: '1' });
    expect(['000000', '000004']).toContain((await post(body)).resultCode);
    await t.licensor.ctx.outbox.drain();
    const uploads = sim.uploadsFor(String(body.eventId));
    expect(uploads.length).toBeGreaterThanOrEqual(3);
    expect(new Set(uploads.map((u) => u.content)).size).toBe(1);
    // A new debug event on the frozen instance is refused as it would be live: only replays are exempt.
    await post({ activity: 'updateInstanceStatus', instanceId: id, status: 'FREEZE', testFlag: '1' });
    expect((await post(asyncBody(id, { testFlag: '1' }))).resultCode).toBe('000901');
    // Live traffic on a live instance: a frozen instance gets no License, replay or not.
    const live = await create(order());
    const liveBody = asyncBody(live);
    expect(['000000', '000004']).toContain((await post(liveBody)).resultCode);
    await post({ activity: 'updateInstanceStatus', instanceId: live, status: 'FREEZE' });
    expect((await post(liveBody)).resultCode).toBe('000901');
  });

  it('refreshInstance scenes, status changes and upgrade', async () => {
    const id = await create(order());
    const renew = order({ orderType: 'RENEW', linearValue: 2 });
    const refresh = (scene: string, expire: Date, o = renew) => ({
      activity: 'refreshInstance',
      scene,
      instanceId: id,
      ...o,
      expireTime: formatCompactTime(expire),
    });
    expect((await post(refresh('RENEWAL', days(700)))).resultCode).toBe('000000');
    expect((await post(refresh('UNSUBSCRIBE_RENEWAL_PERIOD', days(300), order()))).resultCode).toBe('000000');
    expect((await post(refresh('RENEWAL_CHANGE', days(400), order({ linearValue: 9 })))).resultCode).toBe('000000');
    await t.licensor.ctx.outbox.drain();
    expect((await t.db.first<{ seats: number }>('SELECT seats FROM entitlements WHERE id = ?', [id]))?.seats).toBe(9);
    expect((await post(refresh('SIDEWAYS', days(1)))).resultCode).toBe('000002');
    expect((await post({ ...refresh('RENEWAL', days(1)), instanceId: 'missing' })).resultCode).toBe('000003');
    expect((await post({ activity: 'updateInstanceStatus', instanceId: id, status: 'FREEZE' })).resultCode).toBe(
      '000000',
    );
    expect((await post({ activity: 'updateInstanceStatus', instanceId: id, status: 'NAP' })).resultCode).toBe('000002');
    expect((await post({ activity: 'updateInstanceStatus', instanceId: 'missing', status: 'FREEZE' })).resultCode).toBe(
      '000003',
    );
    const up = order({ linearValue: 12 });
    expect((await post({ activity: 'upgradeInstance', instanceId: id, ...up })).resultCode).toBe('000000');
    await t.licensor.ctx.outbox.drain();
    expect((await t.db.first<{ seats: number }>('SELECT seats FROM entitlements WHERE id = ?', [id]))?.seats).toBe(12);
  });

  it('answers 000004 while the marketplace is down and finishes through the outbox, across a restart', async () => {
    sim.faults = { failNext: 1000 };
    const o = order({ linearValue: 4 });
    const r = await post({ activity: 'newInstance', businessId: 'b1', ...o });
    expect(r.resultCode).toBe('000004');
    const id = String(r.instanceId);
    expect((await t.db.first<{ status: string }>('SELECT status FROM entitlements WHERE id = ?', [id]))?.status).toBe(
      'provisioning',
    );
    // Restart on the same data folder: the pending call survives.
    const dir = t.dataDir;
    await t.close();
    t = await createTestApp({ koo: { apiBase: simUrl, apiFallback: undefined } as never }, dir);
    expect((await t.licensor.ctx.outbox.depth()).pending).toBe(1);
    sim.faults = {};
    await t.licensor.ctx.outbox.drain();
    expect(
      await t.db.first<{ status: string; seats: number }>('SELECT status, seats FROM entitlements WHERE id = ?', [id]),
    ).toEqual({
      status: 'active',
      seats: 4,
    });
    expect(await t.licensor.ctx.outbox.depth()).toEqual({ pending: 0, running: 0, failed: 0 });
  });

  it('orderNotify records the order once and applies it through the outbox', async () => {
    const o = order({ linearValue: 7 });
    const id = await create(o);
    // As if the license had been bought with 1 seat: the notice's order (7) must reach it.
    await t.db.run('UPDATE entitlements SET seats = 1, ordered_seats = 1 WHERE id = ?', [id]);
    const note = { activity: 'orderNotify', ...o, testFlag: '0' };
    expect((await post(note)).resultCode).toBe('000000');
    expect((await post(note)).resultCode).toBe('000000');
    await t.licensor.ctx.outbox.drain();
    const n = await t.db.first<{ outcome: string }>('SELECT outcome FROM order_notifications WHERE order_id = ?', [
      o.orderId,
    ]);
    expect(n?.outcome).toBe(`NEW applied to ${id}`);
    expect((await t.db.first<{ seats: number }>('SELECT seats FROM entitlements WHERE id = ?', [id]))?.seats).toBe(7);
    // newInstance, its order fetch, two notices and the second fetch: one key for the orders list, seen first
    // when newInstance bought it.
    const created = await t.db.first<{ created_at: string }>('SELECT created_at FROM entitlements WHERE id = ?', [id]);
    expect(await t.db.all('SELECT order_line_id, seen_at FROM order_keys WHERE order_id = ?', [o.orderId])).toEqual([
      { order_line_id: o.orderLineId, seen_at: created?.created_at },
    ]);
  });

  const outcome = async (orderId: string) =>
    (
      await t.db.first<{ outcome: string | null }>('SELECT outcome FROM order_notifications WHERE order_id = ?', [
        orderId,
      ])
    )?.outcome;
  const row = (id: string) =>
    t.db.first<{ status: string; seats: number; expires_at: string }>(
      'SELECT status, seats, expires_at FROM entitlements WHERE id = ?',
      [id],
    );

  it('orderNotify acts on the order type: UNSUBSCRIBE releases, RENEW applies, a refunded renewal stays', async () => {
    const bought = order({ linearValue: 3 });
    const id = await create(bought);
    // The purchase order, unsubscribed: the buyer no longer holds the license.
    sim.addOrder({ orderId: bought.orderId, orderType: 'UNSUBSCRIBE', linearValue: 3 });
    expect((await post({ activity: 'orderNotify', ...bought, testFlag: '0' })).resultCode).toBe('000000');
    await t.licensor.ctx.outbox.drain();
    expect((await row(id))?.status).toBe('released');
    expect(await outcome(bought.orderId)).toBe(`unsubscribed: released ${id}`);

    const other = await create(order({ linearValue: 2 }));
    const renewal = order({ orderType: 'RENEW', linearValue: 4, expireTime: formatCompactTime(days(700)) });
    const refresh = { activity: 'refreshInstance', scene: 'RENEWAL', instanceId: other, ...renewal };
    expect((await post({ ...refresh, expireTime: formatCompactTime(days(700)) })).resultCode).toBe('000000');
    expect((await post({ activity: 'orderNotify', ...renewal, testFlag: '0' })).resultCode).toBe('000000');
    await t.licensor.ctx.outbox.drain();
    expect(await row(other)).toMatchObject({ status: 'active', seats: 4 });
    expect(await outcome(renewal.orderId)).toBe(`RENEW applied to ${other}`);

    // An unsubscribe order already applied as a refunded renewal period does not release the license.
    const refund = order({ orderType: 'UNSUBSCRIBE', expireTime: formatCompactTime(days(300)) });
    const shorten = {
      ...refresh,
      ...refund,
      scene: 'UNSUBSCRIBE_RENEWAL_PERIOD',
      expireTime: formatCompactTime(days(300)),
    };
    expect((await post(shorten)).resultCode).toBe('000000');
    expect((await post({ activity: 'orderNotify', ...refund, testFlag: '0' })).resultCode).toBe('000000');
    await t.licensor.ctx.outbox.drain();
    expect((await row(other))?.status).toBe('active');
    expect((await row(other))?.expires_at.slice(0, 10)).toBe(days(300).toISOString().slice(0, 10));
    expect(await outcome(refund.orderId)).toMatch(/left as its refresh set it/);
  });

  it('a debug notice for an order the open API does not know settles instead of failing forever', async () => {
    const unknown = { orderId: `CSDEBUG${uid()}`, orderLineId: `CSDEBUG${uid()}-000001` };
    const note = { activity: 'orderNotify', ...unknown, testFlag: '1' };
    for (let i = 0; i < 3; i++) expect((await post(note)).resultCode).toBe('000000');
    await t.licensor.ctx.outbox.drain();
    expect(await t.licensor.ctx.outbox.depth()).toEqual({ pending: 0, running: 0, failed: 0 });
    expect(await outcome(unknown.orderId)).toMatch(/^debug order unknown to the open API/);
    // A debug notice never changes a live entitlement.
    const live = order({ linearValue: 2 });
    const liveId = await create(live);
    sim.addOrder({ orderId: live.orderId, orderType: 'UNSUBSCRIBE' });
    expect((await post({ activity: 'orderNotify', ...live, testFlag: '1' })).resultCode).toBe('000000');
    await t.licensor.ctx.outbox.drain();
    expect((await row(liveId))?.status).toBe('active');
    expect(await outcome(live.orderId)).toBe(`debug notice: live entitlement ${liveId} left unchanged`);
    // A live notice for an unknown order stays a failure the operator sees.
    const lost = { orderId: `CSLOST${uid()}`, orderLineId: `CSLOST${uid()}-000001` };
    expect((await post({ activity: 'orderNotify', ...lost, testFlag: '0' })).resultCode).toBe('000000');
    await t.licensor.ctx.outbox.drain();
    expect((await t.licensor.ctx.outbox.depth()).failed).toBe(1);
  });
});

describe('message log', () => {
  it('records every marketplace call in both directions with result codes', async () => {
    await get(getLicenseParams());
    await post({ activity: 'releaseLicenseCode', license: 'PLX' });
    const orderId = `CS${uid()}`;
    sim.addOrder({ orderId });
    await post({ activity: 'newInstance', businessId: 'b', orderId, orderLineId: `${orderId}-000001` });
    await t.licensor.ctx.messages.flush();
    const rows = await t.db.all<{ direction: string; activity: string; result_code: string }>(
      'SELECT direction, activity, result_code FROM marketplace_messages ORDER BY id',
    );
    expect(rows).toEqual(
      expect.arrayContaining([
        { direction: 'in', activity: 'getLicense', result_code: '000000' },
        { direction: 'in', activity: 'releaseLicenseCode', result_code: '000000' },
        { direction: 'out', activity: 'order.query', result_code: 'MKT.0000' },
        { direction: 'in', activity: 'newInstance', result_code: '000000' },
      ]),
    );
  });
});

describe('hostile input', () => {
  it('answers any body with a signed, well-formed result and keeps serving', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.json({ maxDepth: 4 }),
          fc
            .record({
              activity: fc.constantFrom(
                'getLicenseAsync',
                'newInstance',
                'refreshLicenseCode',
                'updateInstanceStatus',
                'orderNotify',
              ),
              instanceId: fc.oneof(fc.string({ maxLength: 80 }), fc.integer(), fc.constant(null)),
              license: fc.oneof(fc.string({ maxLength: 80 }), fc.array(fc.string())),
              expireTime: fc.oneof(fc.string({ maxLength: 20 }), fc.nat()),
              eventId: fc.string({ maxLength: 70 }),
              deviceFingerprint: fc.string({ maxLength: 100 }),
              scene: fc.string({ maxLength: 10 }),
              status: fc.constantFrom('FREEZE', 'UNFREEZE', 'x'),
            })
            .map((o) => JSON.stringify(o)),
        ),
        async (raw) => {
          const res = await request(app()).post(signedPostUrl(raw)).set('Content-Type', 'application/json').send(raw);
          expect(res.status).toBe(200);
          expect(verifyBodySign('ACCESSKEY', res.text, res.headers['body-sign'])).toBe(true);
          expect(JSON.parse(res.text).resultCode).toMatch(/^\d{6}$/);
        },
      ),
      { numRuns: 150 },
    );
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), async (q) => {
        const res = await request(app()).get(`${PRODUCE}?${encodeURI(q)}`);
        expect(res.status).toBe(200);
        expect(verifyBodySign('KEY', res.text, res.headers['body-sign'])).toBe(true);
        expect(JSON.parse(res.text).resultCode).toMatch(/^\d{6}$/);
      }),
      { numRuns: 100 },
    );
    expect((await get(getLicenseParams())).resultCode).toBe('000000');
  });
});
