import { activationBody, newDevice, seedEntitlement } from '@licensor/testkit/licensing';
import { createTestApp, type TestApp } from '@licensor/testkit/server';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeCursor } from './cursor';
import { fieldWithNul } from './nul';

/*
 * U+0000 at every JSON surface (http/nul.ts), on both backends (postgres-suite): PostgreSQL's text cannot hold the
 * character, so SQLite used to store or look up what PostgreSQL refused with a 400 naming no field. Each surface now
 * refuses it before any handler, with the same 400 INVALID_INPUT naming the field. (The Kit's answer is in
 * kit/kit.test.ts, the production interface's in koogallery/produce.test.ts.)
 */

let t: TestApp;
beforeEach(async () => {
  t = await createTestApp();
});
afterEach(async () => {
  await t.destroy();
});
const api = () => request(t.licensor.app);
const ADMIN = '/api/admin/v1';
const BOOT = 'Bearer admin-test-token';

const refused = (res: request.Response, message: string, field: string) => {
  expect(res.status, res.text).toBe(400);
  expect(res.body.error).toMatchObject({ code: 'INVALID_INPUT', message, detail: { problems: [{ field }] } });
};
const inPath = (res: request.Response) =>
  refused(res, 'Invalid URL: path: must not contain the character U+0000', 'path');
const inQuery = (res: request.Response, field: string) =>
  refused(res, `Invalid query: ${field}: must not contain the character U+0000`, field);
const inBody = (res: request.Response, field: string) =>
  refused(res, `Invalid request: ${field}: must not contain the character U+0000`, field);

describe('fieldWithNul', () => {
  it('names the first field holding U+0000 (nested, in arrays, in a key: its parent), and skips a body without the escape', () => {
    expect(fieldWithNul({ a: 'x', b: { c: ['y', 'z\u0000'] } })).toBe('b.c.1');
    expect(fieldWithNul({ a: { 'k\u0000': 1 } })).toBe('a');
    expect(fieldWithNul('\u0000')).toBe('body');
    expect(fieldWithNul({ a: 'x\\u0000' })).toBeUndefined();
    expect(fieldWithNul({ a: 'x\u0000' }, Buffer.from('{"a":"x"}'))).toBeUndefined();
  });

  it('walks nesting as deep as JSON.parse accepts without running out of stack', () => {
    const depth = 100_000;
    const deep = JSON.parse(`${'['.repeat(depth)}"\\u0000"${']'.repeat(depth)}`);
    expect(fieldWithNul(deep)).toBe(Array.from({ length: depth }, () => '0').join('.'));
    expect(fieldWithNul({ a: JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`), z: '\u0000' })).toBe('z');
  });
});

describe('the admin API refuses U+0000 in the path, the query and the body', () => {
  const get = (path: string) =>
    api()
      .get(ADMIN + path)
      .set('Authorization', BOOT);
  const post = (path: string, body: object) =>
    api()
      .post(ADMIN + path)
      .set('Authorization', BOOT)
      .send(body);

  it('search queries and ids in the path', async () => {
    inQuery(await get('/entitlements?q=a%00b'), 'q');
    inQuery(await get('/entitlements?status=active&productId=a%00b'), 'productId');
    inQuery(await get('/kit/tenants?q%00=x'), 'query');
    inPath(await get('/entitlements/a%00b'));
    inPath(await get('/codes/a%00b'));
    inPath(await get('/catalog/products/a%00b'));
    inPath(await get('/webhooks/endpoints/a%00b'));
    // `%2500` is the text "%00", no U+0000: looked up as usual.
    expect((await get('/entitlements?q=a%2500b')).status).toBe(200);
    expect((await get('/entitlements/a%2500b')).body.error.code).toBe('NOT_FOUND');
    // …and in a forged page cursor (base64url JSON, no %00 in the URL).
    const cursor = encodeCursor(['a\u0000b']); // the entitlements list pages by seq
    refused(
      await get(`/entitlements?cursor=${cursor}`),
      'Invalid cursor: pass the nextCursor value of the previous page unchanged',
      'cursor',
    );
    expect((await get(`/entitlements?cursor=${encodeCursor([5])}`)).status).toBe(200);
  });

  it('text fields of a body: nothing is written', async () => {
    const ent = await seedEntitlement(t.db);
    inBody(await post(`/entitlements/${ent.id}/suspend`, { reason: 'a\u0000b' }), 'reason');
    expect(
      (await t.db.first<{ status: string }>('SELECT status FROM entitlements WHERE id = ?', [ent.id]))?.status,
    ).toBe('active');
    inBody(
      await post('/webhooks/endpoints', { url: 'https://example.com/h', description: 'a\u0000b', events: ['*'] }),
      'description',
    );
    expect((await t.db.first<{ n: number }>('SELECT COUNT(*) AS n FROM webhook_endpoints'))?.n).toBe(0);
    inBody(
      await post('/entitlements', { productId: 'prod-1', customer: { name: ['x', 'y\u0000'] } }),
      'customer.name.1',
    );
    // The text "\\u0000" (a backslash, then u0000) is no U+0000.
    expect((await post(`/entitlements/${ent.id}/suspend`, { reason: 'a\\u0000b' })).status).toBe(200);
  });

  it('a body in another charset than UTF-8 (its bytes hold no ASCII escape) is checked too', async () => {
    const text = JSON.stringify({ url: 'https://example.com/h', description: 'a\u0000b', events: ['*'] });
    inBody(
      await api()
        .post(`${ADMIN}/webhooks/endpoints`)
        .set('Authorization', BOOT)
        .set('Content-Type', 'application/json; charset=utf-16le')
        // As sent, not as the JSON of a Buffer (superagent's typings say string; it writes any chunk).
        .serialize((bytes: Buffer) => bytes as unknown as string)
        .send(Buffer.from(text, 'utf16le')),
      'description',
    );
    expect((await t.db.first<{ n: number }>('SELECT COUNT(*) AS n FROM webhook_endpoints'))?.n).toBe(0);
  });

  it('only after authentication', async () => {
    expect((await api().get(`${ADMIN}/entitlements?q=a%00b`)).status).toBe(401);
  });
});

describe("the console's sign-in refuses U+0000", () => {
  it('in the name or the password', async () => {
    inBody(await api().post('/api/console/v1/login').send({ name: 'a\u0000b', password: 'pw' }), 'name');
    inBody(await api().post('/api/console/v1/login').send({ name: 'admin', password: 'p\u0000w' }), 'password');
  });
});

describe('the activation API refuses U+0000 with a signed 400', () => {
  it('in the code, the device fields and the ids in the path', async () => {
    const ent = await seedEntitlement(t.db);
    const d = newDevice();
    const signed = (res: request.Response) => {
      expect(res.headers['licensor-signature']).toBeTruthy();
      return res;
    };
    inBody(signed(await api().post('/api/v1/activations').send(activationBody(d, 'LSR-\u0000'))), 'code');
    inBody(
      await api()
        .post('/api/v1/activations')
        .send(activationBody(d, ent.code!, { device: { hostname: 'h\u0000', platform: 'linux', label: 'x' } })),
      'device.hostname',
    );
    expect((await t.db.first<{ n: number }>('SELECT COUNT(*) AS n FROM activations'))?.n).toBe(0);
    inBody(await api().post('/api/v1/seats/devices').send({ code: 'a\u0000b' }), 'code');
    inPath(signed(await api().post('/api/v1/seats/devices/a%00b/release').send({ code: ent.code })));
    inPath(await api().post('/api/v1/activations/a%00b/check-in').send({}));
    inPath(await api().delete('/api/v1/activations/a%00b'));
  });
});
