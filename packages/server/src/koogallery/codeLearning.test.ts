import { LicenseVerifier } from '@licensor/shared';
import {
  activationBody,
  type LicensingTestApp,
  makeApp,
  newDevice,
  seedEntitlement,
} from '@licensor/testkit/licensing';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { findEntitlementByCode } from '../licensing/entitlements';

/**
 * Family-B codes the server has never seen: the first activation activates the code at KooGallery, queries
 * its authoritative state and registers it. The marketplace is played by a fake `fetch` given to createApp.
 */

interface Call {
  path: string;
  body: Record<string, unknown>;
  authorization: string | null;
}

type Answer = { status?: number; json: Record<string, unknown> } | 'down';

function fakeMarketplace(answers: { activate: Answer; query?: Answer }) {
  const calls: Call[] = [];
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    const body = JSON.parse(Buffer.from(init?.body as Uint8Array).toString('utf8')) as Record<string, unknown>;
    const headers = new Headers(init?.headers);
    calls.push({ path: url.pathname, body, authorization: headers.get('authorization') });
    const answer = url.pathname.endsWith('/v1/license/activate') ? answers.activate : answers.query;
    if (!answer) throw new Error(`unexpected call ${url.pathname}`);
    if (answer === 'down') {
      throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    }
    return new Response(JSON.stringify(answer.json), {
      status: answer.status ?? 200,
      headers: { 'content-type': 'application/json' },
    });
  }) as typeof fetch;
  return { fetch: fetchImpl, calls };
}

const activateInfo = (extra: Record<string, unknown> = {}) => ({
  error_code: '92020000',
  error_msg: 'success',
  data: {
    license_code_info: JSON.stringify({
      status: 'ALIVE',
      expire_time: '20990101000000',
      product_id: 'prod-b',
      amount: 1,
      order_id: 'CS1',
      ...extra,
    }),
  },
});
const queryInfo = (extra: Record<string, unknown> = {}) => ({
  error_code: '92020000',
  error_msg: 'success',
  data: {
    license_code: 'PLX',
    status: 'ALIVE',
    activate_time: '20260101000000',
    expire_time: '20300615120000',
    amount: 3,
    ...extra,
  },
});

let t: LicensingTestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const activate = (code: string, device = newDevice()) =>
  request(t!.licensor.app)
    .post('/api/v1/activations')
    .set('content-type', 'application/json')
    .send(JSON.stringify(activationBody(device, code)));

describe('first activation of an unknown family-B code', () => {
  it('activates and queries the code at the marketplace, registers it and binds the device', async () => {
    const market = fakeMarketplace({ activate: { json: activateInfo() }, query: { json: queryInfo() } });
    t = await makeApp({ fetch: market.fetch });
    const res = await activate('pl0000demo01');
    expect(res.status, res.text).toBe(200);
    expect(market.calls.map((c) => c.path)).toEqual([
      '/api/mkp-openapi-public/global/v1/license/activate',
      '/api/mkp-openapi-public/global/v1/license/heartbeat',
    ]);
    expect(market.calls[0]!.body).toEqual({ license: 'PL0000DEMO01' });
    expect(market.calls[0]!.authorization).toMatch(/^SDK-HMAC-SHA256 /);
    // The query's expiry and quantity win over the activation's estimate.
    const ent = (await findEntitlementByCode(t.db, 'PL0000DEMO01'))!;
    expect(ent).toMatchObject({
      family: 'B',
      seats: 3,
      expires_at: '2030-06-15T12:00:00.000Z',
      status: 'active',
      product_id: 'prod-b',
    });
    expect(res.body.entitlement).toMatchObject({ id: 'PL0000DEMO01', family: 'B', seats: 3 });
    const { payload } = new LicenseVerifier({ roots: [t.keys.rootCertificatePem] }).verify(res.body.license);
    expect(payload).toMatchObject({ family: 'B', expiresAt: '2030-06-15T12:00:00.000Z', product: 'prod-b' });
    expect(await t.db.all('SELECT code, device FROM code_usage')).toEqual([
      { code: 'PL0000DEMO01', device: res.body.activationId },
    ]);

    // Known now: the next device activates without asking the marketplace again.
    expect((await activate('PL0000DEMO01')).status).toBe(200);
    expect(market.calls).toHaveLength(2);
  });

  it('treats "already activated" (92020003) as success', async () => {
    const market = fakeMarketplace({
      activate: { json: { error_code: '92020003', error_msg: 'illegal state' } },
      query: { json: queryInfo({ amount: '2' }) },
    });
    t = await makeApp({ fetch: market.fetch });
    const res = await activate('PLAGAIN1');
    expect(res.status, res.text).toBe(200);
    expect((await findEntitlementByCode(t.db, 'PLAGAIN1'))!.seats).toBe(2);
  });

  it('registers an expired or released code with its status and refuses the activation', async () => {
    const expired = fakeMarketplace({
      activate: { json: activateInfo() },
      query: { json: queryInfo({ status: 'EXPIRED' }) },
    });
    t = await makeApp({ fetch: expired.fetch });
    const res = await activate('PLOLD1');
    expect([res.status, res.body.error.code]).toEqual([403, 'EXPIRED']);
    expect((await findEntitlementByCode(t.db, 'PLOLD1'))!.status).toBe('expired');
    await t.close();
    const released = fakeMarketplace({
      activate: { json: activateInfo() },
      query: { json: queryInfo({ status: 'RELEASED' }) },
    });
    t = await makeApp({ fetch: released.fetch });
    expect((await activate('PLGONE1')).body.error.code).toBe('RELEASED');
  });

  it.each([
    ['92020005', /does not exist/],
    ['92020004', /not been received by the buyer/],
  ])('answers NOT_FOUND for %s with a message saying what to do', async (errorCode, message) => {
    const market = fakeMarketplace({ activate: { json: { error_code: errorCode, error_msg: 'x' } } });
    t = await makeApp({ fetch: market.fetch });
    const res = await activate('PLUNKNOWN1');
    expect([res.status, res.body.error.code]).toEqual([404, 'NOT_FOUND']);
    expect(res.body.error.message).toMatch(message);
    expect(await findEntitlementByCode(t.db, 'PLUNKNOWN1')).toBeUndefined();
  });

  it.each([
    ['unreachable', 'down' as const],
    ['answering 503', { status: 503, json: { error_code: 'APIGW.0101' } }],
    ['failing internally (92020001)', { json: { error_code: '92020001', error_msg: 'internal error' } }],
  ])('answers 503 MARKETPLACE_UNAVAILABLE and takes no seat when the marketplace is %s', async (_name, answer) => {
    const market = fakeMarketplace({ activate: answer });
    t = await makeApp({ fetch: market.fetch });
    const res = await activate('PLDOWN1');
    expect([res.status, res.body.error.code]).toEqual([503, 'MARKETPLACE_UNAVAILABLE']);
    expect(res.body.error.message).toMatch(/try again/i);
    expect(await findEntitlementByCode(t.db, 'PLDOWN1')).toBeUndefined();
    expect(await t.db.first('SELECT COUNT(*) AS n FROM activations')).toEqual({ n: 0 });
  });

  it('answers 503 when the query fails after activation, then succeeds on retry', async () => {
    let queryAnswer: Answer = 'down';
    const market = fakeMarketplace({ activate: { json: activateInfo() }, query: { json: queryInfo() } });
    const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
      if (String(input).endsWith('/heartbeat') && queryAnswer === 'down') {
        throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
      }
      return market.fetch(input, init);
    }) as typeof fetch;
    t = await makeApp({ fetch: fetchImpl });
    expect((await activate('PLRETRY1')).status).toBe(503);
    expect(await t.db.first('SELECT COUNT(*) AS n FROM entitlements')).toEqual({ n: 0 });
    queryAnswer = { json: queryInfo() };
    expect((await activate('PLRETRY1')).status).toBe(200);
  });

  it('shares one marketplace round trip between concurrent first activations', async () => {
    const market = fakeMarketplace({ activate: { json: activateInfo() }, query: { json: queryInfo({ amount: 5 }) } });
    t = await makeApp({ fetch: market.fetch });
    const results = await Promise.all(Array.from({ length: 5 }, () => activate('PLTEAM1')));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(market.calls).toHaveLength(2);
  });

  it('does not ask again for a code learned between a request reading it as unknown and asking', async () => {
    // The window the in-flight map cannot cover: request 1 learns and registers the code and leaves the map, while
    // request 2, which read the code as unknown before that commit, only now asks to learn it.
    const market = fakeMarketplace({ activate: { json: activateInfo() }, query: { json: queryInfo() } });
    t = await makeApp({ fetch: market.fetch });
    expect((await activate('PLLATE1')).status).toBe(200);
    expect(market.calls).toHaveLength(2);
    const late = await t.licensor.ctx.marketplaceCodes.learn('PLLATE1');
    expect(late.id).toBe((await findEntitlementByCode(t.db, 'PLLATE1'))?.id);
    expect(market.calls).toHaveLength(2);
  });

  it('never asks the marketplace about LSR codes or codes it already knows', async () => {
    const market = fakeMarketplace({ activate: 'down' });
    t = await makeApp({ fetch: market.fetch });
    expect((await activate('LSR-00000-00000-00000-00000')).body.error.code).toBe('NOT_FOUND');
    const known = await seedEntitlement(t.db, { family: 'B' });
    expect((await activate(known.code!)).status).toBe(200);
    expect(market.calls).toHaveLength(0);
  });
});
