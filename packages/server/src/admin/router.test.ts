import { randomUUID } from 'node:crypto';
import {
  activateRequestSchema,
  encodeOfflineRequest,
  generateLicenseCode,
  LicenseVerifier,
  offlineRequestSchema,
} from '@licensor/shared';
import { activationBody, newDevice, seedEntitlement } from '@licensor/testkit/licensing';
import { createTestApp, type TestApp } from '@licensor/testkit/server';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Storage } from '../db/storage';
import { noteOrder } from '../koogallery/orderKeys';
import { activate } from '../licensing';
import { createAdminToken } from './auth';
import { parseCsv } from './csv';

const ADMIN = '/api/admin/v1';
const BOOT = 'Bearer admin-test-token';

let t: TestApp;
beforeEach(async () => {
  t = await createTestApp();
});
afterEach(async () => {
  await t.destroy();
});

const api = () => request(t.licensor.app);
const get = (path: string, auth = BOOT) =>
  api()
    .get(ADMIN + path)
    .set('Authorization', auth);
const post = (path: string, body?: object, auth = BOOT) => {
  const r = api()
    .post(ADMIN + path)
    .set('Authorization', auth);
  return body === undefined ? r : r.send(body);
};

/** Entitlements created one millisecond apart, so "newest first" has one right answer. */
async function seedMany(n: number, opts: Parameters<typeof seedEntitlement>[1] = {}, db: Storage = t.db) {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const e = await seedEntitlement(db, opts);
    const at = new Date(Date.UTC(2025, 0, 1, 0, 0, 0, i)).toISOString();
    await db.run('UPDATE entitlements SET created_at = ? WHERE id = ?', [at, e.id]);
    ids.push(e.id);
  }
  return ids;
}

/**
 * Many entitlements, as seedMany writes them (created one millisecond apart), in multi-row INSERTs: for the
 * export of 1203 rows, one statement per 200 rows instead of three per row (3609 round trips on PostgreSQL).
 */
async function seedBulk(n: number) {
  const BATCH = 200; // 12 parameters a row: far below either backend's parameter limit
  const now = new Date().toISOString();
  const expires = new Date(Date.now() + 365 * 86_400_000).toISOString();
  for (let from = 0; from < n; from += BATCH) {
    const rows = Array.from({ length: Math.min(BATCH, n - from) }, (_, k) => {
      const at = new Date(Date.UTC(2025, 0, 1, 0, 0, 0, from + k)).toISOString();
      const id = randomUUID();
      return [id, 'A', generateLicenseCode(), `CS${id.slice(0, 8)}`, 'prod-1', 1, now, expires, 'active', null, at, at];
    });
    await t.db.run(
      `INSERT INTO entitlements (id, family, code, order_id, product_id, seats, starts_at, expires_at, status, policy, created_at, updated_at)
       VALUES ${rows.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
      rows.flat(),
    );
  }
}

async function activateDevice(code: string, seed?: string) {
  const device = newDevice(seed);
  const input = activateRequestSchema.parse(activationBody(device, code));
  const r = await activate(t.licensor.ctx, input);
  return { device, activationId: r.activation.id };
}

describe('authentication', () => {
  it('refuses a missing or wrong token with 401 and a read token on writes with 403', async () => {
    const none = await api().get(`${ADMIN}/entitlements`);
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('UNAUTHORIZED');
    expect((await get('/entitlements', 'Bearer wrong-token')).status).toBe(401);
    expect((await get('/entitlements', 'Basic abc')).status).toBe(401);

    const ent = await seedEntitlement(t.db);
    const { token } = await createAdminToken(t.db, 'reader', 'read');
    const read = `Bearer ${token}`;
    expect((await get('/entitlements', read)).status).toBe(200);
    expect((await get(`/entitlements/${ent.id}`, read)).status).toBe(200);
    for (const path of [`/entitlements/${ent.id}/suspend`, '/outbox/1/retry', '/offline-responses', '/tokens']) {
      const r = await post(path, {}, read);
      expect(r.status, path).toBe(403);
      expect(r.body.error.code).toBe('FORBIDDEN');
    }
    expect((await api().delete(`${ADMIN}/tokens/x`).set('Authorization', read)).status).toBe(403);
    // Nothing happened.
    expect(
      (await t.db.first<{ status: string }>('SELECT status FROM entitlements WHERE id = ?', [ent.id]))!.status,
    ).toBe('active');
  });

  it('manages tokens: created once with its secret, listed without it, revoked (then refused)', async () => {
    const created = await post('/tokens', { name: 'ci', scope: 'write' });
    expect(created.status).toBe(201);
    expect(created.body.token).toMatch(/^lsr_/);
    const list = await get('/tokens');
    expect(list.body.items).toEqual([
      expect.objectContaining({ id: created.body.id, name: 'ci', scope: 'write', revokedAt: null }),
    ]);
    expect(JSON.stringify(list.body)).not.toContain(created.body.token);
    expect((await get('/summary', `Bearer ${created.body.token}`)).status).toBe(200);

    const revoked = await api().delete(`${ADMIN}/tokens/${created.body.id}`).set('Authorization', BOOT);
    expect(revoked.body).toMatchObject({ changed: true, token: { id: created.body.id } });
    expect((await get('/summary', `Bearer ${created.body.token}`)).status).toBe(401);
    const again = await api().delete(`${ADMIN}/tokens/${created.body.id}`).set('Authorization', BOOT);
    expect(again.body.changed).toBe(false);
    expect((await api().delete(`${ADMIN}/tokens/tok_nope`).set('Authorization', BOOT)).status).toBe(404);
    expect((await post('/tokens', { name: 'x', scope: 'owner' })).body.error.detail.problems[0].field).toBe('scope');
    const audit = await get('/audit?action=admin_token.created');
    expect(audit.body.items[0]).toMatchObject({ actor: 'admin:bootstrap', detail: { id: created.body.id } });
  });
});

describe('entitlements', () => {
  it('pages newest first by cursor and by page number with a total', async () => {
    const ids = (await seedMany(7)).reverse();
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await get(`/entitlements?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.status).toBe(200);
      expect(r.body.total).toBe(7);
      seen.push(...r.body.items.map((e: { id: string }) => e.id));
      cursor = r.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(ids);

    const page3 = await get('/entitlements?limit=3&page=3');
    expect(page3.body).toMatchObject({ page: 3, pages: 3, total: 7, nextCursor: null });
    expect(page3.body.items.map((e: { id: string }) => e.id)).toEqual(ids.slice(6));
  });

  it('validates query parameters and names the field', async () => {
    for (const [q, field] of [
      ['limit=201', 'limit'],
      ['limit=0', 'limit'],
      ['page=abc', 'page'],
      ['status=bogus', 'status'],
      ['since=yesterday', 'since'],
      ['statuss=active', 'query'],
      ['cursor=not-a-cursor', 'cursor'],
    ]) {
      const r = await get(`/entitlements?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error.code).toBe('INVALID_INPUT');
      expect(JSON.stringify(r.body.error), q).toContain(field);
    }
    expect((await get(`/entitlements?page=1&cursor=${Buffer.from('["a","b"]').toString('base64url')}`)).status).toBe(
      400,
    );
  });

  it('filters by status, family, product, free text and date; test data only with includeTest', async () => {
    const a = await seedEntitlement(t.db, { family: 'A', productId: 'p-1' });
    const b = await seedEntitlement(t.db, { family: 'B', productId: 'p-2', status: 'frozen' });
    const test = await seedEntitlement(t.db, { family: 'A' });
    await t.db.run(`UPDATE entitlements SET test = 1, customer_name = 'Debug 100%' WHERE id = ?`, [test.id]);
    await t.db.run(`UPDATE entitlements SET customer_name = 'ACME 100% Ltd' WHERE id = ?`, [a.id]);
    const ids = async (q: string) =>
      (await get(`/entitlements?${q}`)).body.items.map((e: { id: string }) => e.id).sort();

    expect(await ids('')).toEqual([a.id, b.id].sort());
    expect(await ids('includeTest=true')).toEqual([a.id, b.id, test.id].sort());
    expect(await ids('status=frozen')).toEqual([b.id]);
    expect(await ids('status=frozen,active')).toEqual([a.id, b.id].sort());
    expect(await ids('family=B')).toEqual([b.id]);
    expect(await ids('productId=p-1')).toEqual([a.id]);
    expect(await ids('q=100%25')).toEqual([a.id]); // a literal % matches only itself
    expect(await ids('q=100%25&includeTest=1')).toEqual([a.id, test.id].sort());
    expect(await ids('q=_')).toEqual([]);
    // A license's code, id or order id finds it exactly (through an index), even where it is part of another's.
    const c = await seedEntitlement(t.db, { family: 'A', productId: 'p-1' });
    await t.db.run(`UPDATE entitlements SET order_id = 'CS-7', customer_name = 'CS-70 Trading' WHERE id = ?`, [a.id]);
    await t.db.run(`UPDATE entitlements SET order_id = 'CS-70' WHERE id = ?`, [c.id]);
    expect(await ids(`q=${a.code}`)).toEqual([a.id]);
    expect(await ids(`q=${b.id}`)).toEqual([b.id]);
    expect(await ids('q=CS-7')).toEqual([a.id]);
    expect(await ids('q=CS-70')).toEqual([c.id]); // exact order id first; the customer name would also match
    expect(await ids('q=CS-70%20Trad')).toEqual([a.id]); // no exact match: text anywhere
    await t.db.run('DELETE FROM entitlements WHERE id = ?', [c.id]);
    expect(await ids('since=2999-01-01')).toEqual([]);
    expect((await get('/summary')).body.entitlements.total).toBe(2);
    expect((await get('/summary?includeTest=true')).body.entitlements.total).toBe(3);
  });

  it('the overview counts activations per day for 30 days, names the next daily duty and when keys expire', async () => {
    const ent = await seedEntitlement(t.db, { seats: 5 });
    const testEnt = await seedEntitlement(t.db, { seats: 5 });
    await t.db.run('UPDATE entitlements SET test = 1 WHERE id = ?', [testEnt.id]);
    await activateDevice(ent.code!);
    await activateDevice(ent.code!);
    await activateDevice(testEnt.code!);
    const { activationId: old } = await activateDevice(ent.code!);
    await t.db.run('UPDATE activations SET created_at = ? WHERE id = ?', [
      new Date(Date.now() - 3 * 86_400_000).toISOString(),
      old,
    ]);
    const s = (await get('/summary')).body;
    expect(s.activations.perDay).toHaveLength(30);
    expect(s.activations.perDay.at(-1)).toEqual({ day: new Date().toISOString().slice(0, 10), activations: 2 });
    expect(s.activations.perDay.at(-4).activations).toBe(1);
    expect(s.activations.total).toBe(3);
    expect((await get('/summary?includeTest=true')).body.activations.total).toBe(4);
    expect(Date.parse(s.since24h)).toBeGreaterThan(Date.now() - 86_400_000 - 60_000);
    // No day planned yet in this fresh database: the week's catch-up is due at once.
    expect(s.nextDailyDuty).toMatchObject({ lastPlanned: null, scheduler: expect.any(Boolean) });
    expect(Date.parse(s.nextDailyDuty.at)).toBeLessThanOrEqual(Date.now());
    await t.db.run(
      "INSERT INTO daily_runs (day, job, finished_at, detail) SELECT ?, 'daily.plan', ?, '{\"codes\":7}'",
      ['2000-01-01', '2000-01-02T00:05:00.000Z'],
    );
    for (let i = 1; i <= 8; i++) {
      await t.db.run(
        "INSERT INTO daily_runs (day, job, finished_at, detail) VALUES (?, 'daily.plan', ?, NULL) ON CONFLICT DO NOTHING",
        [new Date(Date.now() - 300_000 - i * 86_400_000).toISOString().slice(0, 10), new Date().toISOString()],
      );
    }
    const planned = (await get('/summary')).body.nextDailyDuty;
    expect(Date.parse(planned.at)).toBeGreaterThan(Date.now());
    expect(new Date(planned.at).toISOString()).toMatch(/T00:05:00\.000Z$/);
    expect(s.keys.signing.some((k: { current: boolean; revoked: boolean }) => k.current && !k.revoked)).toBe(true);
    expect(Date.parse(s.keys.rootNotAfter)).toBeGreaterThan(Date.now());
  });

  it("a license's use over 30 days: devices from activation to their last check-in or release", async () => {
    const ent = await seedEntitlement(t.db, { family: 'direct', seats: 5 });
    const { activationId: a } = await activateDevice(ent.code!);
    const { activationId: b } = await activateDevice(ent.code!);
    const day = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString();
    // a: activated 5 days ago, still checking in; b: activated 3 days ago, last seen 2 days ago.
    await t.db.run('UPDATE activations SET created_at = ? WHERE id = ?', [day(5), a]);
    await t.db.run('UPDATE activations SET created_at = ?, last_seen_at = ? WHERE id = ?', [day(3), day(2), b]);
    const usage = (await get(`/entitlements/${ent.id}`)).body.usage as { day: string; devices: number }[];
    const on = (n: number) => usage.find((u) => u.day === day(n).slice(0, 10))?.devices ?? 0;
    expect([on(6), on(5), on(4), on(3), on(2), on(1), on(0)]).toEqual([0, 1, 1, 2, 2, 1, 1]);
  });

  it('shows one license (by id or code) with its devices and audit trail; unknown ids are 404', async () => {
    const ent = await seedEntitlement(t.db, { family: 'A', seats: 2 });
    const { activationId } = await activateDevice(ent.code!);
    const r = await get(`/entitlements/${encodeURIComponent(ent.code!)}`);
    expect(r.status).toBe(200);
    expect(r.body.entitlement).toMatchObject({ id: ent.id, code: ent.code, status: 'active', seats: 2 });
    expect(r.body.seats).toEqual({ limit: 2, used: 1 });
    expect(r.body.activations).toEqual([expect.objectContaining({ id: activationId, status: 'active', seat: 0 })]);
    expect(r.body.policy.mode).toBe('node-locked');
    expect(JSON.stringify(r.body)).not.toContain('fingerprint":');

    const missing = await get('/entitlements/nope');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('NOT_FOUND');
  });

  it('suspends, reinstates and revokes with an audit entry naming the token', async () => {
    const ent = await seedEntitlement(t.db);
    const { id: tokenId, token } = await createAdminToken(t.db, 'ops', 'write');
    const auth = `Bearer ${token}`;

    const s = await post(`/entitlements/${ent.id}/suspend`, { reason: 'payment dispute' }, auth);
    expect(s.status).toBe(200);
    expect(s.body).toMatchObject({ changed: true, entitlement: { status: 'suspended' } });
    expect((await post(`/entitlements/${ent.id}/suspend`, undefined, auth)).body.changed).toBe(false);
    expect((await post(`/entitlements/${ent.id}/reinstate`, {}, auth)).body.entitlement.status).toBe('active');
    expect((await post(`/entitlements/${ent.id}/revoke`, { reason: 'fraud' }, auth)).body.entitlement.status).toBe(
      'revoked',
    );

    const trail = (await get(`/audit?entitlementId=${ent.id}&actor=admin:${tokenId}`)).body.items;
    expect(trail.map((a: { action: string }) => a.action)).toEqual([
      'entitlement.revoked',
      'entitlement.reinstated',
      'entitlement.suspended',
    ]);
    expect(trail[2].detail).toEqual({ reason: 'payment dispute' });

    const bad = await post(`/entitlements/${ent.id}/suspend`, { reason: 'x'.repeat(501) });
    expect(bad.status).toBe(400);
    expect(bad.body.error.detail.problems[0].field).toBe('reason');
    expect((await post(`/entitlements/${ent.id}/suspend`, { why: 'x' })).status).toBe(400);
    expect((await post('/entitlements/nope/revoke', {})).status).toBe(404);
    expect((await post(`/entitlements/${'x'.repeat(129)}/revoke`, {})).status).toBe(400);
  });

  it('replaces a license policy and validates it', async () => {
    const ent = await seedEntitlement(t.db);
    const r = await api()
      .put(`${ADMIN}/entitlements/${ent.id}/policy`)
      .set('Authorization', BOOT)
      .send({ policy: { mode: 'floating', maxDevices: 5 } });
    expect(r.status).toBe(200);
    expect(r.body.policy).toMatchObject({ mode: 'floating', maxDevices: 5 });
    const bad = await api()
      .put(`${ADMIN}/entitlements/${ent.id}/policy`)
      .set('Authorization', BOOT)
      .send({ policy: { mode: 'sometimes' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('policy.mode');
  });
});

describe('devices', () => {
  it('lists activations with filters, frees a seat (idempotently) and moves one to another license', async () => {
    const ent = await seedEntitlement(t.db, { family: 'A', seats: 2, productId: 'p' });
    const other = await seedEntitlement(t.db, { family: 'A', seats: 1, productId: 'p' });
    const one = await activateDevice(ent.code!);
    const two = await activateDevice(ent.code!);

    const list = await get(`/activations?entitlementId=${ent.id}`);
    expect(list.body.total).toBe(2);
    expect((await get(`/activations?code=${encodeURIComponent(ent.code!.toLowerCase())}`)).body.total).toBe(2);
    expect((await get('/activations?status=released')).body.total).toBe(0);

    const freed = await post(`/activations/${one.activationId}/free`, { reason: 'laptop stolen' });
    expect(freed.status).toBe(200);
    expect(freed.body).toMatchObject({ released: true, activation: { id: one.activationId, status: 'released' } });
    expect((await post(`/activations/${one.activationId}/free`)).body.released).toBe(false);
    expect((await post('/activations/nope/free')).status).toBe(404);
    expect((await get('/activations?status=released')).body.items.map((a: { id: string }) => a.id)).toEqual([
      one.activationId,
    ]);

    const moved = await post(`/activations/${two.activationId}/move`, { to: other.code });
    expect(moved.status).toBe(200);
    expect(moved.body.activation).toMatchObject({ id: two.activationId, entitlementId: other.id, seat: 0 });
    expect((await post(`/activations/${two.activationId}/move`, {})).body.error.detail.problems[0].field).toBe('to');

    const actions = (await get('/audit?actor=admin:bootstrap')).body.items.map((a: { action: string }) => a.action);
    expect(actions).toEqual(['activation.moved', 'activation.freed']);
  });

  it('leaves devices of test licenses out unless asked, and pages them by cursor', async () => {
    const real = await seedEntitlement(t.db, { family: 'A', seats: 5 });
    const debug = await seedEntitlement(t.db, { family: 'A', seats: 5 });
    await t.db.run('UPDATE entitlements SET test = 1 WHERE id = ?', [debug.id]);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await activateDevice(real.code!)).activationId);
    const testDevice = (await activateDevice(debug.code!)).activationId;

    const page1 = await get('/activations?limit=2');
    expect(page1.body.total).toBe(3);
    const page2 = await get(`/activations?limit=2&cursor=${page1.body.nextCursor}`);
    expect(page2.body.nextCursor).toBeNull();
    const listed = [...page1.body.items, ...page2.body.items];
    expect(listed.map((a: { id: string }) => a.id)).toEqual([...ids].reverse());
    expect(listed.every((a: { code: string; test: boolean }) => a.code === real.code && a.test === false)).toBe(true);
    const all = await get('/activations?includeTest=true');
    expect(all.body.total).toBe(4);
    expect(all.body.items[0]).toMatchObject({ id: testDevice, test: true });
  });

  /** An offline activation request as the client's `offline-request` writes it, signed by the device. */
  const offlineRequestText = (device: ReturnType<typeof newDevice>, code: string, nonce: string) =>
    encodeOfflineRequest(
      offlineRequestSchema.parse({ ...activationBody(device, code), v: 1, createdAt: new Date().toISOString(), nonce }),
      device.privateKey,
    );

  it('answers an offline activation request with a License the pinned root verifies', async () => {
    const ent = await seedEntitlement(t.db, { family: 'A', seats: 1 });
    const device = newDevice();
    const requestText = offlineRequestText(device, ent.code!, 'a1b2c3d4e5f60718');
    const r = await post('/offline-responses', { request: requestText });
    expect(r.status).toBe(201);
    const verified = new LicenseVerifier({ roots: [t.keys.rootCertificatePem] }).verify(r.body.license);
    expect(verified.payload).toMatchObject({ eid: ent.id, refreshBy: null });
    expect((await get(`/activations?entitlementId=${ent.id}`)).body.items[0]).toMatchObject({ offline: true });

    const tampered = requestText.replace(
      /\n([A-Za-z0-9+/]{10})/,
      (_m, s: string) => `\n${s.split('').reverse().join('')}`,
    );
    const bad = await post('/offline-responses', { request: tampered });
    expect(bad.status).toBeGreaterThanOrEqual(400);
    expect(bad.status).toBeLessThan(500);
    const missing = await post('/offline-responses', {});
    expect(missing.status).toBe(400);
    expect(missing.body.error.detail.problems[0].field).toBe('request');
    expect((await post('/offline-responses', { request: 'hello' })).body.error.code).toBe('FILE_MALFORMED');
  });

  it('an old offline request presented again gets no License after a revocation, nor a seat another device holds now', async () => {
    const ent = await seedEntitlement(t.db, { family: 'A', seats: 1 });
    const device = newDevice();
    const requestText = offlineRequestText(device, ent.code!, 'b1b2c3d4e5f60718');
    expect((await post('/offline-responses', { request: requestText })).status).toBe(201);
    const [held] = (await get(`/activations?entitlementId=${ent.id}`)).body.items;

    expect((await post(`/entitlements/${ent.id}/revoke`, { reason: 'chargeback' })).status).toBe(200);
    const revoked = await post('/offline-responses', { request: requestText });
    expect([revoked.body.license, revoked.body.error?.code]).toEqual([undefined, 'REVOKED']);

    // Reinstated, the seat freed (the laptop was sold) and taken by another device: the old request takes no seat.
    expect((await post(`/entitlements/${ent.id}/reinstate`, {})).status).toBe(200);
    expect((await post(`/activations/${held.id}/free`, { reason: 'sold' })).body.released).toBe(true);
    await activateDevice(ent.code!);
    const again = await post('/offline-responses', { request: requestText });
    expect([again.body.license, again.body.error?.code]).toEqual([undefined, 'TOO_MANY_DEVICES']);
    expect((await get(`/activations?entitlementId=${ent.id}&status=active`)).body.total).toBe(1);
  });
});

describe('codes, orders, logs and outbox', () => {
  it('lists codes with their last day of use', async () => {
    const b = await seedEntitlement(t.db, { family: 'B' });
    await seedEntitlement(t.db, { family: 'C' }); // no code
    await t.db.run(
      `INSERT INTO code_usage (code, day, device) VALUES (?, '2025-03-01', 'd1'), (?, '2025-03-02', 'd1')`,
      [b.code, b.code],
    );
    const r = await get('/codes?family=B');
    expect(r.body.items).toEqual([
      expect.objectContaining({ code: b.code, entitlementId: b.id, lastUsedDay: '2025-03-02' }),
    ]);
    expect((await get('/codes')).body.total).toBe(1);
  });

  it('lists orders from both order tables, test orders only on request', async () => {
    const ent = await seedEntitlement(t.db, { family: 'C' });
    await t.db.run(`UPDATE entitlements SET order_id = 'O-1', order_line_id = 'L-1' WHERE id = ?`, [ent.id]);
    await t.db.run(
      `INSERT INTO orders (order_id, order_line_id, order_type, info, fetched_at) VALUES ('O-1', 'L-1', 'NEW', '{"orderId":"O-1"}', '2025-01-02T00:00:00.000Z')`,
    );
    await t.db.run(
      `INSERT INTO order_notifications (order_id, order_line_id, test, received_at) VALUES ('O-1', 'L-1', 0, '2025-01-01T00:00:00.000Z'),
       ('O-2', 'L-9', 0, '2025-01-03T00:00:00.000Z'), ('O-T', 'L-T', 1, '2025-01-04T00:00:00.000Z')`,
    );
    // What the writers of those rows note beside them (koogallery/orderKeys.ts): the list pages on it.
    await noteOrder(t.db, 'O-1', 'L-1', '2025-01-01T00:00:00.000Z');
    await noteOrder(t.db, 'O-2', 'L-9', '2025-01-03T00:00:00.000Z');
    await noteOrder(t.db, 'O-T', 'L-T', '2025-01-04T00:00:00.000Z');
    const r = await get('/orders');
    expect(r.body.total).toBe(2);
    expect(r.body.items[0]).toMatchObject({ orderId: 'O-2', orderType: null, appliedAt: null });
    expect(r.body.items[1]).toMatchObject({
      orderId: 'O-1',
      entitlementId: ent.id,
      orderType: 'NEW',
      info: { orderId: 'O-1' },
    });
    expect((await get('/orders?includeTest=true')).body.total).toBe(3);
    // The search is exact, by order id, order line id or the license's id or code.
    expect((await get('/orders?q=O-2')).body.items.map((o: { orderId: string }) => o.orderId)).toEqual(['O-2']);
    expect((await get('/orders?q=L-1')).body.items.map((o: { orderId: string }) => o.orderId)).toEqual(['O-1']);
    expect((await get(`/orders?q=${ent.id}`)).body.items.map((o: { orderId: string }) => o.orderId)).toEqual(['O-1']);
    expect((await get('/orders?q=O-')).body.total).toBe(0);

    // A License 1.0 order (family A) has no order row: its license stands for it.
    const a = await seedEntitlement(t.db, { family: 'A' });
    await t.db.run(
      `UPDATE entitlements SET order_id = 'CS-A-1', created_at = '2025-01-05T00:00:00.000Z' WHERE id = ?`,
      [a.id],
    );
    await noteOrder(t.db, 'CS-A-1', '', '2025-01-05T00:00:00.000Z');
    const withA = await get('/orders');
    expect(withA.body.total).toBe(3);
    expect(withA.body.items[0]).toMatchObject({
      orderId: 'CS-A-1',
      orderLineId: '',
      orderType: 'getLicense',
      outcome: 'issued',
      family: 'A',
      entitlementId: a.id,
      receivedAt: '2025-01-05T00:00:00.000Z',
    });
    expect(withA.body.items.find((o: { orderId: string }) => o.orderId === 'O-1').family).toBe('C');
    expect((await get(`/orders?q=${a.code}`)).body.items.map((o: { orderId: string }) => o.orderId)).toEqual([
      'CS-A-1',
    ]);
  });

  it('lists marketplace messages with failure, code and activity filters', async () => {
    const m = t.licensor.ctx.messages;
    await m.record({ direction: 'in', activity: 'getLicense', resultCode: '000000', httpStatus: 200, latencyMs: 3.14 });
    await m.record({
      direction: 'in',
      activity: 'getLicense',
      resultCode: '000003',
      httpStatus: 200,
      error: 'no such order',
    });
    await m.record({
      direction: 'out',
      activity: 'license.query',
      resultCode: '92020005',
      httpStatus: 200,
      code: 'PL1',
    });
    await m.record({
      direction: 'out',
      activity: 'license.upload',
      resultCode: null,
      httpStatus: null,
      error: 'ECONNREFUSED',
    });
    await m.record({ direction: 'in', activity: 'getLicense', resultCode: '000001', test: true });
    const ids = async (q: string) =>
      (await get(`/messages?${q}`)).body.items.map((x: { activity: string }) => x.activity);
    expect((await get('/messages')).body.total).toBe(4); // flushed by the endpoint, test traffic left out
    expect(await ids('failed=true')).toEqual(['license.upload', 'license.query', 'getLicense']);
    expect(await ids('failed=false')).toEqual(['getLicense']);
    expect(await ids('resultCode=92020005')).toEqual(['license.query']);
    expect(await ids('activity=getLicense&includeTest=true')).toEqual(['getLicense', 'getLicense', 'getLicense']);
    expect(await ids('q=PL1')).toEqual(['license.query']);
    expect((await get('/messages?direction=sideways')).status).toBe(400);
    const first = (await get('/messages?failed=false')).body.items[0];
    expect(first).toMatchObject({ latencyMs: 3.1, failed: false, direction: 'in' });
  });

  it('lists outbox items and retries a failed one (409 for a done one, 404 for an unknown one)', async () => {
    const ob = t.licensor.ctx.outbox;
    const failed = await ob.enqueue(t.db, 'license.upload', { eventId: 'E1' });
    const done = await ob.enqueue(t.db, 'license.upload', { eventId: 'E2' });
    await t.db.run(`UPDATE outbox SET status = 'failed', attempts = 25, last_error = 'boom' WHERE id = ?`, [failed]);
    await t.db.run(`UPDATE outbox SET status = 'done' WHERE id = ?`, [done]);

    const list = await get('/outbox');
    expect(list.body.items.map((i: { id: number }) => i.id)).toEqual([failed]);
    expect(list.body.items[0]).toMatchObject({ status: 'failed', lastError: 'boom', payload: { eventId: 'E1' } });
    expect((await get('/outbox?status=done')).body.items.map((i: { id: number }) => i.id)).toEqual([done]);

    const retried = await post(`/outbox/${failed}/retry`);
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ id: failed, status: 'pending' });
    expect((await post(`/outbox/${done}/retry`)).status).toBe(409);
    expect((await post('/outbox/99999/retry')).status).toBe(404);
    expect((await post('/outbox/abc/retry')).status).toBe(400);
    const audit = (await get('/audit?action=outbox.retried')).body.items;
    expect(audit).toEqual([
      expect.objectContaining({ actor: 'admin:bootstrap', detail: expect.objectContaining({ id: failed }) }),
    ]);
  });
});

describe('keyset pages for the outbox and webhook deliveries; capped counts', () => {
  /** Follows nextCursor from the first page; the ids of every page in order. */
  async function walk(path: string, key: 'id' = 'id') {
    const pages: unknown[][] = [];
    let cursor: string | null = null;
    do {
      const sep = path.includes('?') ? '&' : '?';
      const res = await get(`${path}${cursor ? `${sep}cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      pages.push(res.body.items.map((i: Record<string, unknown>) => i[key]));
      cursor = res.body.nextCursor;
    } while (cursor && pages.length < 20);
    return pages;
  }

  it('pages the outbox newest first, two at a time, without gaps or repeats', async () => {
    const ob = t.licensor.ctx.outbox;
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push(await ob.enqueue(t.db, 'license.upload', { eventId: `E${i}` }));
    await t.db.run(`UPDATE outbox SET status = 'failed', attempts = 3, last_error = 'boom'`);
    expect(await walk('/outbox?status=failed&limit=2')).toEqual([[ids[4], ids[3]], [ids[2], ids[1]], [ids[0]]]);
    expect((await get('/outbox?status=failed&limit=2')).body).toMatchObject({ total: 5, totalCapped: false });
  });

  it('pages webhook deliveries by cursor, filters kept', async () => {
    const endpoint = await post('/webhooks/endpoints', {
      url: 'https://crm.example.invalid/hook',
      events: ['license.revoked'],
    });
    expect(endpoint.status).toBe(201);
    const endpointId = endpoint.body.endpoint.id as string;
    const at = new Date().toISOString();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      await t.db.run(
        `INSERT INTO webhook_events (id, type, payload, created_at) VALUES (?, 'license.revoked', '{}', ?)`,
        [`msg_${i}`, at],
      );
      await t.db.run(
        `INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, attempts, created_at, updated_at)
         VALUES (?, ?, ?, ?, 1, ?, ?)`,
        [`dlv_${i}`, `msg_${i}`, endpointId, i % 2 ? 'delivered' : 'failed', at, at],
      );
      ids.push(`dlv_${i}`);
    }
    expect(await walk('/webhooks/deliveries?limit=2')).toEqual([['dlv_4', 'dlv_3'], ['dlv_2', 'dlv_1'], ['dlv_0']]);
    expect(await walk('/webhooks/deliveries?limit=2&status=failed')).toEqual([['dlv_4', 'dlv_2'], ['dlv_0']]);
    expect((await get('/webhooks/deliveries?cursor=nope')).status).toBe(400);
  });

  it('counts matches up to 10,000 (then "10,000+") and keeps page numbers within them', async () => {
    await t.db.run(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10050)
       INSERT INTO outbox (kind, payload, status, attempts, next_attempt_at, created_at, updated_at)
       SELECT 'bulk', '{}', 'done', 1, 0, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z' FROM n`,
    );
    const first = await get('/outbox?status=done&limit=50');
    expect(first.body).toMatchObject({ total: 10_000, totalCapped: true });
    expect(first.body.items).toHaveLength(50);
    expect((await get('/outbox?status=done&limit=50&page=200')).status).toBe(200);
    const tooDeep = await get('/outbox?status=done&limit=50&page=201');
    expect(tooDeep.status).toBe(400);
    expect(tooDeep.body.error.message).toMatch(/follow nextCursor/);
    // The cursor goes on where page numbers stop: page 201 of 50 (rows 10,001-10,050) by following it. The walk to
    // it takes 199 rows a step (50 steps, each counting up to 10,001 rows, instead of 199 steps of 50); every row
    // it passes is checked: newest first, none skipped or repeated.
    let cursor = first.body.nextCursor as string;
    let expected = 10_000;
    for (let i = 0; i < 50; i++) {
      const step = (await get(`/outbox?status=done&limit=199&cursor=${cursor}`)).body;
      expect(step.items.map((item: { id: number }) => item.id)).toEqual(
        Array.from({ length: 199 }, (_, k) => expected - k),
      );
      expected -= 199;
      cursor = step.nextCursor;
    }
    const deep = await get(`/outbox?status=done&limit=50&cursor=${cursor}`);
    expect(deep.body.items.map((i: { id: number }) => i.id)).toEqual(Array.from({ length: 50 }, (_, i) => 50 - i));
    expect(deep.body.nextCursor).toBeNull();
    expect((await get('/outbox?status=done&kind=nothing')).body).toMatchObject({ total: 0, totalCapped: false });
  });
});

describe('exports', () => {
  const nasty = ['=HYPERLINK("http://evil","x")', 'Smith, "Bob"\nline 2', '+1', '-2', '@SUM(A1)', '普通客户'];

  it('streams CSV with RFC 4180 quoting and formula-injection protection', async () => {
    const ids = await seedMany(nasty.length);
    for (const [i, name] of nasty.entries()) {
      await t.db.run('UPDATE entitlements SET customer_name = ? WHERE id = ?', [name, ids[i]]);
    }
    const r = await get('/export/entitlements?format=csv');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(r.headers['content-disposition']).toMatch(/^attachment; filename="entitlements-\d{8}T\d{6}\.csv"$/);
    expect(r.text.endsWith('\r\n')).toBe(true);
    const rows = parseCsv(r.text);
    const header = rows[0]!;
    expect(header.slice(0, 4)).toEqual(['id', 'family', 'code', 'status']);
    const col = header.indexOf('customerName');
    const byId = new Map(rows.slice(1).map((row) => [row[0], row]));
    expect(rows.length).toBe(nasty.length + 1);
    nasty.forEach((name, i) => {
      const expected = /^[=+\-@]/.test(name) ? `'${name}` : name;
      expect(byId.get(ids[i]!)![col]).toBe(expected);
    });
    expect(byId.get(ids[0]!)![header.indexOf('seats')]).toBe('1');
    expect(byId.get(ids[0]!)![header.indexOf('test')]).toBe('false');
    // Raw form of the quoted cells.
    expect(r.text).toContain(`"'=HYPERLINK(""http://evil"",""x"")"`);
    expect(r.text).toContain('"Smith, ""Bob""\nline 2"');

    const bom = await get('/export/entitlements?format=csv&bom=true');
    expect(bom.text.charCodeAt(0)).toBe(0xfeff);
  });

  it('exports every row in chunks as JSON and honours filters', async () => {
    await seedBulk(1203);
    const test = await seedEntitlement(t.db);
    await t.db.run('UPDATE entitlements SET test = 1 WHERE id = ?', [test.id]);
    const r = await get('/export/entitlements?format=json');
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
    const items = JSON.parse(r.text) as { id: string; createdAt: string }[];
    expect(items.length).toBe(1203);
    expect(new Set(items.map((i) => i.id)).size).toBe(1203);
    expect(items[0]!.createdAt > items[1202]!.createdAt).toBe(true);
    expect(JSON.parse((await get('/export/entitlements?includeTest=true')).text).length).toBe(1204);
    expect(JSON.parse((await get('/export/entitlements?status=revoked')).text)).toEqual([]);
    expect((await get('/export/entitlements?format=xml')).status).toBe(400);
    expect((await get('/export/entitlements?limit=5')).status).toBe(400);
  });

  it('exports activations and messages', async () => {
    const ent = await seedEntitlement(t.db, { family: 'A', seats: 3 });
    await activateDevice(ent.code!);
    await activateDevice(ent.code!);
    const acts = parseCsv((await get('/export/activations?format=csv')).text);
    expect(acts.length).toBe(3);
    expect(acts[0]).toContain('lastSeenAt');
    expect(acts.slice(1).every((row) => row[1] === ent.id)).toBe(true);

    t.licensor.ctx.messages.record({
      direction: 'in',
      activity: 'getLicense',
      resultCode: '000002',
      error: '-bad',
    });
    const msgs = parseCsv((await get('/export/messages?format=csv&failed=true')).text);
    expect(msgs.length).toBe(2);
    expect(msgs[1]![msgs[0]!.indexOf('error')]).toBe("'-bad");
  });
});
