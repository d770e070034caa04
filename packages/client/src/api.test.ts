/**
 * The transport's single retry: a request that dies with its connection before any answer is sent once more, on a
 * new connection, as a new request (new nonce, new device signature); nothing else is retried. Against a real local
 * server (FakeServer: node:http) that loses chosen requests: it resets or closes their connection after reading
 * them, or answers half.
 */
import {
  clock,
  type FakeRequest,
  FakeServer,
  type LoseMode,
  machine,
  PRODUCT,
  pki,
  rejects,
  tempDir,
} from '@licensor/testkit/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from './api';
import { LicenseManager } from './manager';

const CODE = 'PLTESTCODE0001';

let server: FakeServer;
const cleanups: (() => void)[] = [];

beforeEach(async () => {
  server = await new FakeServer().start();
  server.now = clock(Date.now());
  server.codes.set(CODE, { status: 'active', seats: 1, expiresAt: null });
});

afterEach(async () => {
  await server.close();
  for (const fn of cleanups.splice(0)) fn();
});

/** A manager whose fetch counts the requests the client sent (the server cannot count those it never got). */
function device(extra: { requestTimeoutMs?: number } = {}) {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const sent: string[] = [];
  const manager = new LicenseManager({
    productId: PRODUCT,
    roots: [pki().rootPem],
    serverUrl: server.url,
    dataDir: dir,
    fingerprint: () => machine(),
    now: server.now,
    device: { label: 'Test laptop' },
    fetch: (input, init) => {
      sent.push(new URL(String(input)).pathname);
      return fetch(input, init);
    },
    ...extra,
  });
  return { manager, sent };
}

/**
 * fetch (undici) hands a socket back to its keep-alive pool one event-loop turn after the answer (a setImmediate in
 * undici's client), so a request made right away would open a connection of its own. One turn later the next
 * request reuses the idle socket, as an app's request after a laptop wakes up does; the tests check on the server's
 * side that it did (`onConnection: 2`), so a change in undici shows as a failure, not as a test that proves nothing.
 */
const socketBackInPool = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Loses the first request that arrives on a connection that already carried one: a socket gone stale. */
function loseOnReusedSocket(mode: LoseMode) {
  let done = false;
  server.loseRequest = (r) => {
    if (done || r.onConnection < 2) return undefined;
    done = true;
    return mode;
  };
}

const to = (suffix: string) => (r: FakeRequest) => r.path.endsWith(suffix);

describe('one retry on a new connection when a reused socket died under the request', () => {
  it.each([
    ['closes', 'close' as const],
    ['resets', 'reset' as const],
  ])('check-in: the server %s the idle keep-alive connection when the next request arrives on it', async (_, mode) => {
    const d = device();
    await d.manager.activate(CODE);
    await socketBackInPool();
    const connectionsBefore = server.connections;
    loseOnReusedSocket(mode);

    const r = await d.manager.checkIn();
    expect(r).toMatchObject({ online: true, serverStatus: 'VALID', status: { valid: true, code: 'VALID' } });
    expect(r.error).toBeUndefined();

    const [lost, retried, ...more] = server.requests.filter(to('/check-in'));
    expect(more).toEqual([]);
    expect(lost).toMatchObject({ lost: mode, onConnection: 2 });
    // The retry came on one new connection, as a new request: new nonce, new device signature.
    expect(server.connections).toBe(connectionsBefore + 1);
    expect(retried).toMatchObject({ connection: server.connections, onConnection: 1 });
    expect(retried!.lost).toBeUndefined();
    expect(retried!.nonce).not.toBe(lost!.nonce);
    expect(retried!.deviceNonce).toBeDefined();
    expect(retried!.deviceNonce).not.toBe(lost!.deviceNonce);
    expect(d.sent.filter((p) => p.endsWith('/check-in'))).toHaveLength(2);
  });

  it('activation: the request on a stale socket is sent again and activates once', async () => {
    const d = device();
    // Any earlier exchange leaves an idle socket: here the seat list before activating.
    expect((await d.manager.listSeatDevices(CODE)).devices).toEqual([]);
    await socketBackInPool();
    const connectionsBefore = server.connections;
    loseOnReusedSocket('reset');

    const s = await d.manager.activate(CODE);
    expect(s).toMatchObject({ valid: true, code: 'VALID' });
    expect(server.activations.size).toBe(1);
    const [lost, retried, ...more] = server.requests.filter(to('/activations'));
    expect(more).toEqual([]);
    expect(lost).toMatchObject({ lost: 'reset', onConnection: 2 });
    expect(retried!.lost).toBeUndefined();
    expect(retried!.connection).toBeGreaterThan(connectionsBefore);
    expect(retried!.nonce).not.toBe(lost!.nonce);
    const [activation] = [...server.activations.values()];
    expect(await d.manager.verify()).toMatchObject({ code: 'VALID', detail: { activationId: activation!.id } });
  });
});

describe('no retry', () => {
  it('a server that resets every connection: two attempts, then the same unreachable answer as before', async () => {
    const d = device({ requestTimeoutMs: 60_000 });
    await d.manager.activate(CODE);
    server.loseRequest = () => 'reset';
    const started = performance.now();

    const r = await d.manager.checkIn(); // offline grace: still valid, not refreshed
    expect(r).toMatchObject({ online: false, status: { valid: true, code: 'VALID' } });
    expect(r.error).toMatchObject({ code: 'SERVER_UNREACHABLE', retryable: true });
    expect(r.error?.message).toMatch(/Cannot reach the license server .* \(ECONNRESET\)/);
    const attempts = server.requests.filter(to('/check-in'));
    expect(attempts.map((a) => a.lost)).toEqual(['reset', 'reset']);
    expect(new Set(attempts.map((a) => a.nonce)).size).toBe(2);
    expect(d.sent.filter((p) => p.endsWith('/check-in'))).toHaveLength(2);
    expect(attempts[1]!.connection).not.toBe(attempts[0]!.connection);
    // No backoff and no waiting for the request timeout (60 s here): the retry follows the reset at once.
    expect(performance.now() - started).toBeLessThan(10_000);

    server.loseRequest = () => 'reset';
    const err = await rejects(device().manager.activate(CODE)); // an activation: "try again later"
    expect(err).toMatchObject({ code: 'SERVER_UNREACHABLE', retryable: true });
    expect(server.requests.filter(to('/activations'))).toHaveLength(1 + 2);
  });

  it.each([502, 503])('an HTTP %i answer is one attempt (unreachable, as before)', async (status) => {
    const d = device();
    server.unsignedStatus = status;
    const err = await rejects(d.manager.activate(CODE));
    expect(err).toMatchObject({ code: 'SERVER_UNREACHABLE', retryable: true, detail: { httpStatus: status } });
    expect(server.requests).toHaveLength(1);
    expect(d.sent).toEqual(['/api/v1/activations']);
  });

  it('a signed 5xx answer is one attempt', async () => {
    const d = device();
    await d.manager.activate(CODE);
    server.codes.delete(CODE); // the fake server's check-in then fails inside: a signed INTERNAL (HTTP 500)
    const r = await d.manager.checkIn();
    expect(r).toMatchObject({ online: false, status: { valid: true }, error: { code: 'INTERNAL' } });
    expect(server.requests.filter(to('/check-in'))).toHaveLength(1);
  });

  it('a refused connection (nothing listening) is one attempt', async () => {
    const d = device();
    await server.close();
    const err = await rejects(d.manager.activate(CODE));
    expect(err).toMatchObject({ code: 'SERVER_UNREACHABLE', retryable: true, detail: { cause: 'ECONNREFUSED' } });
    expect(d.sent).toEqual(['/api/v1/activations']);
  });

  it('an answer that breaks off after its headers is one attempt', async () => {
    const d = device();
    server.loseRequest = () => 'truncate';
    const err = await rejects(d.manager.activate(CODE));
    // The same socket failure as a stale connection ("other side closed"), but part of the answer was read.
    expect(err).toMatchObject({ code: 'SERVER_UNREACHABLE', retryable: true, detail: { cause: 'UND_ERR_SOCKET' } });
    expect(server.requests.map((r) => r.lost)).toEqual(['truncate']);
    expect(d.sent).toHaveLength(1);
  });

  it('a timeout is one attempt', async () => {
    const d = device({ requestTimeoutMs: 50 });
    server.loseRequest = () => 'hang';
    const err = await rejects(d.manager.activate(CODE));
    expect(err).toMatchObject({ code: 'SERVER_UNREACHABLE', detail: { cause: 'TimeoutError' } });
    expect(d.sent).toHaveLength(1);
  });
});

describe('which fetch failures are retried', () => {
  /** fetch's own error shapes (undici: TypeError "fetch failed" with the socket's or resolver's error as cause). */
  const failure = (code: string) =>
    Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(code), { code }) });
  const timeout = () => new DOMException('The operation was aborted due to timeout', 'TimeoutError');

  it.each([
    ['ECONNRESET', 2, () => failure('ECONNRESET')],
    ['EPIPE', 2, () => failure('EPIPE')],
    ['UND_ERR_SOCKET (other side closed)', 2, () => failure('UND_ERR_SOCKET')],
    ['ENOTFOUND (DNS)', 1, () => failure('ENOTFOUND')],
    ['EAI_AGAIN (DNS)', 1, () => failure('EAI_AGAIN')],
    ['ECONNREFUSED', 1, () => failure('ECONNREFUSED')],
    ['ENETUNREACH', 1, () => failure('ENETUNREACH')],
    ['EHOSTUNREACH', 1, () => failure('EHOSTUNREACH')],
    ['UND_ERR_CONNECT_TIMEOUT', 1, () => failure('UND_ERR_CONNECT_TIMEOUT')],
    ['UND_ERR_HEADERS_TIMEOUT', 1, () => failure('UND_ERR_HEADERS_TIMEOUT')],
    ['TimeoutError (request timeout)', 1, timeout],
  ])('%s: %i attempt(s), then SERVER_UNREACHABLE', async (_, attempts, error) => {
    const nonces: string[] = [];
    const api = new ApiClient({
      serverUrl: 'https://license.example.com',
      roots: [pki().rootPem],
      fetch: (_input, init) => {
        nonces.push(new Headers(init?.headers).get('licensor-nonce') ?? '');
        return Promise.reject(error());
      },
    });
    const err = await rejects(api.refreshKeys());
    expect(err).toMatchObject({ code: 'SERVER_UNREACHABLE', retryable: true });
    expect(nonces).toHaveLength(attempts);
    expect(new Set(nonces).size).toBe(attempts);
  });
});

describe('the timeout of a retried request', () => {
  it('is one deadline for both attempts: the retry gets the same signal, and an aborted one is not retried again', async () => {
    const signals: (AbortSignal | null | undefined)[] = [];
    const api = new ApiClient({
      serverUrl: 'https://license.example.com',
      roots: [pki().rootPem],
      timeoutMs: 60_000,
      fetch: (_input, init) => {
        signals.push(init?.signal);
        return Promise.reject(
          Object.assign(new TypeError('fetch failed'), {
            cause: Object.assign(new Error('ECONNRESET'), { code: 'ECONNRESET' }),
          }),
        );
      },
    });
    await rejects(api.refreshKeys());
    expect(signals).toHaveLength(2);
    expect(signals[0]).toBeInstanceOf(AbortSignal);
    expect(signals[1]).toBe(signals[0]);
  });
});
