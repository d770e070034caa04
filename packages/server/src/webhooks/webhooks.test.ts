import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seedEntitlement } from '@licensor/testkit/licensing';
import { openTestDatabase, testDatabaseEnv } from '@licensor/testkit/server';
import { Webhook } from 'standardwebhooks';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAdminToken } from '../admin/auth';
import { createApp, type LicensorApp } from '../app';
import { EXIT, main } from '../cli/index';
import { testConfig } from '../config';
import { inTx, type Storage } from '../db/storage';
import { KeyStore } from '../keys/keystore';
import { createLogger } from '../logger';
import type { Resolver } from './address';
import { WEBHOOK_MAX_ATTEMPTS } from './deliver';
import { entitlementEventType } from './entitlementEvents';
import { emit } from './store';

const ADMIN = '/api/admin/v1';
const BOOT = 'Bearer admin-test-token';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * A merchant's webhook receiver: records every request to its own path, answers with the next queued status
 * (default 204). The path is random: a port the system hands out again may still be the address of another test's
 * endpoint (another process retrying a delivery), and such a request gets a 404 instead of being recorded.
 */
async function startReceiver() {
  const received: Received[] = [];
  const answers: number[] = [];
  const path = `/hooks/${randomUUID()}`;
  const server = http.createServer((req, res) => {
    if (req.url !== path) {
      req.resume();
      res.writeHead(404).end();
      return;
    }
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      const status = answers.shift() ?? 204;
      if (status >= 300 && status < 400) res.setHeader('location', 'http://169.254.169.254/latest/meta-data/');
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    received,
    answers,
    port,
    path,
    url: `http://127.0.0.1:${port}${path}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

interface Running {
  licensor: LicensorApp;
  db: Storage;
  close(): Promise<void>;
}

let dir: string;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let running: Running[] = [];

async function startApp(opts: { allowPrivate?: boolean; now?: () => Date; resolve?: Resolver } = {}): Promise<Running> {
  const config = testConfig({ dataDir: dir, webhookAllowPrivate: opts.allowPrivate ?? true });
  const db = await openTestDatabase(join(dir, 'licensor.db'));
  const { store: keys } = KeyStore.open(join(dir, 'keys'), 'test-passphrase');
  const licensor = await createApp({
    config,
    db,
    keys,
    log: createLogger('silent'),
    now: opts.now,
    webhooks: { resolve: opts.resolve, timeoutMs: 5000 },
  });
  let closed = false;
  const r: Running = {
    licensor,
    db,
    close: async () => {
      if (closed) return;
      closed = true;
      await licensor.stop();
      await db.close();
    },
  };
  running.push(r);
  return r;
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'licensor-webhooks-'));
  receiver = await startReceiver();
});
afterEach(async () => {
  for (const r of running) await r.close();
  running = [];
  await receiver.close();
  rmSync(dir, { recursive: true, force: true });
});

const admin = (app: Running) => ({
  get: (path: string) =>
    request(app.licensor.app)
      .get(ADMIN + path)
      .set('Authorization', BOOT),
  post: (path: string, body?: object) =>
    request(app.licensor.app)
      .post(ADMIN + path)
      .set('Authorization', BOOT)
      .send(body),
});

async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  let out = '';
  let err = '';
  const code = await main(['--data-dir', dir, ...args], {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: { USER: 'alice', LICENSOR_KEY_PASSPHRASE: 'test-passphrase', ...testDatabaseEnv(dir), ...env },
  });
  return { code, out, err, json: () => JSON.parse(out) };
}

const emitIn = (app: Running, type: 'license.created' | 'license.revoked', data: Record<string, unknown>) =>
  app.db.transaction(async (tx) => emit(inTx(app.licensor.ctx, tx), { type, data }));

describe('webhook endpoints', () => {
  it('are registered through the admin API, with the secret shown once, and bad input refused', async () => {
    const app = await startApp({ allowPrivate: false });
    const api = admin(app);
    const created = await api.post('/webhooks/endpoints', {
      url: 'https://hooks.example.com/licensor',
      events: ['license.created', 'license.revoked'],
    });
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^whsec_/);
    const list = await api.get('/webhooks/endpoints');
    expect(list.body.items).toEqual([expect.objectContaining({ id: created.body.endpoint.id, enabled: true })]);
    expect(JSON.stringify(list.body)).not.toContain(created.body.secret);
    // Sealed at rest: the database does not hold the secret in clear.
    const stored = (await app.db.first<{ secret: string }>('SELECT secret FROM webhook_endpoints'))!.secret;
    expect(stored).not.toContain(created.body.secret.slice(6, 20));

    for (const [body, field] of [
      [{ url: 'http://127.0.0.1:8080/x', events: ['*'] }, 'url'],
      [{ url: 'http://localhost/x', events: ['*'] }, 'url'],
      [{ url: 'http://[::ffff:10.0.0.1]/x', events: ['*'] }, 'url'],
      [{ url: 'http://[::ffff:8.8.8.8]/x', events: ['*'] }, 'url'],
      [{ url: 'http://[2002:a00:1::1]/x', events: ['*'] }, 'url'],
      [{ url: 'http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/x', events: ['*'] }, 'url'],
      [{ url: 'http://[64:ff9b::a9fe:a9fe]/x', events: ['*'] }, 'url'],
      [{ url: 'ftp://hooks.example.com/x', events: ['*'] }, 'url'],
      [{ url: 'https://user:pw@hooks.example.com/x', events: ['*'] }, 'url'],
      [{ url: 'https://hooks.example.com/x', events: ['license.exploded'] }, 'events.0'],
      [{ url: 'https://hooks.example.com/x', events: [] }, 'events'],
    ] as const) {
      const r = await api.post('/webhooks/endpoints', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.detail.problems[0].field).toBe(field);
    }
    expect(
      (await api.post('/webhooks/endpoints', { url: 'https://a.example/x', events: ['*'], secret: 'x' })).status,
    ).toBe(400);
  });

  it('are registered and re-enabled only with an admin-scoped token: their events carry license codes', async () => {
    const app = await startApp({ allowPrivate: false });
    const body = { url: 'https://hooks.example.com/licensor', events: ['*'] };
    const as = (token: string) => ({
      post: (path: string, b?: object) =>
        request(app.licensor.app)
          .post(ADMIN + path)
          .set('Authorization', `Bearer ${token}`)
          .send(b),
    });
    const writer = as((await createAdminToken(app.db, 'ops', 'write')).token);
    const refused = await writer.post('/webhooks/endpoints', body);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 'FORBIDDEN', message: expect.stringContaining('admin-scoped') });
    expect(await app.db.first('SELECT COUNT(*) AS n FROM webhook_endpoints')).toEqual({ n: 0 });

    const owner = as((await createAdminToken(app.db, 'owner', 'admin')).token);
    const created = await owner.post('/webhooks/endpoints', body);
    expect(created.status, created.text).toBe(201);
    const id = created.body.endpoint.id as string;
    // A write token may stop deliveries, not resume them.
    expect((await writer.post(`/webhooks/endpoints/${id}/disable`)).status).toBe(200);
    expect((await writer.post(`/webhooks/endpoints/${id}/enable`)).status).toBe(403);
    expect((await owner.post(`/webhooks/endpoints/${id}/enable`)).status).toBe(200);
  });

  it('are managed by the CLI the same way', async () => {
    await (await startApp({ allowPrivate: false })).close();
    const refused = await cli(['webhooks', 'add', 'http://10.0.0.8/hook', '--events', '*']);
    expect(refused.code).toBe(EXIT.invalidInput);
    expect(refused.err).toContain('LICENSOR_WEBHOOK_ALLOW_PRIVATE=on');
    const added = await cli([
      'webhooks',
      'add',
      'https://hooks.example.com/x',
      '--events',
      'license.created,license.revoked',
    ]);
    expect(added.code).toBe(0);
    expect(added.out).toMatch(/whsec_/);
    const list = await cli(['--json', 'webhooks', 'list']);
    const id = list.json().items[0].id;
    expect((await cli(['webhooks', 'disable', id])).out).toContain('disabled');
    expect((await cli(['--json', 'webhooks', 'list'])).json().items[0].enabled).toBe(false);
    expect((await cli(['webhooks', 'disable', 'ep_nope'])).code).toBe(EXIT.notFound);
    expect((await cli(['webhooks', 'deliveries', '--status', 'lost'])).code).toBe(EXIT.invalidInput);
  });
});

describe('webhook deliveries', () => {
  it('arrive signed, once each, are listed with attempts, and can be replayed', async () => {
    const app = await startApp();
    const api = admin(app);
    const { body } = await api.post('/webhooks/endpoints', { url: receiver.url, events: ['license.created'] });
    const other = await api.post('/webhooks/endpoints', { url: receiver.url, events: ['license.revoked'] });
    expect(other.status).toBe(201);

    const eventId = await emitIn(app, 'license.created', { licenseId: 'lic-1', edition: 'Pro' });
    await app.licensor.ctx.outbox.drain();
    await app.licensor.ctx.outbox.drain();
    expect(receiver.received).toHaveLength(1);
    const got = receiver.received[0]!;
    expect(got.headers['webhook-id']).toBe(eventId);
    const verified = new Webhook(body.secret).verify(got.body, got.headers as Record<string, string>);
    expect(verified).toMatchObject({ type: 'license.created', data: { licenseId: 'lic-1', edition: 'Pro' } });

    const deliveries = (await api.get('/webhooks/deliveries')).body.items;
    expect(deliveries).toEqual([
      expect.objectContaining({
        eventId,
        endpointId: body.endpoint.id,
        status: 'delivered',
        attempts: 1,
        lastStatus: 204,
      }),
    ]);

    // Replay from the CLI while the server runs: the server sends it again, same id, freshly signed.
    const replay = await cli(['webhooks', 'replay', deliveries[0].id]);
    expect(replay.code).toBe(0);
    expect((await cli(['webhooks', 'replay', deliveries[0].id])).code).toBe(EXIT.invalidInput); // already queued
    await app.licensor.ctx.outbox.drain();
    expect(receiver.received).toHaveLength(2);
    expect(receiver.received[1]!.headers['webhook-id']).toBe(eventId);
    const shown = await cli(['--json', 'webhooks', 'show', deliveries[0].id]);
    expect(shown.json()).toMatchObject({ status: 'delivered', attempts: 2 });
    expect(shown.json().attemptLog.map((a: { statusCode: number }) => a.statusCode)).toEqual([204, 204]);
    expect((await cli(['webhooks', 'deliveries'])).out).toContain('license.created');
  });

  it('are sent exactly once across a restart, also when the server died after the acknowledgement', async () => {
    const first = await startApp();
    const { body } = await admin(first).post('/webhooks/endpoints', { url: receiver.url, events: ['*'] });
    const delivered = await emitIn(first, 'license.created', { licenseId: 'a' });
    await first.licensor.ctx.outbox.drain();
    // The process dies after the receiver's 2xx but before the outbox item is marked done…
    await first.db.run(`UPDATE outbox SET status = 'running', lease_until = 0 WHERE kind = 'webhook.deliver'`);
    // …and another event is queued but never attempted.
    const queued = await emitIn(first, 'license.revoked', { licenseId: 'a' });
    await first.close();

    const second = await startApp();
    await second.licensor.start(); // releases what the dead process held
    await second.licensor.ctx.outbox.drain();
    await second.licensor.ctx.outbox.drain();
    await second.close();

    expect(receiver.received.map((r) => r.headers['webhook-id'])).toEqual([delivered, queued]);
    for (const r of receiver.received) {
      expect(() => new Webhook(body.secret).verify(r.body, r.headers as Record<string, string>)).not.toThrow();
    }
  });

  it('retry with back-off for more than 24 hours, then give up and show every attempt', async () => {
    let clock = Date.parse('2026-03-01T00:00:00Z');
    const app = await startApp({ now: () => new Date(clock) });
    const api = admin(app);
    await api.post('/webhooks/endpoints', { url: receiver.url, events: ['*'] });
    receiver.answers.push(...Array(20).fill(503));
    await emitIn(app, 'license.revoked', { licenseId: 'x' });
    const start = clock;
    for (let i = 0; i < 20; i++) {
      await app.licensor.ctx.outbox.drain();
      const item = (await app.db.first<{ status: string; next_attempt_at: number }>(
        `SELECT status, next_attempt_at FROM outbox WHERE kind = 'webhook.deliver'`,
      ))!;
      if (item.status !== 'pending') break;
      // Nothing is sent before its time.
      clock = item.next_attempt_at - 1000;
      expect(await app.licensor.ctx.outbox.drain()).toBe(0);
      clock = item.next_attempt_at;
    }
    expect(receiver.received).toHaveLength(WEBHOOK_MAX_ATTEMPTS);
    const [d] = (await api.get('/webhooks/deliveries?status=failed')).body.items;
    expect(d).toMatchObject({ status: 'failed', attempts: WEBHOOK_MAX_ATTEMPTS, lastStatus: 503, nextAttemptAt: null });
    const detail = (await api.get(`/webhooks/deliveries/${d.id}`)).body;
    expect(detail.attemptLog).toHaveLength(WEBHOOK_MAX_ATTEMPTS);
    const span = Date.parse(detail.attemptLog.at(-1).at) - start;
    expect(span).toBeGreaterThanOrEqual(24 * 3_600_000);
  });

  it('never reach a private address through a host name unless allowed, and never follow redirects', async () => {
    const toLoopback: Resolver = async () => [{ address: '127.0.0.1', family: 4 }];
    const closed = await startApp({ allowPrivate: false, resolve: toLoopback });
    const url = `http://hooks.example.test:${receiver.port}${receiver.path}`;
    await admin(closed).post('/webhooks/endpoints', { url, events: ['*'] });
    await emitIn(closed, 'license.created', { licenseId: 'x' });
    await closed.licensor.ctx.outbox.drain();
    expect(receiver.received).toHaveLength(0);
    const [refused] = (await admin(closed).get('/webhooks/deliveries')).body.items;
    expect(refused).toMatchObject({ status: 'failed', attempts: 1, lastStatus: null });
    expect(refused.lastError).toContain('127.0.0.1, a private or loopback address');
    await closed.close();

    // Allowed: the request goes to the address the resolver gave (hooks.example.test exists nowhere else).
    const open = await startApp({ allowPrivate: true, resolve: toLoopback });
    receiver.answers.push(302);
    const [d] = (await admin(open).get('/webhooks/deliveries')).body.items;
    expect((await admin(open).post(`/webhooks/deliveries/${d.id}/replay`)).status).toBe(200);
    await open.licensor.ctx.outbox.drain();
    expect(receiver.received).toHaveLength(1);
    const afterRedirect = (await admin(open).get(`/webhooks/deliveries/${d.id}`)).body;
    expect(afterRedirect).toMatchObject({ status: 'pending', lastStatus: 302 });
    expect(afterRedirect.lastError).toContain('redirects are not followed');
    expect(receiver.received).toHaveLength(1);
  });
});

describe('license events', () => {
  it('are emitted where a license changes: an admin suspension and revocation reach the receiver', async () => {
    const app = await startApp();
    const api = admin(app);
    // Without an endpoint nothing is recorded.
    const early = await seedEntitlement(app.db, { productId: 'p1' });
    expect((await api.post(`/entitlements/${early.id}/suspend`)).status).toBe(200);
    expect((await app.db.first<{ n: number }>('SELECT COUNT(*) AS n FROM webhook_events'))!.n).toBe(0);
    const { body } = await api.post('/webhooks/endpoints', {
      url: receiver.url,
      events: ['license.suspended', 'license.revoked'],
    });
    const ent = await seedEntitlement(app.db, { productId: 'p1' });
    expect((await api.post(`/entitlements/${ent.id}/suspend`, { reason: 'unpaid' })).status).toBe(200);
    expect((await api.post(`/entitlements/${ent.id}/suspend`)).body.changed).toBe(false); // no change, no event
    expect((await api.post(`/entitlements/${ent.id}/reinstate`)).status).toBe(200); // license.changed: not subscribed
    expect((await api.post(`/entitlements/${ent.id}/revoke`)).status).toBe(200);
    await app.licensor.ctx.outbox.drain();
    const events = receiver.received.map(
      (r) =>
        new Webhook(body.secret).verify(r.body, r.headers as Record<string, string>) as { type: string; data: object },
    );
    // The outbox runs due deliveries concurrently, so arrival order is not promised (nor by Standard Webhooks:
    // receivers order by the event's timestamp); on PostgreSQL the two really do arrive either way round.
    expect(events.map((e) => e.type).sort()).toEqual(['license.revoked', 'license.suspended']);
    expect(events.find((e) => e.type === 'license.suspended')!.data).toMatchObject({
      licenseId: ent.id,
      status: 'suspended',
      productId: 'p1',
      changes: { status: { before: 'active', after: 'suspended' } },
    });
  });

  it('are typed by what changed', () => {
    expect(entitlementEventType({ status: 'active' }, { status: 'frozen' })).toBe('license.frozen');
    expect(entitlementEventType({ status: 'frozen' }, { status: 'active' })).toBe('license.unfrozen');
    expect(
      entitlementEventType(
        { status: 'provisioning', expires_at: null },
        { status: 'active', expires_at: '2027-01-01' },
      ),
    ).toBe('license.created');
    expect(entitlementEventType({ status: 'suspended' }, { status: 'active' })).toBe('license.changed');
    expect(entitlementEventType({ status: 'active' }, { status: 'released' })).toBe('license.released');
    expect(
      entitlementEventType({ expires_at: '2026-01-01T00:00:00.000Z' }, { expires_at: '2027-01-01T00:00:00.000Z' }),
    ).toBe('license.renewed');
    expect(entitlementEventType({ seats: 1 }, { seats: 5 })).toBe('license.changed');
    expect(entitlementEventType({ sku_code: 'a' }, { sku_code: 'b' })).toBe('license.changed');
    expect(
      entitlementEventType(
        { sku_code: 'a', expires_at: '2026-01-01T00:00:00.000Z' },
        { sku_code: 'b', expires_at: '2027-01-01T00:00:00.000Z' },
      ),
    ).toBe('license.changed');
  });
});
