import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteDatabase } from '@licensor/server';
import { DEVICE_SIGNATURE_HEADER, signDeviceRequest } from '@licensor/shared';
import { MarketplaceSimulator } from '@licensor/simulator';
import { createTestApp, type TestApp } from '@licensor/testkit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  AK,
  admin,
  all,
  call,
  compactTime,
  Device,
  errCode,
  freePort,
  Marketplace,
  type ServerProcess,
  SK,
  serverEnv,
  spacedTime,
  spawnServer,
  tally,
  uid,
} from './crash/harness';

/**
 * Duplicates and races on every idempotency key, hundreds at once against a listening server: each must have
 * exactly one effect in the database, and every duplicate must get the first answer. Seat and quota limits
 * must hold under a stampede. `LICENSOR_FULL=1` (npm run test:full) raises the fan-out to 1000.
 */

const N = process.env.LICENSOR_FULL ? 1000 : 200;
const DAY = 86_400_000;

// A stampede takes a second or two on a quiet machine, tens of seconds on one busy with other work.
describe(`idempotency and limits under ${N} concurrent duplicates (one server)`, { timeout: 120_000 }, () => {
  const sim = new MarketplaceSimulator(AK, SK);
  let t: TestApp;
  let server: http.Server;
  let base: string;
  let koo: Marketplace;
  const count = async (sql: string, params: unknown[] = []) =>
    Number((await t.db.first<{ n: number }>(sql, params))!.n);

  beforeAll(async () => {
    const simUrl = await sim.listen();
    t = await createTestApp({
      apiRateLimit: 0,
      produceRateLimit: 0,
      adminToken: ADMIN_TOKEN,
      koo: { apiBase: simUrl, apiFallback: undefined, timeoutMs: 2000 } as never,
    });
    server = http.createServer(t.licensor.app);
    server.maxConnections = 5000;
    // Longer than the client's idle keep-alive (undici: 4 s): otherwise, on a busy machine, the server may close an
    // idle connection just as the client sends a POST on it, which fails unanswered (undici retries no POST).
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', 2048, r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    koo = new Marketplace(base);
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await t.destroy();
    await sim.close();
  });

  const newOrder = async (amount = 5) => {
    const orderId = `CC-${uid()}`;
    const a = await koo.get({
      activity: 'getLicense',
      businessId: 'b',
      customerId: 'c',
      orderId,
      productId: 'P1',
      amount: String(amount),
    });
    expect(a.json.resultCode).toBe('000000');
    return { orderId, instanceId: String(a.json.instanceId), license: String(a.json.license) };
  };

  it('getLicense: one entitlement per orderId, every duplicate gets the first answer byte for byte', async () => {
    const orderId = `CC-${uid()}`;
    const p = { activity: 'getLicense', businessId: 'b', customerId: 'c', orderId, productId: 'P1', amount: '2' };
    const answers = await all(N, () => koo.get(p));
    expect(tally(answers, (a) => String(a.json.resultCode))).toEqual({ '000000': N });
    expect(new Set(answers.map((a) => a.text)).size).toBe(1);
    expect(new Set(answers.map((a) => a.headers.get('body-sign'))).size).toBe(1);
    expect(await count(`SELECT COUNT(*) AS n FROM entitlements WHERE family = 'A' AND order_id = ?`, [orderId])).toBe(
      1,
    );
    const id = String(answers[0]!.json.instanceId);
    expect(
      await count(`SELECT COUNT(*) AS n FROM audit_log WHERE entitlement_id = ? AND action = 'entitlement.created'`, [
        id,
      ]),
    ).toBe(1);
  });

  it('refreshLicense and refreshLicenseCode: one change per (entitlement, scene, orderId)', async () => {
    const o = await newOrder();
    const renewal = `CC-R-${uid()}`;
    const expireTime = compactTime(new Date(Date.now() + 400 * DAY));
    const a = await all(N, () =>
      koo.get({ activity: 'refreshLicense', orderId: renewal, instanceId: o.instanceId, expireTime }),
    );
    expect(tally(a, (x) => String(x.json.resultCode))).toEqual({ '000000': N });
    expect(
      await count('SELECT COUNT(*) AS n FROM entitlement_changes WHERE entitlement_id = ? AND order_id = ?', [
        o.instanceId,
        renewal,
      ]),
    ).toBe(1);
    expect(
      await count(`SELECT COUNT(*) AS n FROM audit_log WHERE entitlement_id = ? AND action = 'entitlement.renewed'`, [
        o.instanceId,
      ]),
    ).toBe(1);

    const code = `PLCC${uid()}`;
    expect((await admin(base, 'POST', '/codes', { code, productId: 'P1', seats: 2 })).status).toBe(201);
    const orderId = `CC-B-${uid()}`;
    const body = {
      activity: 'refreshLicenseCode',
      license: code,
      scene: 'RENEWAL',
      orderId,
      orderLineId: `${orderId}-1`,
      expireTime,
    };
    const b = await all(N, () => koo.post(body));
    expect(tally(b, (x) => String(x.json.resultCode))).toEqual({ '000000': N });
    expect(
      await count('SELECT COUNT(*) AS n FROM entitlement_changes WHERE entitlement_id = ? AND order_id = ?', [
        code,
        orderId,
      ]),
    ).toBe(1);
    expect(
      await count(`SELECT COUNT(*) AS n FROM audit_log WHERE entitlement_id = ? AND action = 'entitlement.renewed'`, [
        code,
      ]),
    ).toBe(1);
  });

  it('newInstance: one instance and one provisioning job per (orderId, orderLineId)', async () => {
    const orderId = `CC-C-${uid()}`;
    const orderLineId = `${orderId}-L1`;
    sim.addOrder({ orderId, orderLineId, linearValue: 3, expireTime: compactTime(new Date(Date.now() + 90 * DAY)) });
    const answers = await all(N, () => koo.post({ activity: 'newInstance', orderId, orderLineId, businessId: 'b' }));
    const codes = tally(answers, (a) => String(a.json.resultCode));
    expect(
      Object.keys(codes).every((c) => c === '000000' || c === '000004'),
      JSON.stringify(codes),
    ).toBe(true);
    expect(new Set(answers.map((a) => a.json.instanceId)).size).toBe(1);
    const instanceId = String(answers[0]!.json.instanceId);
    expect(
      await count(`SELECT COUNT(*) AS n FROM entitlements WHERE order_id = ? AND order_line_id = ?`, [
        orderId,
        orderLineId,
      ]),
    ).toBe(1);
    expect(await count('SELECT COUNT(*) AS n FROM outbox WHERE dedupe_key = ?', [`provision:${instanceId}`])).toBe(1);
    await t.licensor.ctx.outbox.drain();
    expect(
      await t.db.first<{ seats: number; status: string }>('SELECT seats, status FROM entitlements WHERE id = ?', [
        instanceId,
      ]),
    ).toEqual({
      seats: 3,
      status: 'active',
    });
  });

  it('getLicenseAsync: one License per (eventId, fingerprint); the device quota holds under a stampede', async () => {
    const orderId = `CC-C-${uid()}`;
    sim.addOrder({
      orderId,
      orderLineId: `${orderId}-L1`,
      linearValue: 3,
      expireTime: compactTime(new Date(Date.now() + 90 * DAY)),
    });
    const inst = await koo.post({ activity: 'newInstance', orderId, orderLineId: `${orderId}-L1`, businessId: 'b' });
    const instanceId = String(inst.json.instanceId);
    await t.licensor.ctx.outbox.drain();
    const request = (eventId: string, fp: string) => ({
      activity: 'getLicenseAsync',
      instanceId,
      eventId,
      effectiveTime: spacedTime(new Date()),
      expireTime: spacedTime(new Date(Date.now() + 60 * DAY)),
      deviceFingerprint: fp,
    });
    const fp = (i: number) =>
      `00:16:3e:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}|D${i}|B${i}|C${i}`;
    const same = await all(N, () => koo.post(request('EV-SAME', fp(0))));
    const codes = tally(same, (a) => String(a.json.resultCode));
    expect(
      Object.keys(codes).every((c) => c === '000000' || c === '000004'),
      JSON.stringify(codes),
    ).toBe(true);
    expect(await count('SELECT COUNT(*) AS n FROM license_requests WHERE event_id = ?', ['EV-SAME'])).toBe(1);

    // N different devices at once for an instance with 3 seats (one already used): 2 more get a License.
    const many = await all(N, (i) => koo.post(request(`EV-${i}`, fp(i + 1))));
    const refused = many.filter((a) => a.json.resultCode === '000900').length;
    expect(refused).toBe(N - 2);
    expect(
      await count('SELECT COUNT(DISTINCT device_key) AS n FROM license_requests WHERE entitlement_id = ?', [
        instanceId,
      ]),
    ).toBe(3);
  });

  it('code registration: exactly one 201, every duplicate a 200 with the same code', async () => {
    const code = `PLCC${uid()}`;
    const answers = await all(N, () => admin(base, 'POST', '/codes', { code, productId: 'P1', seats: 4 }));
    expect(tally(answers, (a) => String(a.status))).toEqual({ '201': 1, '200': N - 1 });
    expect(await count('SELECT COUNT(*) AS n FROM entitlements WHERE code = ?', [code])).toBe(1);
    expect(
      await count(
        `SELECT COUNT(*) AS n FROM audit_log WHERE entitlement_id = ? AND action = 'entitlement.registered'`,
        [code],
      ),
    ).toBe(1);
  });

  it('activation of the same device: one activation, one seat, every answer names it', async () => {
    const o = await newOrder(2);
    const device = new Device(`same-${uid()}`);
    const answers = await all(N, () => device.activate(base, o.license));
    expect(tally(answers, (a) => String(a.status))).toEqual({ '200': N });
    expect(new Set(answers.map((a) => a.json.activationId)).size).toBe(1);
    expect(answers.filter((a) => a.json.reactivated === false)).toHaveLength(1);
    const id = String(answers[0]!.json.activationId);
    expect(await count('SELECT COUNT(*) AS n FROM activations WHERE entitlement_id = ?', [o.instanceId])).toBe(1);
    expect(
      await count(`SELECT COUNT(*) AS n FROM audit_log WHERE activation_id = ? AND action = 'activation.created'`, [
        id,
      ]),
    ).toBe(1);
  });

  it('seat limit: of N different devices at once, exactly `seats` get a seat', async () => {
    const o = await newOrder(5);
    const devices = Array.from({ length: N }, (_, i) => new Device(`seat-${o.orderId}-${i}`));
    const answers = await all(N, (i) => devices[i]!.activate(base, o.license));
    expect(tally(answers, (a) => (a.status === 200 ? '200' : errCode(a)))).toEqual({
      '200': 5,
      TOO_MANY_DEVICES: N - 5,
    });
    const seats = await t.db.all<{ seat: number }>(
      `SELECT seat FROM activations WHERE entitlement_id = ? AND status = 'active' ORDER BY seat`,
      [o.instanceId],
    );
    expect(seats.map((s) => s.seat)).toEqual([0, 1, 2, 3, 4]);
  });

  it('first activations of an unknown marketplace code: learned once, its quantity holds', async () => {
    const code = sim.addCode({ code: `PL${uid()}${uid()}`, amount: 3 }).code;
    const devices = Array.from({ length: N }, (_, i) => new Device(`b-${code}-${i}`));
    const answers = await all(N, (i) => devices[i]!.activate(base, code));
    expect(tally(answers, (a) => (a.status === 200 ? '200' : errCode(a)))).toEqual({
      '200': 3,
      TOO_MANY_DEVICES: N - 3,
    });
    expect(await count('SELECT COUNT(*) AS n FROM entitlements WHERE code = ?', [code])).toBe(1);
    expect(
      await count(`SELECT COUNT(*) AS n FROM activations WHERE entitlement_id = ? AND status = 'active'`, [code]),
    ).toBe(3);
  });

  it('check-ins: concurrent ones all succeed; one signed request replayed N times succeeds once', async () => {
    const o = await newOrder(1);
    const device = new Device(`ci-${uid()}`);
    const id = String((await device.activate(base, o.license)).json.activationId);
    const fresh = await all(N, () => device.checkIn(base, id));
    expect(tally(fresh, (a) => String(a.status))).toEqual({ '200': N });
    const path = `/api/v1/activations/${id}/check-in`;
    const body = '{}';
    const header = signDeviceRequest({ activationId: id, method: 'POST', path, body, privateKey: device.privateKey });
    const replayed = await all(N, () =>
      call(`${base}${path}`, {
        method: 'POST',
        headers: { [DEVICE_SIGNATURE_HEADER]: header, 'content-type': 'application/json' },
        body,
      }),
    );
    expect(tally(replayed, (a) => (a.status === 200 ? '200' : errCode(a)))).toEqual({ '200': 1, REPLAYED: N - 1 });
  });

  it('a scheme-B request replayed N times (same nonce) is applied once', async () => {
    const code = `PLCC${uid()}`;
    await admin(base, 'POST', '/codes', { code, productId: 'P1', seats: 1 });
    const raw = JSON.stringify({ activity: 'updateLicenseCodeStatus', license: code, status: 'FREEZE' });
    const url = koo.postUrl(raw);
    const answers = await all(N, () =>
      call(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw }),
    );
    expect(tally(answers, (a) => String(a.json.resultCode))).toEqual({ '000000': 1, '000001': N - 1 });
    expect(
      await count(`SELECT COUNT(*) AS n FROM audit_log WHERE entitlement_id = ? AND action = 'entitlement.frozen'`, [
        code,
      ]),
    ).toBe(1);
  });
});

describe('idempotency across two server processes on one database', () => {
  const sim = new MarketplaceSimulator(AK, SK);
  const M = Math.min(N, 300);
  let dir: string;
  let servers: ServerProcess[] = [];

  beforeAll(async () => {
    const simUrl = await sim.listen();
    dir = mkdtempSync(join(tmpdir(), 'licensor-two-'));
    const env = (port: number) => serverEnv(port, dir, simUrl);
    // The first creates the database and keys; the second opens them.
    servers = [await spawnServer(env(await freePort()))];
    servers.push(await spawnServer(env(await freePort())));
  });
  afterAll(async () => {
    for (const s of servers) {
      s.proc.kill('SIGTERM');
      await s.exited;
    }
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('duplicates split between the processes still have exactly one effect', { timeout: 60_000 }, async () => {
    const kooOf = (i: number) => new Marketplace(servers[i % 2]!.url);
    const orderId = `TWO-${uid()}`;
    const p = { activity: 'getLicense', businessId: 'b', customerId: 'c', orderId, productId: 'P1', amount: '3' };
    const orders = await all(M, (i) => kooOf(i).get(p));
    expect(tally(orders, (a) => String(a.json.resultCode))).toEqual({ '000000': M });
    expect(new Set(orders.map((a) => a.text)).size).toBe(1);
    const license = String(orders[0]!.json.license);

    const code = `PLTWO${uid()}`;
    const regs = await all(M, (i) => admin(servers[i % 2]!.url, 'POST', '/codes', { code, productId: 'P1' }));
    expect(tally(regs, (a) => String(a.status))).toEqual({ '201': 1, '200': M - 1 });

    const same = new Device(`two-same-${uid()}`);
    const acts = await all(M, (i) => same.activate(servers[i % 2]!.url, license));
    expect(tally(acts, (a) => String(a.status))).toEqual({ '200': M });
    expect(new Set(acts.map((a) => a.json.activationId)).size).toBe(1);

    const devices = Array.from({ length: M }, (_, i) => new Device(`two-${orderId}-${i}`));
    const stampede = await all(M, (i) => devices[i]!.activate(servers[i % 2]!.url, license));
    expect(tally(stampede, (a) => (a.status === 200 ? '200' : errCode(a)))).toEqual({
      '200': 2,
      TOO_MANY_DEVICES: M - 2,
    });

    const db = openSqliteDatabase(join(dir, 'licensor.db'), { readonly: true });
    try {
      const n = async (sql: string, params: unknown[]) => Number((await db.first<{ n: number }>(sql, params))!.n);
      const instanceId = String(orders[0]!.json.instanceId);
      expect(await n(`SELECT COUNT(*) AS n FROM entitlements WHERE family = 'A' AND order_id = ?`, [orderId])).toBe(1);
      expect(await n('SELECT COUNT(*) AS n FROM entitlements WHERE code = ?', [code])).toBe(1);
      expect(
        await n(`SELECT COUNT(*) AS n FROM activations WHERE entitlement_id = ? AND status = 'active'`, [instanceId]),
      ).toBe(3);
      expect(await n('SELECT COUNT(*) AS n FROM activations WHERE device_key_hash = ?', [same.keyHash])).toBe(1);
      expect(await db.integrityCheck()).toEqual(['ok']);
    } finally {
      await db.close();
    }
    for (const s of servers) expect(s.proc.exitCode, s.output.join('').slice(-1000)).toBeNull();
  });
});
