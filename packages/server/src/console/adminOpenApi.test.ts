import { join } from 'node:path';
import { activationBody, newDevice, seedEntitlement } from '@licensor/testkit/licensing';
import { OpenApiCheck } from '@licensor/testkit/openapi';
import { createTestApp, seedOperator, type TestApp } from '@licensor/testkit/server';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entitlementView } from '../admin/queries';

/**
 * packages/server/openapi-admin.yaml (what the console's types are generated from) is valid OpenAPI 3.1 and
 * describes what the real server answers: every documented operation is called through a console session
 * and its answer checked against the document.
 */
const DOC = join(import.meta.dirname, '..', '..', 'openapi-admin.yaml');
const PASSWORD = 'openapi-check-password';
let t: TestApp;
let spec: OpenApiCheck;
let cookie: string;
let csrf: string;
const exercised = new Set<string>();
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
async function call(method: Method, docPath: string, url: string, body?: unknown, expectStatus?: number) {
  let req = request(t.licensor.app)[method](url).set('Cookie', cookie);
  if (method !== 'get') req = req.set('X-CSRF-Token', csrf);
  const res = await (body === undefined ? req : req.send(body as object));
  if (expectStatus) expect(res.status, `${method} ${url}: ${res.text}`).toBe(expectStatus);
  else expect(res.status, `${method} ${url}: ${res.text}`).toBeLessThan(300);
  expect(spec.problems(method, docPath, res), `${method} ${docPath}`).toEqual([]);
  exercised.add(`${method} ${docPath}`);
  return res;
}

interface Layer {
  rawPath?: unknown;
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
}

/**
 * The routes an Express app serves under a mount path, as `method /path/{param}` (OpenAPI's spelling), read
 * from the routers' own stacks: a route added without a description fails the test above.
 */
function mountedRoutes(app: unknown, mount: string): string[] {
  const top = (app as { router: { stack: Layer[] } }).router.stack;
  const out: string[] = [];
  const walk = (stack: Layer[]) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const [m, on] of Object.entries(layer.route.methods)) {
          if (on && m !== '_all') out.push(`${m} ${layer.route.path.replace(/:(\w+)/g, '{$1}')}`);
        }
      } else if (layer.handle.stack) walk(layer.handle.stack);
    }
  };
  for (const layer of top) {
    if (layer.rawPath === mount && layer.handle.stack) walk(layer.handle.stack);
  }
  return [...new Set(out)];
}

beforeAll(async () => {
  spec = await OpenApiCheck.load(DOC);
  t = await createTestApp({ adminToken: 'openapi-bootstrap-token' });
  await seedOperator(t.db, { name: 'ada', role: 'admin', password: PASSWORD });
});
afterAll(async () => {
  await t?.destroy();
});

describe('openapi-admin.yaml', () => {
  it('matches the real answers of every documented operation', async () => {
    const setup = await request(t.licensor.app).get('/api/console/v1/setup');
    expect(spec.problems('get', '/setup', setup)).toEqual([]);
    expect(setup.body).toEqual({ firstOperatorNeeded: false, bootstrapTokenSet: false });
    exercised.add('get /setup');
    const bootstrap = await request(t.licensor.app)
      .post('/api/console/v1/bootstrap')
      .send({ bootstrapToken: 'openapi-bootstrap-token', name: 'second', password: PASSWORD });
    expect(bootstrap.status).toBe(409); // an operator exists already
    expect(spec.problems('post', '/bootstrap', bootstrap)).toEqual([]);
    exercised.add('post /bootstrap');
    const login = await request(t.licensor.app).post('/api/console/v1/login').send({ name: 'ada', password: PASSWORD });
    expect(spec.problems('post', '/login', login)).toEqual([]);
    exercised.add('post /login');
    cookie = login.headers['set-cookie']![0]!.split(';')[0]!;
    csrf = login.body.csrfToken;
    await call('get', '/session', '/api/console/v1/session');

    const ent = await seedEntitlement(t.db, { seats: 2 });
    const activated = await request(t.licensor.app)
      .post('/api/v1/activations')
      .send(activationBody(newDevice(), ent.code!));
    expect(activated.status).toBe(200);
    const outboxId = await t.licensor.ctx.outbox.enqueue(t.db, 'openapi.check', { n: 1 }, { delayMs: 3_600_000 });

    await call('get', '/summary', '/api/admin/v1/summary');
    await call('get', '/entitlements', `/api/admin/v1/entitlements?q=${ent.code}`);
    await call('get', '/entitlements/{id}', `/api/admin/v1/entitlements/${ent.id}`);
    await call('get', '/activations', `/api/admin/v1/activations?entitlementId=${ent.id}`);
    await call('post', '/activations/{id}/free', `/api/admin/v1/activations/${activated.body.activationId}/free`, {
      reason: 'check',
    });
    for (const action of ['suspend', 'reinstate', 'revoke']) {
      await call('post', `/entitlements/{id}/${action}`, `/api/admin/v1/entitlements/${ent.id}/${action}`, {
        reason: 'check',
      });
    }
    // Direct licenses and license changes (the console's "new license" and "edit license" forms); a direct
    // license names a catalogue product.
    const product = await request(t.licensor.app)
      .put('/api/admin/v1/catalog/products/prod-1')
      .set('Cookie', cookie)
      .set('X-CSRF-Token', csrf)
      .send({ edition: 'Std' });
    expect(product.status, product.text).toBe(201);
    const created = await call(
      'post',
      '/entitlements',
      '/api/admin/v1/entitlements',
      { productId: 'prod-1', seats: 2, expiresAt: '2099-01-01T00:00:00Z', customer: 'Acme' },
      201,
    );
    const direct = created.body.entitlement;
    for (const seed of ['openapi-a', 'openapi-b']) {
      const res = await request(t.licensor.app)
        .post('/api/v1/activations')
        .send(activationBody(newDevice(seed), direct.code));
      expect(res.status).toBe(200);
    }
    const refused = await call(
      'patch',
      '/entitlements/{id}',
      `/api/admin/v1/entitlements/${direct.id}`,
      { seats: 1 },
      409,
    );
    expect(refused.body.error.code).toBe('SEATS_IN_USE');
    expect(refused.body.error.detail.devices).toHaveLength(2);
    await call('patch', '/entitlements/{id}', `/api/admin/v1/entitlements/${direct.id}`, {
      seats: 1,
      releaseOldest: true,
      expiresAt: null,
      customer: 'Acme Ltd',
    });

    await call('get', '/orders', '/api/admin/v1/orders');
    await call('get', '/messages', '/api/admin/v1/messages?failed=true');
    await call('get', '/outbox', '/api/admin/v1/outbox?status=pending');
    await call('post', '/outbox/{id}/retry', `/api/admin/v1/outbox/${outboxId}/retry`);
    await call('get', '/audit', '/api/admin/v1/audit');
    await call('get', '/tokens', '/api/admin/v1/tokens');
    await call('get', '/readiness', '/api/admin/v1/readiness');
    await call('post', '/operators', '/api/admin/v1/operators', { name: 'vera', role: 'viewer', password: PASSWORD });
    await call('get', '/operators', '/api/admin/v1/operators');
    await call('post', '/operators/{name}/disable', '/api/admin/v1/operators/vera/disable');
    // The rest of the admin API: catalogue, policies, codes, Kit, webhooks, exports, tokens, operators.
    const other = await seedEntitlement(t.db, { seats: 2 });
    const target = await seedEntitlement(t.db, { seats: 2 });
    const second = await request(t.licensor.app)
      .post('/api/v1/activations')
      .send(activationBody(newDevice(), other.code!));
    await call('post', '/activations/{id}/move', `/api/admin/v1/activations/${second.body.activationId}/move`, {
      to: target.code,
      reason: 'check',
    });
    await call('put', '/entitlements/{id}/policy', `/api/admin/v1/entitlements/${ent.id}/policy`, { policy: null });
    await call('put', '/catalog/products/{productId}', '/api/admin/v1/catalog/products/CHECK0001', { edition: 'Std' });
    await call(
      'put',
      '/catalog/products/{productId}/skus/{skuCode}',
      '/api/admin/v1/catalog/products/CHECK0001/skus/big',
      {
        edition: 'Big',
        seats: 10,
      },
    );
    await call('get', '/catalog/products/{productId}', '/api/admin/v1/catalog/products/CHECK0001');
    await call('get', '/catalog', '/api/admin/v1/catalog');
    await call('get', '/catalog/resolve', '/api/admin/v1/catalog/resolve?productId=CHECK0001&skuCode=big');
    await call('get', '/catalog/unknown-skus', '/api/admin/v1/catalog/unknown-skus');
    await call('post', '/catalog/apply', '/api/admin/v1/catalog/apply', {
      catalog: (await request(t.licensor.app).get('/api/admin/v1/catalog').set('Cookie', cookie)).body,
      dryRun: true,
    });
    await call('put', '/policies/{productId}', '/api/admin/v1/policies/CHECK0001', { policy: { offlineGraceDays: 5 } });
    await call('get', '/policies/{productId}', '/api/admin/v1/policies/CHECK0001');
    await call('delete', '/policies/{productId}', '/api/admin/v1/policies/CHECK0001');
    await call(
      'delete',
      '/catalog/products/{productId}/skus/{skuCode}',
      '/api/admin/v1/catalog/products/CHECK0001/skus/big',
    );
    await call('delete', '/catalog/products/{productId}', '/api/admin/v1/catalog/products/CHECK0001');
    await call('post', '/codes', '/api/admin/v1/codes', { code: 'CHECK-CODE-0001', test: true });
    await call('get', '/codes', '/api/admin/v1/codes?includeTest=true');
    await call('get', '/codes/{code}', '/api/admin/v1/codes/CHECK-CODE-0001');
    await call('get', '/kit/tenants', '/api/admin/v1/kit/tenants');
    for (const what of ['entitlements', 'activations', 'messages']) {
      await call('get', `/export/${what}`, `/api/admin/v1/export/${what}?format=json`);
    }
    await call('get', '/webhooks/event-types', '/api/admin/v1/webhooks/event-types');
    const hook = await call('post', '/webhooks/endpoints', '/api/admin/v1/webhooks/endpoints', {
      url: 'https://hooks.example.com/licensor',
      events: ['*'],
    });
    const hookId = hook.body.endpoint.id as string;
    await call('get', '/webhooks/endpoints', '/api/admin/v1/webhooks/endpoints');
    await call('get', '/webhooks/endpoints/{id}', `/api/admin/v1/webhooks/endpoints/${hookId}`);
    await call('post', '/webhooks/endpoints/{id}/disable', `/api/admin/v1/webhooks/endpoints/${hookId}/disable`);
    await call('post', '/webhooks/endpoints/{id}/enable', `/api/admin/v1/webhooks/endpoints/${hookId}/enable`);
    const third = await seedEntitlement(t.db, { seats: 1 });
    await request(t.licensor.app)
      .post(`/api/admin/v1/entitlements/${third.id}/suspend`)
      .set('Cookie', cookie)
      .set('X-CSRF-Token', csrf)
      .send({ reason: 'an event to deliver' });
    const deliveries = await call(
      'get',
      '/webhooks/deliveries',
      `/api/admin/v1/webhooks/deliveries?endpointId=${hookId}`,
    );
    const deliveryId = deliveries.body.items[0].id as string;
    await t.db.run(`UPDATE webhook_deliveries SET status = 'failed' WHERE id = ?`, [deliveryId]);
    await call('get', '/webhooks/deliveries/{id}', `/api/admin/v1/webhooks/deliveries/${deliveryId}`);
    await call('post', '/webhooks/deliveries/{id}/replay', `/api/admin/v1/webhooks/deliveries/${deliveryId}/replay`);
    const token = await call('post', '/tokens', '/api/admin/v1/tokens', { name: 'check', scope: 'read' });
    await call('delete', '/tokens/{id}', `/api/admin/v1/tokens/${token.body.id}`);
    await call('post', '/operators/{name}/role', '/api/admin/v1/operators/vera/role', { role: 'operator' });
    await call('post', '/operators/{name}/reset-password', '/api/admin/v1/operators/vera/reset-password', {
      password: `${PASSWORD}-new`,
    });
    await call('post', '/logout', '/api/console/v1/logout');

    // Every operation in the document was called (the offline response needs a device's signed request:
    // packages/client/electron/renderer.e2e.test.ts drives that flow; the dial test needs a listening server
    // with LICENSOR_PUBLIC_URL: readiness.test.ts checks its answer against this document).
    const documented = Object.entries(spec.spec.paths as Record<string, Record<string, unknown>>).flatMap(
      ([path, item]) =>
        Object.keys(item)
          .filter((k) => METHODS.includes(k))
          .map((m) => `${m} ${path}`),
    );
    expect(documented.filter((op) => !exercised.has(op))).toEqual([
      'post /offline-responses',
      'post /readiness/dial-test',
      'get /kit/tenants/{instanceId}/{tenantId}',
    ]);
  });

  it('describes every route mounted under /api/admin/v1 and /api/console/v1', () => {
    const documented = new Set(
      Object.entries(spec.spec.paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) =>
        Object.keys(item)
          .filter((k) => METHODS.includes(k))
          .map((m) => `${m} ${path}`),
      ),
    );
    const mounted = [
      ...mountedRoutes(t.licensor.app, '/api/admin/v1'),
      ...mountedRoutes(t.licensor.app, '/api/console/v1'),
    ];
    expect(mounted.length).toBeGreaterThan(50);
    expect(mounted.filter((r) => !documented.has(r))).toEqual([]);
    // and nothing documented that the server does not serve
    expect([...documented].filter((d) => !mounted.includes(d))).toEqual([]);
  });

  it('documents every field of the license object, seatsOverride and orderedSeats included', async () => {
    const schemas = (spec.spec.components as { schemas: Record<string, { properties: object }> }).schemas;
    const documented = Object.keys(schemas.Entitlement!.properties);
    const served = Object.keys(entitlementView(await seedEntitlement(t.db, {})));
    expect(served.filter((k) => !documented.includes(k))).toEqual([]);
    expect(documented).toEqual(expect.arrayContaining(['seatsOverride', 'orderedSeats']));
  });

  it('documents the error shape the server sends', async () => {
    const res = await request(t.licensor.app).get('/api/admin/v1/entitlements/nope').set('Cookie', cookie!);
    expect(res.status).toBe(401); // signed out by the previous test
    expect(res.body).toMatchObject({ error: { code: 'SESSION_ENDED', message: expect.any(String) } });
    const errorSchema = (spec.spec.components as { schemas: Record<string, { required: string[] }> }).schemas.Error;
    expect(errorSchema?.required).toEqual(['error']);
  });
});
