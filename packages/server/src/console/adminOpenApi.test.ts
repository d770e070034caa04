import { join } from 'node:path';
import { activationBody, newDevice, seedEntitlement } from '@licensor/testkit/licensing';
import { OpenApiCheck } from '@licensor/testkit/openapi';
import { createTestApp, type TestApp } from '@licensor/testkit/server';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addOperator } from '../operators/store';

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

async function call(
  method: 'get' | 'post' | 'patch',
  docPath: string,
  url: string,
  body?: unknown,
  expectStatus?: number,
) {
  let req = request(t.licensor.app)[method](url).set('Cookie', cookie);
  if (method !== 'get') req = req.set('X-CSRF-Token', csrf);
  const res = await (body === undefined ? req : req.send(body as object));
  if (expectStatus) expect(res.status, `${method} ${url}: ${res.text}`).toBe(expectStatus);
  else expect(res.status, `${method} ${url}: ${res.text}`).toBeLessThan(300);
  expect(spec.problems(method, docPath, res), `${method} ${docPath}`).toEqual([]);
  exercised.add(`${method} ${docPath}`);
  return res;
}

beforeAll(async () => {
  spec = await OpenApiCheck.load(DOC);
  t = createTestApp({ adminToken: 'openapi-bootstrap-token' });
  await addOperator(t.db, { name: 'ada', role: 'admin', password: PASSWORD }, 'test');
});
afterAll(async () => {
  await t?.destroy();
});

describe('openapi-admin.yaml', () => {
  it('matches the real answers of every documented operation', async () => {
    const login = await request(t.licensor.app).post('/api/console/v1/login').send({ name: 'ada', password: PASSWORD });
    expect(spec.problems('post', '/login', login)).toEqual([]);
    exercised.add('post /login');
    cookie = login.headers['set-cookie']![0]!.split(';')[0]!;
    csrf = login.body.csrfToken;
    await call('get', '/session', '/api/console/v1/session');

    const ent = seedEntitlement(t.db, { seats: 2 });
    const activated = await request(t.licensor.app)
      .post('/api/v1/activations')
      .send(activationBody(newDevice(), ent.code!));
    expect(activated.status).toBe(200);
    const outboxId = t.licensor.ctx.outbox.enqueue('openapi.check', { n: 1 }, { delayMs: 3_600_000 });

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
    // Direct licenses and license changes (the console's "new license" and "edit license" forms).
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
    await call('post', '/logout', '/api/console/v1/logout');

    // Every operation in the document was called (the offline response needs a device's signed request:
    // packages/client/electron/renderer.e2e.test.ts drives that flow; the dial test needs a listening server
    // with LICENSOR_PUBLIC_URL: readiness.test.ts checks its answer against this document).
    const documented = Object.entries(spec.spec.paths as Record<string, Record<string, unknown>>).flatMap(
      ([path, item]) =>
        Object.keys(item)
          .filter((k) => k === 'get' || k === 'post' || k === 'patch')
          .map((m) => `${m} ${path}`),
    );
    expect(documented.filter((op) => !exercised.has(op))).toEqual([
      'post /offline-responses',
      'post /readiness/dial-test',
    ]);
  });

  it('documents the error shape the server sends', async () => {
    const res = await request(t.licensor.app).get('/api/admin/v1/entitlements/nope').set('Cookie', cookie);
    expect(res.status).toBe(401); // signed out by the previous test
    expect(res.body).toMatchObject({ error: { code: 'UNAUTHORIZED', message: expect.any(String) } });
    const errorSchema = (spec.spec.components as { schemas: Record<string, { required: string[] }> }).schemas.Error;
    expect(errorSchema?.required).toEqual(['error']);
  });
});
