import { execFileSync } from 'node:child_process';
import * as nodeCrypto from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import {
  bodySignHeader,
  DEVICE_SIGNATURE_HEADER,
  decryptPrivateKey,
  encodeOfflineRequest,
  schemeAAuthToken,
  schemeBSignature,
  signAkSk,
  signDeviceRequest,
  verifyAkSk,
  verifyBodySign,
  verifySchemeA,
  verifySchemeB,
} from '@licensor/shared';
import { MarketplaceSimulator } from '@licensor/simulator';
import { PRODUCE, schemeATimestamp } from '@licensor/testkit/server';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { adminAuth } from './admin/auth';
import { createApp, type LicensorApp } from './app';
import { type Config, testConfig } from './config';
import { openSqliteDatabase, type SqliteDatabase } from './db/sqlite';
import { DEVELOPMENT_ROOT_PASSPHRASE, KeyStore } from './keys/keystore';
import { formatCompactTime } from './koogallery/time';
import { createLogger, logHash } from './logger';
import { type RunningServer, startServer } from './server';

// Every comparison of a secret must go through crypto.timingSafeEqual: wrap it to see who calls it.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});
const timingSafeEqual = vi.mocked(nodeCrypto.timingSafeEqual);

/**
 * Security properties of the whole server, checked on a full run: secrets never leave it (logs, responses),
 * secrets are compared in constant time, CORS is off unless configured, security headers everywhere, TLS 1.2+,
 * and X-Forwarded-For is ignored unless a proxy is trusted.
 */

const ADMIN_TOKEN = 'adm-SECRET-7f3a9c1e5b2d4f60';
const KOO_KEY = 'koo-KEY-SECRET-91ab';
const ACCESS_KEY = 'koo-ACCESS-SECRET-44cd';
const AK = 'AK-bench-0001';
const SK = 'sk-SECRET-0f1e2d3c4b5a6978';
const PASSPHRASE = 'key-PASSPHRASE-SECRET-x1';

interface Captured {
  what: string;
  status: number;
  headers: Record<string, unknown>;
  text: string;
}

const hash = (s: string) => nodeCrypto.createHash('sha256').update(s).digest('base64url');

function device(seed: string) {
  const { publicKey, privateKey } = nodeCrypto.generateKeyPairSync('ed25519');
  const spki = publicKey.export({ format: 'der', type: 'spki' }).toString('base64url');
  return {
    privateKey,
    spki,
    components: { machineId: [hash(`m-${seed}`)], cpu: [hash(`c-${seed}`)], diskSerials: [hash(`d-${seed}`)] },
  };
}

describe('secrets stay secret on a full run (logs and every response)', () => {
  const sim = new MarketplaceSimulator(AK, SK);
  let dir: string;
  let db: SqliteDatabase;
  let keys: KeyStore;
  let licensor: LicensorApp;
  const logLines: string[] = [];
  const responses: Captured[] = [];

  beforeAll(async () => {
    const simUrl = await sim.listen();
    dir = mkdtempSync(join(tmpdir(), 'licensor-security-'));
    const config: Config = testConfig({
      dataDir: dir,
      adminToken: ADMIN_TOKEN,
      apiRateLimit: 0,
      koo: {
        key: KOO_KEY,
        accessKeys: { basic: ACCESS_KEY, licenseCode: ACCESS_KEY, generic: ACCESS_KEY, kit: ACCESS_KEY },
        ak: AK,
        sk: SK,
        apiBase: simUrl,
        apiFallback: undefined,
        timeoutMs: 1000,
      },
      keyPassphrase: PASSPHRASE,
    });
    db = openSqliteDatabase(join(dir, 'licensor.db'));
    keys = KeyStore.open(join(dir, 'keys'), PASSPHRASE).store;
    // The most verbose level: whatever any module logs is captured.
    const log = createLogger('trace', { write: (line: string) => void logLines.push(line) });
    licensor = await createApp({ config, db, log, keys, outbox: { backoffMs: () => 0 } });
  });
  afterAll(async () => {
    await licensor.stop();
    await db.close();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const keep = (what: string, res: request.Response) => {
    responses.push({ what, status: res.status, headers: res.headers, text: res.text ?? '' });
    return res;
  };
  const app = () => licensor.app;
  const admin = (method: 'get' | 'post' | 'delete' | 'put', path: string, token = ADMIN_TOKEN) =>
    request(app())[method](`/api/admin/v1${path}`).set('Authorization', `Bearer ${token}`);
  const getA = (params: Record<string, string>) => {
    const all = { ...params, timeStamp: schemeATimestamp() };
    return request(app()).get(
      `${PRODUCE}?${new URLSearchParams({ ...all, authToken: schemeAAuthToken(KOO_KEY, all) })}`,
    );
  };
  const postB = (body: Record<string, unknown>) => {
    const raw = JSON.stringify(body);
    const ts = String(Date.now());
    const nonce = nodeCrypto.randomBytes(12).toString('hex');
    return request(app())
      .post(`${PRODUCE}?signature=${schemeBSignature(ACCESS_KEY, nonce, ts, raw)}&timestamp=${ts}&nonce=${nonce}`)
      .set('Content-Type', 'application/json')
      .send(raw);
  };

  it('drives every API (marketplace, activation, check-in, admin) and captures all answers', async () => {
    const expiry = formatCompactTime(new Date(Date.now() + 365 * 86_400_000));
    const order = keep(
      'getLicense',
      await getA({
        activity: 'getLicense',
        businessId: 'b1',
        customerId: 'c1',
        orderId: 'SEC-O1',
        productId: 'P1',
        amount: '3',
        expireTime: expiry,
      }),
    );
    const { instanceId, license } = JSON.parse(order.text) as { instanceId: string; license: string };
    expect(license).toMatch(/^LSR-/);
    keep(
      'refreshLicense',
      await getA({ activity: 'refreshLicense', orderId: 'SEC-R1', instanceId, expireTime: expiry }),
    );
    keep('bad authToken', await request(app()).get(`${PRODUCE}?activity=getLicense&authToken=x&timeStamp=1`));

    sim.addOrder({ orderId: 'SEC-C1', orderLineId: 'SEC-C1-L1', linearValue: 2, expireTime: expiry });
    const inst = keep(
      'newInstance',
      await postB({ activity: 'newInstance', orderId: 'SEC-C1', orderLineId: 'SEC-C1-L1', businessId: 'b2' }),
    );
    const cInstance = (JSON.parse(inst.text) as { instanceId: string }).instanceId;
    keep(
      'getLicenseAsync',
      await postB({
        activity: 'getLicenseAsync',
        instanceId: cInstance,
        eventId: 'SEC-EV1',
        effectiveTime: new Date().toISOString().replace('T', ' ').slice(0, 19) + ' UTC',
        expireTime: new Date(Date.now() + 30 * 86_400_000).toISOString().replace('T', ' ').slice(0, 19) + ' UTC',
        deviceFingerprint: '00:11:22:33:44:55|DISK1|BOARD1|CPU1',
      }),
    );
    // Marketplace failures make the open-API client and the outbox log warnings with their context.
    sim.faults = { failNext: 2 };
    keep(
      'getLicenseAsync retried',
      await postB({
        activity: 'getLicenseAsync',
        instanceId: cInstance,
        eventId: 'SEC-EV2',
        effectiveTime: new Date().toISOString().replace('T', ' ').slice(0, 19) + ' UTC',
        expireTime: new Date(Date.now() + 30 * 86_400_000).toISOString().replace('T', ' ').slice(0, 19) + ' UTC',
        deviceFingerprint: '00:11:22:33:44:66|DISK2|BOARD2|CPU2',
      }),
    );
    await licensor.ctx.outbox.drain();
    sim.faults = {};
    sim.addCode({ code: 'PLSECURITY0001', amount: 2 });
    keep('register code', await admin('post', '/codes').send({ code: 'PLSECURITY0002', productId: 'P1', seats: 2 }));
    keep(
      'freeze code',
      await postB({ activity: 'updateLicenseCodeStatus', license: 'PLSECURITY0002', status: 'FREEZE' }),
    );
    keep('garbage body', await postB({ activity: 'refreshLicenseCode', license: 12 }));

    // Activation API: activate, check in, list seats, deactivate; plus errors.
    const d1 = device('one');
    const act = keep(
      'activate',
      await request(app())
        .post('/api/v1/activations')
        .set('Licensor-Nonce', 'a1b2c3d4e5f60718')
        .send({ code: license, fingerprint: { components: d1.components }, devicePublicKey: d1.spki }),
    );
    expect(act.status).toBe(200);
    const activationId = (JSON.parse(act.text) as { activationId: string }).activationId;
    const d2 = device('two');
    keep(
      'activate B code (learned from the marketplace)',
      await request(app())
        .post('/api/v1/activations')
        .send({ code: 'PLSECURITY0001', fingerprint: { components: d2.components }, devicePublicKey: d2.spki }),
    );
    // The marketplace fails while a new code is activated: the failure is logged for the operator ({"code":"PL…"}).
    const d3 = device('three');
    sim.faults = { failNext: 10 };
    // Not kept: a 503 is the right answer here, and the header checks below expect no 5xx.
    const unavailable = await request(app())
      .post('/api/v1/activations')
      .send({ code: 'PLSECURITY0404', fingerprint: { components: d3.components }, devicePublicKey: d3.spki });
    expect(unavailable.status).toBe(503);
    sim.faults = {};
    const path = `/api/v1/activations/${activationId}/check-in`;
    const body = JSON.stringify({ appVersion: '1.0.0' });
    const sig = signDeviceRequest({ activationId, method: 'POST', path, body, privateKey: d1.privateKey });
    const checkIn = keep(
      'check-in',
      await request(app())
        .post(path)
        .set(DEVICE_SIGNATURE_HEADER, sig)
        .set('Content-Type', 'application/json')
        .send(body),
    );
    expect(checkIn.status).toBe(200);
    keep('replayed check-in', await request(app()).post(path).set(DEVICE_SIGNATURE_HEADER, sig).send(body));
    keep('seats', await request(app()).post('/api/v1/seats/devices').send({ code: license }));
    keep('keys', await request(app()).get('/api/v1/keys'));
    keep('bad activation', await request(app()).post('/api/v1/activations').send('{"code":'));
    const offline = encodeOfflineRequest(
      {
        v: 1,
        createdAt: new Date().toISOString(),
        nonce: 'aabbccddeeff00112233',
        code: license,
        fingerprint: { components: device('three').components },
        device: {},
        devicePublicKey: device('three').spki,
      },
      d1.privateKey,
    );
    keep('offline response', await admin('post', '/offline-responses').send({ request: offline }));

    // Admin API with the bootstrap token, a created token, wrong tokens; every list and export.
    const created = keep('create token', await admin('post', '/tokens').send({ name: 'ops', scope: 'read' }));
    const newToken = (JSON.parse(created.text) as { token?: string }).token;
    expect(newToken).toBeTruthy();
    for (const p of [
      '/summary',
      '/entitlements',
      `/entitlements/${instanceId}`,
      '/codes',
      '/orders',
      '/activations',
      '/audit',
      '/messages',
      '/outbox',
      '/tokens',
      '/export/entitlements',
      '/export/activations?format=json',
      '/export/messages',
      '/codes/PLSECURITY0002',
    ]) {
      keep(`admin ${p}`, await admin('get', p));
      keep(`admin ${p} (read token)`, await admin('get', p, newToken!));
    }
    keep('admin write with read token', await admin('post', '/codes', newToken!).send({ code: 'PLX' }));
    keep('admin wrong token', await admin('get', '/summary', `${ADMIN_TOKEN}x`));
    keep('admin bad JSON', await admin('post', '/codes').set('Content-Type', 'application/json').send('{"code":'));
    keep('admin revoke', await admin('post', `/entitlements/${instanceId}/suspend`).send({ reason: 'test' }));
    keep('healthz', await request(app()).get('/healthz'));
    keep('metrics', await request(app()).get('/metrics'));
    keep('404', await request(app()).get('/nope'));
    await licensor.ctx.messages.flush();
    expect(responses.length).toBeGreaterThan(40);
    // The failures above were logged (with their context), so the log checks below have something to read.
    expect(logLines.length).toBeGreaterThan(1);
  });

  it('never writes the admin tokens, marketplace secrets or passphrase to the log', async () => {
    const created = responses.find((r) => r.what === 'create token')!;
    const newToken = (JSON.parse(created.text) as { token: string }).token;
    const log = logLines.join('');
    for (const secret of [ADMIN_TOKEN, newToken, KOO_KEY, ACCESS_KEY, SK, PASSPHRASE]) {
      expect(log.includes(secret), `secret ${secret.slice(0, 8)}… found in the log`).toBe(false);
    }
    // The tokens are not stored in the database either, only their hashes.
    const dump =
      JSON.stringify(await db.all('SELECT * FROM admin_tokens')) +
      JSON.stringify(await db.all('SELECT * FROM audit_log'));
    expect(dump.includes(ADMIN_TOKEN) || dump.includes(newToken)).toBe(false);
  });

  it('logs license codes and order ids only as hashes', () => {
    const log = logLines.join('');
    const license = (JSON.parse(responses.find((r) => r.what === 'getLicense')!.text) as { license: string }).license;
    const identifiers = ['PLSECURITY0001', 'PLSECURITY0002', 'PLSECURITY0404', license, 'SEC-O1', 'SEC-R1', 'SEC-C1'];
    for (const id of identifiers) expect(log.includes(id), `${id} found in the log`).toBe(false);
    // They were logged (as hashes an operator can match with logHash): the check above had something to hide.
    expect(identifiers.filter((id) => log.includes(logHash(id))).length).toBeGreaterThan(0);
  });

  it('never exposes private key material in any response or log line', () => {
    const signer = keys.current();
    // The root has its own passphrase (a development one here: none configured).
    const rootPem = readFileSync(join(dir, 'keys', 'root.key.pem'), 'utf8');
    const rootKey = decryptPrivateKey(rootPem, DEVELOPMENT_ROOT_PASSPHRASE);
    const needles: string[] = ['PRIVATE KEY', PASSPHRASE, DEVELOPMENT_ROOT_PASSPHRASE];
    for (const key of [signer.privateKey, rootKey]) {
      const pkcs8 = key.export({ format: 'der', type: 'pkcs8' });
      const seed = pkcs8.subarray(pkcs8.length - 32);
      needles.push(pkcs8.toString('base64'), seed.toString('base64'), seed.toString('base64url'), seed.toString('hex'));
      const jwk = key.export({ format: 'jwk' }) as { d?: string };
      if (jwk.d) needles.push(jwk.d);
    }
    const haystacks = [
      ...responses.map((r) => ({ where: `response to ${r.what}`, text: r.text + JSON.stringify(r.headers) })),
      { where: 'log', text: logLines.join('') },
    ];
    for (const h of haystacks) {
      for (const n of needles) expect(h.text.includes(n), `${n.slice(0, 12)}… found in ${h.where}`).toBe(false);
      expect(h.text.includes(ADMIN_TOKEN), `admin token found in ${h.where}`).toBe(false);
    }
    // On disk the private keys are encrypted and readable by the owner only.
    const keyFiles = [
      join(dir, 'keys', 'root.key.pem'),
      ...readdirSync(join(dir, 'keys', 'signing'))
        .filter((f) => f.endsWith('.key.pem'))
        .map((f) => join(dir, 'keys', 'signing', f)),
    ];
    expect(keyFiles.length).toBeGreaterThan(1);
    for (const f of keyFiles) {
      expect(statSync(f).mode & 0o077, `${f} is readable by others`).toBe(0);
      expect(readFileSync(f, 'utf8')).toContain('ENCRYPTED PRIVATE KEY');
    }
  });

  it('sends security headers and no CORS headers on every response', () => {
    for (const r of responses) {
      const h = r.headers;
      expect(h['access-control-allow-origin'], r.what).toBeUndefined();
      expect(h['x-powered-by'], r.what).toBeUndefined();
      expect(h['x-content-type-options'], r.what).toBe('nosniff');
      expect(h['x-frame-options'], r.what).toBe('SAMEORIGIN');
      expect(String(h['content-security-policy']), r.what).toContain("default-src 'none'");
      expect(h['strict-transport-security'], r.what).toMatch(/max-age=\d+/);
      expect(h['referrer-policy'], r.what).toBe('no-referrer');
      expect(r.status, `${r.what}: ${r.text.slice(0, 200)}`).toBeLessThan(500);
      // No stack traces or internal paths in error answers.
      expect(r.text, r.what).not.toMatch(/\n\s+at |node_modules|\/src\/.*\.ts/);
    }
  });
});

describe('secrets are compared in constant time', () => {
  it('admin tokens: timingSafeEqual on digests, any token length is a clean 401', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'licensor-security-'));
    const db = openSqliteDatabase(join(dir, 'licensor.db'));
    try {
      const middleware = adminAuth(db, ADMIN_TOKEN);
      const run = (token: string) =>
        new Promise<unknown>((resolve, reject) => {
          const res = { setHeader: () => undefined, locals: {} as Record<string, unknown> };
          middleware({ headers: { authorization: `Bearer ${token}` }, method: 'GET' } as never, res as never, (err) =>
            resolve(err ?? res.locals.admin),
          ).catch(reject);
        });
      for (const wrong of [
        'x',
        ADMIN_TOKEN.slice(0, -1),
        `${ADMIN_TOKEN}0`,
        'y'.repeat(10_000),
        ADMIN_TOKEN.toUpperCase(),
      ]) {
        timingSafeEqual.mockClear();
        const outcome = (await run(wrong)) as { code?: string };
        expect(outcome.code).toBe('UNAUTHORIZED');
        expect(timingSafeEqual).toHaveBeenCalledTimes(1);
      }
      timingSafeEqual.mockClear();
      expect(await run(ADMIN_TOKEN)).toEqual({ tokenId: 'bootstrap', scope: 'admin' });
      expect(timingSafeEqual).toHaveBeenCalledTimes(1);
    } finally {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('marketplace signatures (scheme A, scheme B, Body-Sign, AK/SK): timingSafeEqual, wrong lengths refused', () => {
    const params = { activity: 'getLicense', orderId: 'O1', timeStamp: schemeATimestamp() };
    const token = schemeAAuthToken(KOO_KEY, params);
    const body = '{"activity":"x"}';
    const ts = String(Date.now());
    const bSig = schemeBSignature(ACCESS_KEY, 'n1', ts, body);
    const bodySign = bodySignHeader(KOO_KEY, body);
    const signed = signAkSk({
      method: 'POST',
      url: 'http://mkt.example.com/v1/license/activate',
      headers: { 'content-type': 'application/json' },
      body,
      ak: AK,
      sk: SK,
    });
    const akskSig = /Signature=([0-9a-f]+)/.exec(
      signed.headers.Authorization ?? signed.headers.authorization ?? '',
    )?.[1];
    expect(akskSig).toBeTruthy();
    const aksk = (sig: string) =>
      verifyAkSk({
        method: 'POST',
        url: '/v1/license/activate',
        headers: Object.fromEntries(
          Object.entries(signed.headers).map(([k, v]) => [
            k.toLowerCase(),
            k.toLowerCase() === 'authorization' ? v.replace(akskSig!, sig) : v,
          ]),
        ),
        body,
        ak: AK,
        sk: SK,
        nowMs: Date.now(),
      }).ok;
    const cases: { name: string; check: (sig: string) => boolean; good: string }[] = [
      { name: 'scheme A', check: (t) => verifySchemeA(KOO_KEY, { ...params, authToken: t }), good: token },
      {
        name: 'scheme B',
        check: (s) => verifySchemeB(ACCESS_KEY, { signature: s, timestamp: ts, nonce: 'n1' }, body, Date.now()).ok,
        good: bSig,
      },
      {
        name: 'Body-Sign',
        check: (s) => verifyBodySign(KOO_KEY, body, bodySign.replace(/signature= "[^"]+"/, `signature= "${s}"`)),
        good: /signature= "([^"]+)"/.exec(bodySign)![1]!,
      },
      { name: 'AK/SK', check: aksk, good: akskSig! },
    ];
    for (const c of cases) {
      timingSafeEqual.mockClear();
      expect(c.check(c.good), c.name).toBe(true);
      expect(timingSafeEqual, `${c.name} compares with timingSafeEqual`).toHaveBeenCalled();
      // Same length, one character changed: still a constant-time comparison, refused. Compared
      // case-insensitively, since scheme B accepts either hex case ('A' → 'a' would be no change at all).
      const flipped = c.good.slice(0, -2) + (c.good.at(-2)?.toLowerCase() === 'a' ? 'b' : 'a') + c.good.at(-1);
      timingSafeEqual.mockClear();
      expect(c.check(flipped), c.name).toBe(false);
      expect(timingSafeEqual, `${c.name}: equal-length mismatch`).toHaveBeenCalled();
      for (const wrong of ['', 'A', c.good.slice(1), `${c.good}A`, 'Z'.repeat(5000)]) {
        expect(() => c.check(wrong), `${c.name} with a ${wrong.length}-char signature`).not.toThrow();
        expect(c.check(wrong), c.name).toBe(false);
      }
    }
  });
});

describe('client addresses and rate limits behind proxies', () => {
  const ip = (app: LicensorApp, xff: string) => request(app.app).get('/api/v1/keys').set('X-Forwarded-For', xff);
  const build = async (trustProxy: string | undefined) => {
    const dir = mkdtempSync(join(tmpdir(), 'licensor-security-'));
    const db = openSqliteDatabase(join(dir, 'licensor.db'));
    const { store } = KeyStore.open(join(dir, 'keys'), 'test-passphrase');
    const config = testConfig({ dataDir: dir, apiRateLimit: 2, trustProxy });
    const app = await createApp({ config, db, log: createLogger('silent'), keys: store });
    return {
      app,
      close: async () => {
        await app.stop();
        await db.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  };

  it('ignores X-Forwarded-For by default: different forwarded addresses share one bucket', async () => {
    const t = await build(undefined);
    try {
      expect((await ip(t.app, '203.0.113.1')).status).toBe(200);
      expect((await ip(t.app, '203.0.113.2')).status).toBe(200);
      const third = await ip(t.app, '203.0.113.3');
      expect(third.status).toBe(429);
      expect(third.body.error.code).toBe('RATE_LIMITED');
    } finally {
      await t.close();
    }
  });

  it('uses the forwarded address when LICENSOR_TRUST_PROXY names the proxy', async () => {
    const t = await build('loopback');
    try {
      for (const addr of ['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4']) {
        expect((await ip(t.app, addr)).status).toBe(200);
      }
      expect((await ip(t.app, '203.0.113.1')).status).toBe(200);
      expect((await ip(t.app, '203.0.113.1')).status).toBe(429);
    } finally {
      await t.close();
    }
  });
});

describe('HTTPS served by the server itself', () => {
  const hasOpenssl = (() => {
    try {
      execFileSync('openssl', ['version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  let dir: string;
  let running: RunningServer;
  let port: number;

  beforeAll(async () => {
    if (!hasOpenssl) return;
    dir = mkdtempSync(join(tmpdir(), 'licensor-tls-'));
    // A throwaway self-signed certificate for 127.0.0.1.
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1'].concat([
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-subj',
        '/CN=127.0.0.1',
      ]),
      { stdio: 'ignore' },
    );
    expect(existsSync(join(dir, 'cert.pem'))).toBe(true);
    const config = testConfig({
      dataDir: dir,
      host: '127.0.0.1',
      port: 0,
      tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') },
    });
    running = await startServer(config, createLogger('silent'));
    port = Number(new URL(running.url).port);
  });
  afterAll(async () => {
    if (!hasOpenssl) return;
    await running.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const handshake = (minVersion: tls.SecureVersion, maxVersion: tls.SecureVersion) =>
    new Promise<{ ok: boolean; protocol?: string | null; code?: string; message?: string }>((resolve) => {
      const socket = tls.connect(
        // SECLEVEL=0 lets OpenSSL 3 offer TLS 1.0/1.1 at all, so a refusal can only come from the server.
        { host: '127.0.0.1', port, minVersion, maxVersion, ciphers: 'DEFAULT@SECLEVEL=0', rejectUnauthorized: false },
        () => {
          const protocol = socket.getProtocol();
          socket.end();
          resolve({ ok: true, protocol });
        },
      );
      socket.on('error', (err: Error & { code?: string }) =>
        resolve({ ok: false, code: err.code, message: err.message }),
      );
    });

  it.skipIf(!hasOpenssl)('refuses TLS 1.0/1.1 clients with a protocol-version alert from the server', async () => {
    for (const version of ['TLSv1', 'TLSv1.1'] as const) {
      const r = await handshake('TLSv1', version);
      expect(r.ok).toBe(false);
      // Alert 70 (protocol_version) was received from the server: the client did offer the old version.
      expect(r.code).toBe('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
    }
  });

  it.skipIf(!hasOpenssl)('accepts TLS 1.2 and 1.3 and serves the API over them', async () => {
    expect(await handshake('TLSv1.2', 'TLSv1.2')).toMatchObject({ ok: true, protocol: 'TLSv1.2' });
    expect(await handshake('TLSv1.3', 'TLSv1.3')).toMatchObject({ ok: true, protocol: 'TLSv1.3' });
    expect(running.url).toMatch(/^https:/);
    const res = await request(running.server).get('/healthz').trustLocalhost(true);
    expect(res.status).toBe(200);
    expect(res.headers['strict-transport-security']).toMatch(/max-age/);
  });
});
