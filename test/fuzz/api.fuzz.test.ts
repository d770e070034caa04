import { randomBytes } from 'node:crypto';
import http from 'node:http';
import {
  apiErrorSchema,
  DEVICE_SIGNATURE_HEADER,
  isLicensorCode,
  RESPONSE_SIGNATURE_HEADER,
  signDeviceRequest,
} from '@licensor/shared';
import { MarketplaceSimulator } from '@licensor/simulator';
import { createTestApp, type TestApp } from '@licensor/testkit/server';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, AK, type Answer, admin, call, Device, Marketplace, SK } from '../crash/harness';
import { answerTimer, hostileBodyText, hostileString, hostileValue, mutated, RUNS } from './hostile';

/**
 * The activation API and the admin API under hostile input: every answer is a JSON success or the one error
 * shape with a known code and a 4xx status (the activation API's answers signed), never a 5xx, never slow,
 * and the server keeps serving.
 */

const sim = new MarketplaceSimulator(AK, SK);
let t: TestApp;
let server: http.Server;
let base: string;
let license = '';
let device: Device;
let activationId = '';
const { stats, timed } = answerTimer();

beforeAll(async () => {
  const simUrl = await sim.listen();
  t = await createTestApp({
    apiRateLimit: 0,
    produceRateLimit: 0,
    // Every hostile token must get its own clean 401, not the limiter's 429 (tested in admin/auth.test.ts).
    adminAuthFailures: 10_000,
    adminToken: ADMIN_TOKEN,
    koo: { apiBase: simUrl, apiFallback: undefined, timeoutMs: 500 } as never,
  });
  server = http.createServer(t.licensor.app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const koo = new Marketplace(base);
  const order = await koo.get({
    activity: 'getLicense',
    businessId: 'b',
    customerId: 'c',
    orderId: 'FZ-API',
    productId: 'P1',
    amount: '1000',
  });
  license = String(order.json.license);
  device = new Device('fuzz-device');
  activationId = String((await device.activate(base, license)).json.activationId);
  expect(activationId).toMatch(/^act_/);
});
afterAll(async () => {
  console.log(`API fuzz: ${stats.tried} hostile requests, slowest answer ${stats.slowest.toFixed(0)} ms`);
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await t.destroy();
  await sim.close();
});

/** A JSON success, or `{error:{code,message}}` with a known code and a 4xx status. */
function expectWellFormed(a: Answer, what: string, opts: { signed?: boolean } = {}) {
  const context = `${what.slice(0, 200)} → ${a.status} ${a.text.slice(0, 300)}`;
  expect(a.status, context).toBeLessThan(500);
  if (a.status >= 400) {
    const parsed = apiErrorSchema.safeParse(a.json);
    expect(parsed.success, context).toBe(true);
    expect(isLicensorCode(parsed.data?.error.code), context).toBe(true);
    expect(parsed.data!.error.message.length, context).toBeGreaterThan(0);
    expect(a.text, context).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
  } else if (!a.headers.get('content-type')?.includes('text/csv')) {
    expect(() => JSON.parse(a.text), context).not.toThrow();
  }
  if (opts.signed) expect(a.headers.get(RESPONSE_SIGNATURE_HEADER), context).toMatch(/^kid=/);
}

/** Header values fetch can send (no CR/LF/NUL, Latin-1); CR/LF injection is covered with raw sockets. */
const headerSafe = (s: string) => s.replace(/[^\x20-\x7e\x80-\xff\t]/g, '');
const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  call(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

describe('activation API, hostile input', () => {
  it('POST /activations: mutated activation requests', { timeout: 120_000 }, async () => {
    const d = new Device('fuzz-template');
    const valid: Record<string, unknown> = { ...d.activationBody(license), productId: 'P1', user: 'alice' };
    const nested = fc.record({
      top: mutated(valid),
      fingerprint: mutated(valid.fingerprint as Record<string, unknown>),
      device: mutated(valid.device as Record<string, unknown>),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          mutated(valid),
          nested.map((n) => ({ ...valid, fingerprint: n.fingerprint, device: n.device })),
          nested.map((n) => n.top),
        ),
        async (body) => {
          const text = JSON.stringify(body);
          expectWellFormed(await timed(() => post('/api/v1/activations', text)), text, { signed: true });
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('POST /activations: bodies that are not activation requests at all', { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(hostileBodyText, async (text) => {
        expectWellFormed(await timed(() => post('/api/v1/activations', text)), text, { signed: true });
      }),
      { numRuns: RUNS },
    );
  });

  it('check-in: fuzzed signature headers, activation ids and (correctly signed) bodies', {
    timeout: 120_000,
  }, async () => {
    const signedBody = hostileValue.map((v) => JSON.stringify(v) ?? '');
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          // A forged or garbled signature header.
          fc.tuple(fc.constant('header' as const), hostileString(3000)),
          // A hostile activation id in the path (traversal, unicode, huge).
          fc.tuple(fc.constant('path' as const), hostileString(3000)),
          // A body the device really signed: validation must still refuse garbage cleanly.
          fc.tuple(fc.constant('body' as const), fc.oneof(signedBody, hostileBodyText)),
        ),
        async ([kind, value]) => {
          let a: Answer;
          if (kind === 'header') {
            a = await timed(() =>
              post(`/api/v1/activations/${activationId}/check-in`, '{}', {
                [DEVICE_SIGNATURE_HEADER]: headerSafe(value),
              }),
            );
            expect(a.status, a.text).toBeGreaterThanOrEqual(400); // nothing unsigned checks in
          } else if (kind === 'path') {
            const id = encodeURIComponent(value.replace(/[\uD800-\uDFFF]/g, '?'));
            a = await timed(() => post(`/api/v1/activations/${id}/check-in`, '{}'));
          } else {
            const path = `/api/v1/activations/${activationId}/check-in`;
            const header = signDeviceRequest({
              activationId,
              method: 'POST',
              path,
              body: value,
              privateKey: device.privateKey,
            });
            a = await timed(() => post(path, value, { [DEVICE_SIGNATURE_HEADER]: header }));
          }
          expectWellFormed(a, `${kind}: ${value}`, { signed: true });
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('seats endpoints and unknown paths', { timeout: 60_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(hostileValue, hostileString(500), async (code, id) => {
        const text = JSON.stringify({ code });
        expectWellFormed(await timed(() => post('/api/v1/seats/devices', text)), text, { signed: true });
        const p = `/api/v1/seats/devices/${encodeURIComponent(id.replace(/[\uD800-\uDFFF]/g, '?'))}/release`;
        expectWellFormed(await timed(() => post(p, text)), p, { signed: true });
        expectWellFormed(
          await timed(() => call(`${base}/api/v1/${encodeURIComponent(id.replace(/[\uD800-\uDFFF]/g, '?'))}`)),
          id,
          { signed: true },
        );
      }),
      { numRuns: Math.ceil(RUNS / 2) },
    );
  });

  it('the real device still checks in afterwards', async () => {
    const a = await device.checkIn(base, activationId);
    expect(a.status).toBe(200);
    expect(a.json.status).toBe('VALID');
  });
});

describe('admin API, hostile input', () => {
  const LISTS = [
    '/entitlements',
    '/codes',
    '/orders',
    '/activations',
    '/audit',
    '/messages',
    '/outbox',
    '/summary',
    '/export/entitlements',
    '/export/activations',
    '/export/messages',
  ];
  const FILTER_KEYS = [
    'limit',
    'cursor',
    'page',
    'includeTest',
    'status',
    'family',
    'productId',
    'q',
    'since',
    'expiresBefore',
    'entitlementId',
    'code',
    'seenSince',
    'activationId',
    'actor',
    'action',
    'direction',
    'activity',
    'resultCode',
    'failed',
    'kind',
    'format',
    'bom',
  ];
  const clean = (s: string) => s.replace(/[\uD800-\uDFFF]/g, '?');

  it('lists and exports: hostile filters and paging', { timeout: 120_000 }, async () => {
    const query = fc.dictionary(
      fc.oneof(fc.constantFrom(...FILTER_KEYS), hostileString(50)),
      fc.oneof(hostileString(500), fc.integer().map(String)),
      { maxKeys: 4 },
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...LISTS), query, async (path, q) => {
        const qs = new URLSearchParams(
          Object.entries(q).map(([k, v]): [string, string] => [clean(k), clean(v)]),
        ).toString();
        const a = await timed(() => admin(base, 'GET', `${path}?${qs}`));
        expectWellFormed(a, `${path}?${qs}`);
        expect([200, 400], a.text.slice(0, 200)).toContain(a.status);
      }),
      { numRuns: RUNS },
    );
  });

  it('actions: hostile ids and bodies', { timeout: 120_000 }, async () => {
    const actions: [string, string, Record<string, unknown>][] = [
      [
        'POST',
        '/codes',
        { code: 'PLFUZZADMIN01', seats: 2, productId: 'P1', test: false, expireTime: '20300101000000' },
      ],
      ['POST', '/tokens', { name: 'fuzz', scope: 'read' }],
      ['POST', '/entitlements/:id/suspend', { reason: 'fuzz' }],
      ['POST', '/entitlements/:id/reinstate', { reason: 'fuzz' }],
      ['POST', '/entitlements/:id/revoke', { reason: 'fuzz' }],
      ['PUT', '/entitlements/:id/policy', { policy: { maxDevices: 3, mode: 'floating', leaseMinutes: 60 } }],
      ['POST', '/activations/:id/free', { reason: 'fuzz' }],
      ['POST', '/activations/:id/move', { to: 'PLFUZZADMIN01', reason: 'fuzz' }],
      [
        'POST',
        '/offline-responses',
        { request: '-----BEGIN LICENSOR ACTIVATION REQUEST-----\nAAAA\n-----END LICENSOR ACTIVATION REQUEST-----' },
      ],
      ['POST', '/outbox/:id/retry', { x: 1 }],
      ['DELETE', '/tokens/:id', { x: 1 }],
    ];
    await fc.assert(
      fc.asyncProperty(
        fc
          .constantFrom(...actions)
          .chain(([method, path, body]) =>
            fc.tuple(fc.constant(method), fc.constant(path), fc.oneof(mutated(body), hostileValue), hostileString(400)),
          ),
        async ([method, path, body, id]) => {
          const p = path.replace(':id', encodeURIComponent(clean(id)) || 'x');
          const a = await timed(() => admin(base, method, p, body));
          expectWellFormed(a, `${method} ${p} ${JSON.stringify(body)}`);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('authentication: any other bearer value is a clean 401', { timeout: 60_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(hostileString(3000), async (token) => {
        const value = headerSafe(token);
        const a = await timed(() =>
          call(`${base}/api/admin/v1/summary`, { headers: { authorization: `Bearer ${value}` } }),
        );
        expectWellFormed(a, value);
        if (value.trim() !== ADMIN_TOKEN) expect(a.status).toBe(401);
      }),
      { numRuns: RUNS },
    );
    const noScheme = await call(`${base}/api/admin/v1/summary`, {
      headers: { authorization: randomBytes(8).toString('hex') },
    });
    expect(noScheme.status).toBe(401);
  });

  it('the admin API still answers afterwards', async () => {
    expect((await admin(base, 'GET', '/summary')).status).toBe(200);
    // SQLite's own consistency check; PostgreSQL has no cheap equivalent (its pages are checksummed as written).
    if (t.db.dialect === 'sqlite') expect(await t.db.integrityCheck()).toEqual(['ok']);
  });
});
