import { randomBytes } from 'node:crypto';
import { Agent, createServer, type IncomingHttpHeaders, type IncomingMessage, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LicensorError } from '@licensor/shared';
import express from 'express';
import helmet, { type HelmetOptions } from 'helmet';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endJson, helmetHeaders, readBody } from './node';

/** Headers Node or Express add on their own, whatever the middleware. */
const TRANSPORT_HEADERS = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding']);

/** The headers an Express app with helmet(options) sends on a bare answer, lower-cased, transport headers left out. */
async function expressHelmetHeaders(options: HelmetOptions, poweredBy: boolean): Promise<Map<string, string>> {
  const app = express();
  if (!poweredBy) app.disable('x-powered-by');
  app.set('etag', false);
  app.use(helmet(options));
  app.get('/x', (_req, res) => {
    res.end();
  });
  const res = await supertest(app).get('/x');
  expect(res.status).toBe(200);
  const out = new Map<string, string>();
  for (const [name, value] of Object.entries(res.headers as Record<string, string>)) {
    if (!TRANSPORT_HEADERS.has(name)) out.set(name, String(value));
  }
  return out;
}

const lowerCased = (headers: readonly (readonly [string, string])[]) =>
  new Map(headers.map(([name, value]) => [name.toLowerCase(), value]));

describe('helmetHeaders', () => {
  const variants: [string, HelmetOptions][] = [
    ['defaults', {}],
    [
      "the server's options",
      { contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } } },
    ],
    [
      'custom everything',
      {
        contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'self'"], imgSrc: ['data:'] } },
        crossOriginEmbedderPolicy: true,
        crossOriginResourcePolicy: { policy: 'cross-origin' },
        hsts: { maxAge: 60, includeSubDomains: false, preload: true },
        frameguard: { action: 'deny' },
        referrerPolicy: { policy: ['origin', 'same-origin'] },
        xDnsPrefetchControl: { allow: true },
      },
    ],
    ['report-only CSP', { contentSecurityPolicy: { reportOnly: true, directives: { defaultSrc: ["'none'"] } } }],
    [
      'several middlewares off',
      { contentSecurityPolicy: false, hsts: false, xFrameOptions: false, xContentTypeOptions: false },
    ],
  ];

  for (const [name, options] of variants) {
    it(`sends exactly what Express with helmet sends (${name})`, async () => {
      const recorded = helmetHeaders(options);
      const names = recorded.map(([n]) => n.toLowerCase());
      expect(new Set(names).size).toBe(names.length);
      const ours = lowerCased(recorded);
      expect(ours.size).toBeGreaterThan(5);
      for (const poweredBy of [false, true]) {
        expect(ours).toEqual(await expressHelmetHeaders(options, poweredBy));
      }
      // helmet removes X-Powered-By; the recorded list never adds it.
      expect(ours.has('x-powered-by')).toBe(false);
    });
  }

  it('includes the headers the activation API relies on, with their values', () => {
    const headers = lowerCased(
      helmetHeaders({ contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } } }),
    );
    expect(headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    expect(headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
    expect(headers.get('x-content-type-options')).toBe('nosniff');
    expect(headers.get('strict-transport-security')).toMatch(/^max-age=\d+/);
    expect(headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(headers.get('referrer-policy')).toBe('no-referrer');
    expect(headers.get('cross-origin-opener-policy')).toBe('same-origin');
  });

  it('drops a disabled middleware and refuses options helmet refuses', () => {
    expect(lowerCased(helmetHeaders({ contentSecurityPolicy: false })).has('content-security-policy')).toBe(false);
    expect(lowerCased(helmetHeaders({ hsts: false })).has('strict-transport-security')).toBe(false);
    expect(() => helmetHeaders({ hsts: { maxAge: -1 } })).toThrow();
  });
});

interface Outcome {
  body?: Buffer;
  error?: unknown;
}

/** A real HTTP server whose handler runs readBody(req, LIMIT) and answers what it got. */
const LIMIT = 1024;
let server: Server;
let base: { host: string; port: number };
const outcomes: Outcome[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    readBody(req, Number(req.headers['x-limit'] ?? LIMIT)).then(
      (body) => {
        outcomes.push({ body });
        res.setHeader('x-body-length', String(body.length));
        res.statusCode = 200;
        res.end(body);
      },
      (error: unknown) => {
        outcomes.push({ error });
        res.statusCode = error instanceof LicensorError ? error.httpStatus : 500;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ code: (error as LicensorError).code, message: (error as Error).message }));
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = { host: '127.0.0.1', port: (server.address() as AddressInfo).port };
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  outcome: Outcome;
}

/**
 * Sends one request over a real socket. `chunks` are written one by one (chunked transfer encoding unless a
 * Content-Length header is given); the answer and what readBody returned or threw come back.
 */
function send(
  opts: { method?: string; headers?: Record<string, string>; chunks?: Buffer[]; agent?: Agent } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const before = outcomes.length;
    const req = request(
      { ...base, path: '/', method: opts.method ?? 'POST', headers: opts.headers, agent: opts.agent },
      (res: IncomingMessage) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          expect(outcomes.length).toBe(before + 1);
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            body: Buffer.concat(parts),
            outcome: outcomes[before]!,
          });
        });
        res.on('error', reject);
      },
    );
    // The server may answer (and stop reading) before a refused body is fully sent.
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err);
    });
    for (const chunk of opts.chunks ?? []) req.write(chunk);
    req.end();
  });
}

function expectRefused(answer: Answer, code: string, status: number): void {
  expect(answer.outcome.body).toBeUndefined();
  expect(answer.outcome.error).toBeInstanceOf(LicensorError);
  expect((answer.outcome.error as LicensorError).code).toBe(code);
  expect(answer.status).toBe(status);
  expect(JSON.parse(answer.body.toString('utf8')).code).toBe(code);
}

describe('readBody', () => {
  it('returns the exact bytes sent with a Content-Length, binary and invalid UTF-8 included', async () => {
    const bytes = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0xc3]), randomBytes(500), Buffer.from('€\r\n')]);
    const answer = await send({ headers: { 'content-length': String(bytes.length) }, chunks: [bytes] });
    expect(answer.status).toBe(200);
    expect(answer.outcome.body!.equals(bytes)).toBe(true);
    expect(answer.body.equals(bytes)).toBe(true);
  });

  it('returns the exact bytes of a chunked body, reassembled in order', async () => {
    const chunks = Array.from({ length: 8 }, () => randomBytes(100));
    const answer = await send({ chunks });
    expect(answer.status).toBe(200);
    expect(answer.outcome.body!.equals(Buffer.concat(chunks))).toBe(true);
  });

  it('accepts a body of exactly the limit, declared or chunked', async () => {
    const bytes = randomBytes(LIMIT);
    const declared = await send({ headers: { 'content-length': String(LIMIT) }, chunks: [bytes] });
    expect(declared.outcome.body!.equals(bytes)).toBe(true);
    const chunked = await send({ chunks: [bytes.subarray(0, 600), bytes.subarray(600)] });
    expect(chunked.outcome.body!.equals(bytes)).toBe(true);
  });

  it('returns an empty buffer when there is no body', async () => {
    for (const method of ['GET', 'DELETE', 'POST', 'HEAD']) {
      const answer = await send({ method });
      expect(answer.status).toBe(200);
      expect(Buffer.isBuffer(answer.outcome.body)).toBe(true);
      expect(answer.outcome.body!.length).toBe(0);
    }
    const zero = await send({ headers: { 'content-length': '0' } });
    expect(zero.outcome.body!.length).toBe(0);
    const emptyChunked = await send({ headers: { 'transfer-encoding': 'chunked' } });
    expect(emptyChunked.outcome.body!.length).toBe(0);
  });

  it('refuses a declared Content-Length over the limit with PAYLOAD_TOO_LARGE', async () => {
    const bytes = randomBytes(LIMIT + 1);
    const answer = await send({ headers: { 'content-length': String(bytes.length) }, chunks: [bytes] });
    expectRefused(answer, 'PAYLOAD_TOO_LARGE', 413);
    expect((answer.outcome.error as Error).message).toContain(String(LIMIT));
    const smallLimit = await send({ headers: { 'content-length': '11', 'x-limit': '10' }, chunks: [randomBytes(11)] });
    expectRefused(smallLimit, 'PAYLOAD_TOO_LARGE', 413);
  });

  it('refuses a chunked body that grows over the limit with PAYLOAD_TOO_LARGE', async () => {
    const answer = await send({ chunks: [randomBytes(600), randomBytes(600)] });
    expect(answer.headers['x-body-length']).toBeUndefined();
    expectRefused(answer, 'PAYLOAD_TOO_LARGE', 413);
  });

  it('refuses compressed bodies with INVALID_INPUT, whatever the spelling; identity is fine', async () => {
    const body = Buffer.from('{"a":1}');
    for (const encoding of ['gzip', 'GZIP', 'deflate', 'br']) {
      const declared = await send({
        headers: { 'content-encoding': encoding, 'content-length': String(body.length) },
        chunks: [body],
      });
      expectRefused(declared, 'INVALID_INPUT', 400);
      expect((declared.outcome.error as Error).message).toContain(encoding.toLowerCase());
      const chunked = await send({ headers: { 'content-encoding': encoding }, chunks: [body] });
      expectRefused(chunked, 'INVALID_INPUT', 400);
    }
    const identity = await send({
      headers: { 'content-encoding': 'identity', 'content-length': String(body.length) },
      chunks: [body],
    });
    expect(identity.outcome.body!.equals(body)).toBe(true);
  });

  it('keeps a kept-alive connection usable after refusing a body', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    const onConnection = (socket: unknown) => sockets.add(socket);
    server.on('connection', onConnection);
    try {
      const bytes = Buffer.from('{"ok":true}');
      const first = await send({
        agent,
        headers: { 'content-encoding': 'gzip', 'content-length': String(bytes.length) },
        chunks: [bytes],
      });
      expectRefused(first, 'INVALID_INPUT', 400);
      const second = await send({ agent, headers: { 'content-length': String(bytes.length) }, chunks: [bytes] });
      expect(second.status).toBe(200);
      expect(second.outcome.body!.equals(bytes)).toBe(true);
      expect(sockets.size).toBe(1);
    } finally {
      server.off('connection', onConnection);
      agent.destroy();
    }
  });
});

describe('endJson', () => {
  it('sends JSON with its length, and no body for HEAD', async () => {
    const text = JSON.stringify({ message: 'héllo ✓' });
    const app = (req: IncomingMessage, res: Parameters<typeof endJson>[1]) => endJson(req, res, 418, text);
    const get = await supertest(app).get('/');
    expect(get.status).toBe(418);
    expect(get.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(get.headers['content-length']).toBe(String(Buffer.byteLength(text)));
    expect(get.text).toBe(text);
    expect(get.body).toEqual({ message: 'héllo ✓' });
    const head = await supertest(app).head('/');
    expect(head.status).toBe(418);
    expect(head.headers['content-length']).toBe(String(Buffer.byteLength(text)));
    expect(head.text ?? '').toBe('');
  });
});
