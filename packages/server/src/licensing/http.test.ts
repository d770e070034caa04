import { X509Certificate } from 'node:crypto';
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { newNonce, verifyResponse } from '@licensor/shared';
import { activationBody, newDevice, seedEntitlement } from '@licensor/testkit/licensing';
import { createTestApp, type TestApp } from '@licensor/testkit/server';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

/**
 * The activation API is one router of the server's Express app: these tests check that it answers like the
 * rest of the server (security headers, CORS, metrics, client addresses) and like a signed JSON API (errors
 * included), with Express's own routing (HEAD, trailing slashes, letter case, percent-decoding, body limit).
 */

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.destroy();
});

const publicKeyFor = (kid: string) => {
  try {
    return new X509Certificate(t.keys.certificate(kid)).publicKey;
  } catch {
    return undefined;
  }
};

/** Headers every HTTP answer has whatever produced it, and the ones that depend on the body. */
const NOT_SECURITY = new Set([
  'date',
  'connection',
  'keep-alive',
  'content-length',
  'content-type',
  'transfer-encoding',
  'etag',
  'cache-control',
  'licensor-signature',
  'ratelimit',
  'ratelimit-policy',
  'vary',
]);

const HELMET_NAMES = [
  'content-security-policy',
  'cross-origin-opener-policy',
  'cross-origin-resource-policy',
  'origin-agent-cluster',
  'referrer-policy',
  'strict-transport-security',
  'x-content-type-options',
  'x-dns-prefetch-control',
  'x-download-options',
  'x-frame-options',
  'x-permitted-cross-domain-policies',
  'x-xss-protection',
];

function securityHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !NOT_SECURITY.has(name)));
}

/** What supertest sent: the method and path the answer's signature must be bound to. */
const sentRequest = (res: object) => {
  const { method, path } = (res as { req: { method: string; path: string } }).req; // supertest's ClientRequest
  return { method, path: path.split('?')[0]! };
};

function expectSigned(
  res: { status: number; text: string; headers: Record<string, string> },
  nonce: string,
  status = res.status,
): void {
  expect(res.headers['licensor-signature']).toMatch(/^kid=[^,]+, ts=\d+, sig=[A-Za-z0-9_-]{86}$/);
  expect(
    verifyResponse({
      header: res.headers['licensor-signature'],
      status,
      request: sentRequest(res),
      nonce,
      body: res.text,
      publicKeyFor,
    }),
  ).toMatchObject({ keyId: t.keys.current().keyId });
}

describe('activation API: headers', () => {
  it('sends the same security headers as the Express routes, on success and on errors', async () => {
    const express = await request(t.licensor.app).get('/healthz');
    expect(express.status).toBe(200);
    const expected = securityHeaders(express.headers as Record<string, string>);
    // The Express answer is the reference: it must carry helmet's headers for the comparison to mean anything.
    for (const name of HELMET_NAMES) expect(expected[name], name).toBeDefined();
    expect(expected['content-security-policy']).toMatch(/default-src 'none'/);
    expect(expected['content-security-policy']).toMatch(/frame-ancestors 'none'/);

    const answers = [
      ['GET /api/v1/keys', await request(t.licensor.app).get('/api/v1/keys')],
      ['GET /api/v1/nope', await request(t.licensor.app).get('/api/v1/nope')],
      [
        'POST /api/v1/activations',
        await request(t.licensor.app).post('/api/v1/activations').set('content-type', 'application/json').send('{'),
      ],
      ['DELETE /api/v1/activations/act_x', await request(t.licensor.app).delete('/api/v1/activations/act_x')],
    ] as const;
    for (const [label, res] of answers) {
      expect(securityHeaders(res.headers as Record<string, string>), label).toEqual(expected);
      expect(res.headers['x-powered-by'], label).toBeUndefined();
      expect(res.headers['cache-control'], label).toBe('no-store');
      expect(res.headers['content-type'], label).toBe('application/json; charset=utf-8');
    }
    expect(answers.map(([, r]) => r.status)).toEqual([200, 404, 400, 401]);
  });

  it('signs successful answers, for the request nonce', async () => {
    const nonce = newNonce();
    const res = await request(t.licensor.app).get('/api/v1/keys').set('licensor-nonce', nonce);
    expect(res.status).toBe(200);
    expect(res.body.current).toBe(t.keys.current().keyId);
    expect(res.headers['content-length']).toBe(String(Buffer.byteLength(res.text)));
    expectSigned(res, nonce);
    expect(() =>
      verifyResponse({
        header: res.headers['licensor-signature'],
        status: 200,
        request: sentRequest(res),
        nonce: newNonce(),
        body: res.text,
        publicKeyFor,
      }),
    ).toThrow(expect.objectContaining({ code: 'RESPONSE_INVALID' }));
  });

  it('answers an unknown endpoint with a signed 404 NOT_FOUND JSON error', async () => {
    for (const path of ['/api/v1/nope', '/api/v1', '/api/v1/', '/api/v1/keys/extra', '/api/v1/keys?x=/nope']) {
      const nonce = newNonce();
      const res = await request(t.licensor.app).post(path).set('licensor-nonce', nonce);
      expect(res.status, path).toBe(404);
      expect(res.body.error.code, path).toBe('NOT_FOUND');
      expect(res.headers['cache-control'], path).toBe('no-store');
      expectSigned(res, nonce, 404);
    }
  });

  it('answers malformed JSON with a signed 400 INVALID_INPUT', async () => {
    const nonce = newNonce();
    const res = await request(t.licensor.app)
      .post('/api/v1/activations')
      .set('licensor-nonce', nonce)
      .set('content-type', 'application/json')
      .send('{"code": "LSR-');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('INVALID_INPUT');
    expect(res.body.error.message).toMatch(/JSON/);
    expectSigned(res, nonce, 400);
  });

  it('answers a code with a NUL character with a signed 400 naming it, alike on both backends (PostgreSQL cannot store NUL)', async () => {
    const nonce = newNonce();
    const res = await request(t.licensor.app)
      .post('/api/v1/seats/devices')
      .set('licensor-nonce', nonce)
      .set('content-type', 'application/json')
      .send(JSON.stringify({ code: 'LSR-\u0000' }));
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.error).toMatchObject({
      code: 'INVALID_INPUT',
      message: 'Invalid request: code: must not contain the character U+0000',
    });
    expectSigned(res, nonce, 400);
  });
});

describe('activation API: routing', () => {
  it('HEAD /api/v1/keys answers 200 with the headers of GET and no body', async () => {
    const get = await request(t.licensor.app).get('/api/v1/keys');
    const nonce = newNonce();
    const head = await request(t.licensor.app).head('/api/v1/keys').set('licensor-nonce', nonce);
    expect(head.status).toBe(200);
    expect(head.text ?? '').toBe('');
    expect(head.headers['content-length']).toBe(get.headers['content-length']);
    expect(head.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(head.headers['cache-control']).toBe('no-store');
    // The signature covers the body a GET gets.
    expect(
      verifyResponse({
        header: head.headers['licensor-signature'],
        status: 200,
        request: sentRequest(head),
        nonce,
        body: get.text,
        publicKeyFor,
      }),
    ).toMatchObject({ keyId: t.keys.current().keyId });
  });

  it('accepts a trailing slash, any letter case (prefix included, like Express mounts) and a query string', async () => {
    const reference = await request(t.licensor.app).get('/api/v1/keys');
    expect(reference.status).toBe(200);
    for (const path of ['/api/v1/keys/', '/api/v1/KEYS', '/API/V1/keys', '/Api/v1/Keys/', '/api/v1/keys?fresh=1']) {
      const nonce = newNonce();
      const res = await request(t.licensor.app).get(path).set('licensor-nonce', nonce);
      expect(res.status, path).toBe(200);
      expect(res.body, path).toEqual(reference.body);
      expectSigned(res, nonce);
    }
  });

  it('refuses an id that is not valid percent-encoding with a signed 400 INVALID_INPUT', async () => {
    for (const [method, path] of [
      ['DELETE', '/api/v1/activations/%E0%A4%A'],
      ['POST', '/api/v1/activations/%E0%A4%A/check-in'],
      ['POST', '/api/v1/seats/devices/%ZZ/release'],
    ] as const) {
      const nonce = newNonce();
      const agent = request(t.licensor.app);
      const res = await (method === 'DELETE' ? agent.delete(path) : agent.post(path)).set('licensor-nonce', nonce);
      expect(res.status, path).toBe(400);
      expect(res.headers['content-type'], path).toBe('application/json; charset=utf-8');
      expect(res.body.error.code, path).toBe('INVALID_INPUT');
      expect(res.body.error.message, path).toMatch(/percent-encoding/);
      expectSigned(res, nonce, 400);
    }
  });

  it('refuses a gzip-compressed body with a signed 400 INVALID_INPUT', async () => {
    const ent = await seedEntitlement(t.db, { seats: 5 });
    const body = JSON.stringify(activationBody(newDevice(), ent.code!));
    const nonce = newNonce();
    const res = await request(t.licensor.app)
      .post('/api/v1/activations')
      .set('licensor-nonce', nonce)
      .set('content-type', 'application/json')
      .set('content-encoding', 'gzip')
      .send(gzipSync(body));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('INVALID_INPUT');
    expect(res.body.error.message).toMatch(/Content-Encoding/);
    expectSigned(res, nonce, 400);
    // The same request uncompressed goes through: the refusal was about the encoding only.
    const plain = await request(t.licensor.app)
      .post('/api/v1/activations')
      .set('content-type', 'application/json')
      .send(body);
    expect(plain.status, plain.text).toBe(200);
    expect(plain.body.status).toBe('VALID');
  });

  it('answers PAYLOAD_TOO_LARGE, signed, for a body over the limit', async () => {
    const nonce = newNonce();
    const res = await request(t.licensor.app)
      .post('/api/v1/activations')
      .set('licensor-nonce', nonce)
      .set('content-type', 'application/json')
      .send(JSON.stringify({ code: 'x'.repeat(70 * 1024) }));
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expectSigned(res, nonce, 413);
  });

  it("answers paths outside the prefix with the app's own 404, unsigned", async () => {
    for (const path of ['/api/v1x/keys', '/api/v10/keys', '/api/v1keys', '/api/keys']) {
      const res = await request(t.licensor.app).get(path).set('licensor-nonce', newNonce());
      expect(res.status, path).toBe(404);
      expect(res.body, path).toEqual({ error: { code: 'NOT_FOUND', message: 'No such endpoint' } });
      expect(res.headers['licensor-signature'], path).toBeUndefined();
      expect(res.headers['cache-control'], path).toBeUndefined();
    }
  });

  it('records request metrics under the route pattern, never the raw path', async () => {
    const metricsAuth = `Bearer ${t.config.metrics.token}`;
    const before = await request(t.licensor.app).get('/metrics').set('Authorization', metricsAuth);
    const count = (text: string, labels: RegExp) =>
      text
        .split('\n')
        .filter((l) => l.startsWith('licensor_http_request_duration_seconds_count{') && labels.test(l))
        .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
    const keys = /route="\/api\/v1\/keys".*status="200"|status="200".*route="\/api\/v1\/keys"/;
    const del = /route="\/api\/v1\/activations\/:id"/;
    const unmatched = /route="unmatched"/;
    const keysBefore = count(before.text, keys);
    const delBefore = count(before.text, del);
    const unmatchedBefore = count(before.text, unmatched);

    await request(t.licensor.app).get('/api/v1/keys');
    await request(t.licensor.app).get('/api/v1/keys/');
    await request(t.licensor.app).delete('/api/v1/activations/act_metrics_1');
    await request(t.licensor.app).get('/api/v1/no-such-thing');

    const after = await request(t.licensor.app).get('/metrics').set('Authorization', metricsAuth);
    expect(after.status).toBe(200);
    expect(count(after.text, keys)).toBe(keysBefore + 2);
    expect(count(after.text, del)).toBe(delBefore + 1);
    expect(count(after.text, unmatched)).toBe(unmatchedBefore + 1);
    expect(after.text).toMatch(/licensor_http_request_duration_seconds_bucket\{[^}]*route="\/api\/v1\/keys"/);
    expect(after.text).not.toContain('act_metrics_1');
    expect(after.text).not.toContain('no-such-thing');
  });
});

describe('activation API: CORS', () => {
  const ALLOWED = 'https://admin.example.com';
  let c: TestApp | undefined;
  afterEach(async () => {
    await c?.destroy();
    c = undefined;
  });

  it('gives an allowed origin Access-Control-Allow-Origin and answers its preflight with 204', async () => {
    c = await createTestApp({ corsOrigins: [ALLOWED] });
    const app = c.licensor.app;
    const ok = await request(app).get('/api/v1/keys').set('Origin', ALLOWED);
    expect(ok.status).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe(ALLOWED);
    expect(ok.headers['access-control-expose-headers']).toMatch(/Licensor-Signature/);
    expect(ok.headers.vary).toMatch(/Origin/);
    expect(ok.headers['licensor-signature']).toBeDefined();

    const pre = await request(app)
      .options('/api/v1/activations')
      .set('Origin', ALLOWED)
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'content-type, licensor-nonce');
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe(ALLOWED);
    expect(pre.headers['access-control-allow-methods']).toMatch(/POST/);
    expect(pre.headers['access-control-allow-headers']).toMatch(/Licensor-Nonce/);
    expect(pre.headers['access-control-allow-credentials']).toBeUndefined();
    expect(pre.text ?? '').toBe('');
    // The preflight goes through the app's middleware chain like every other request: helmet's headers included.
    expect(pre.headers['x-content-type-options']).toBe('nosniff');

    for (const origin of ['https://evil.example.com', `${ALLOWED}.evil.com`, 'null']) {
      const res = await request(app).get('/api/v1/keys').set('Origin', origin);
      expect(res.status, origin).toBe(200);
      expect(res.headers['access-control-allow-origin'], origin).toBeUndefined();
      expect(res.headers.vary, origin).toMatch(/Origin/);
      const p = await request(app)
        .options('/api/v1/activations')
        .set('Origin', origin)
        .set('Access-Control-Request-Method', 'POST');
      expect(p.status, origin).not.toBe(204);
      expect(p.headers['access-control-allow-origin'], origin).toBeUndefined();
    }
  });

  it('sends no Access-Control-* header without configured origins', async () => {
    const res = await request(t.licensor.app).get('/api/v1/keys').set('Origin', ALLOWED);
    expect(res.status).toBe(200);
    expect(Object.keys(res.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
  });
});

describe('activation API: client addresses', () => {
  let c: TestApp | undefined;
  afterEach(async () => {
    await c?.destroy();
    c = undefined;
  });

  it("limits per client address as Express derives it (X-Forwarded-For only from LICENSOR_TRUST_PROXY's proxies)", async () => {
    // 12/min per address on the whole API; supertest connects from loopback, which is the trusted proxy here.
    c = await createTestApp({ apiRateLimit: 12, trustProxy: 'loopback' });
    const keys = (forwardedFor: string) =>
      request(c!.licensor.app).get('/api/v1/keys').set('X-Forwarded-For', forwardedFor);
    for (let i = 0; i < 12; i++) expect((await keys('203.0.113.7')).status).toBe(200);
    const limited = await keys('203.0.113.7');
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('RATE_LIMITED');
    expect(limited.headers['retry-after']).toMatch(/^\d+$/);
    // Another client behind the same proxy has its own budget.
    expect((await keys('198.51.100.9')).status).toBe(200);
  });

  it('ignores X-Forwarded-For when no proxy is trusted: every forged address shares the real one', async () => {
    c = await createTestApp({ apiRateLimit: 12 });
    const statuses: number[] = [];
    for (let i = 0; i < 13; i++) {
      statuses.push(
        (await request(c.licensor.app).get('/api/v1/keys').set('X-Forwarded-For', `203.0.113.${i}`)).status,
      );
    }
    expect(statuses.slice(0, 12).every((s) => s === 200)).toBe(true);
    expect(statuses[12]).toBe(429);
  });
});

describe('activation API: request bodies over a real socket', () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createServer(t.licensor.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** One POST to /api/v1/activations; `chunks` are sent chunked unless a Content-Length header is given. */
  const post = (headers: Record<string, string>, chunks: Buffer[], agent?: Agent) =>
    new Promise<{ status: number; headers: IncomingHttpHeaders; text: string; req: { method: string; path: string } }>(
      (resolve, reject) => {
        const req = httpRequest(
          { host: '127.0.0.1', port, path: '/api/v1/activations', method: 'POST', headers, agent },
          (res) => {
            const parts: Buffer[] = [];
            res.on('data', (c: Buffer) => parts.push(c));
            res.on('end', () =>
              resolve({
                status: res.statusCode!,
                headers: res.headers,
                text: Buffer.concat(parts).toString('utf8'),
                req: { method: 'POST', path: '/api/v1/activations' },
              }),
            );
            res.on('error', reject);
          },
        );
        // The server may answer (and stop reading) before a refused body is fully sent.
        req.on('error', (err: NodeJS.ErrnoException) => {
          if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err);
        });
        for (const chunk of chunks) req.write(chunk);
        req.end();
      },
    );

  it('refuses a chunked body that grows over 64 KiB with a signed 413 PAYLOAD_TOO_LARGE', async () => {
    const nonce = newNonce();
    const chunk = Buffer.alloc(16 * 1024, 0x20);
    const res = await post({ 'content-type': 'application/json', 'licensor-nonce': nonce }, [
      chunk,
      chunk,
      chunk,
      chunk,
      chunk,
    ]);
    expect(res.status).toBe(413);
    expect(JSON.parse(res.text).error.code).toBe('PAYLOAD_TOO_LARGE');
    // A plain node:http request, not supertest: name what was sent for the signature's request binding.
    const sent = { req: { method: 'POST', path: '/api/v1/activations' } };
    expectSigned({ ...res, ...sent, headers: res.headers as Record<string, string> }, nonce, 413);
  });

  it('keeps a kept-alive connection usable after refusing a compressed body', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    const onConnection = (socket: unknown) => sockets.add(socket);
    server.on('connection', onConnection);
    try {
      const ent = await seedEntitlement(t.db, { seats: 5 });
      const body = Buffer.from(JSON.stringify(activationBody(newDevice(), ent.code!)));
      const json = { 'content-type': 'application/json', 'content-length': String(body.length) };
      const refused = await post({ ...json, 'content-encoding': 'deflate' }, [body], agent);
      expect(refused.status).toBe(400);
      expect(JSON.parse(refused.text).error.message).toMatch(/Content-Encoding deflate/);
      const accepted = await post(json, [body], agent);
      expect(accepted.status, accepted.text).toBe(200);
      expect(JSON.parse(accepted.text).status).toBe('VALID');
      expect(sockets.size).toBe(1);
    } finally {
      server.off('connection', onConnection);
      agent.destroy();
    }
  });
});
