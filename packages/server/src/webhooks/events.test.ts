import { LicensorError } from '@licensor/shared';
import { activationBody, newDevice } from '@licensor/testkit/licensing';
import { createTestApp, signedGetUrl, type TestApp } from '@licensor/testkit/server';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inTx } from '../db/storage';
import { pruneMessagesDaily } from '../jobs/daily';
import { formatCompactTime } from '../koogallery/time';
import { applyMarketplaceStatus, findEntitlement } from '../licensing';
import { DELIVER_KIND, pruneWebhookHistory, WEBHOOK_EVENTS } from './store';
import { emitDailyDutiesFailed, REFUSED_WINDOW_MS } from './systemEvents';

/**
 * Every event type of issue 17 is emitted where its change happens (in the change's transaction, so it exists
 * exactly when the change does). Checked in the recorded events: delivery itself is webhooks.test.ts's and
 * test/license-model.e2e.test.ts's business.
 */

const ADMIN = '/api/admin/v1';
const BOOT = 'Bearer admin-test-token';

let t: TestApp;
beforeEach(async () => {
  t = await createTestApp({ webhookAllowPrivate: true });
  const res = await admin().post('/webhooks/endpoints', { url: 'http://127.0.0.1:9/hooks', events: ['*'] });
  expect(res.status, res.text).toBe(201);
  // Direct licenses name a catalogue product.
  const product = await request(t.licensor.app).put(`${ADMIN}/catalog/products/p1`).set('Authorization', BOOT).send({});
  expect(product.status, product.text).toBe(201);
});
afterEach(async () => {
  await t.destroy();
});

const admin = () => ({
  post: (path: string, body?: object) =>
    request(t.licensor.app)
      .post(ADMIN + path)
      .set('Authorization', BOOT)
      .send(body),
  patch: (path: string, body: object) =>
    request(t.licensor.app)
      .patch(ADMIN + path)
      .set('Authorization', BOOT)
      .send(body),
});

interface Recorded {
  type: string;
  data: Record<string, unknown>;
}
const events = async (): Promise<Recorded[]> =>
  // In the order they were recorded: their first delivery's seq (events have no sequence of their own).
  (
    await t.db.all<{ payload: string }>(
      `SELECT e.payload FROM webhook_events e JOIN webhook_deliveries d ON d.event_id = e.id
       GROUP BY e.id, e.payload ORDER BY MIN(d.seq)`,
    )
  ).map((r) => JSON.parse(r.payload) as Recorded);
const typesSince = async (n: number) => (await events()).slice(n).map((e) => e.type);

describe('license and activation events', () => {
  it('a direct license: created, changed, renewed, activation created and released, suspended, revoked', async () => {
    const created = await admin().post('/entitlements', { productId: 'p1', seats: 2, customer: 'Acme' });
    expect(created.status, created.text).toBe(201);
    const ent = created.body.entitlement;
    expect((await events()).at(-1)).toMatchObject({
      type: 'license.created',
      data: {
        licenseId: ent.id,
        code: ent.code,
        family: 'direct',
        seats: 2,
        customerName: 'Acme',
        actor: 'admin:bootstrap',
      },
    });

    let mark = (await events()).length;
    const first = await request(t.licensor.app)
      .post('/api/v1/activations')
      .send(activationBody(newDevice('e1'), ent.code));
    const second = await request(t.licensor.app)
      .post('/api/v1/activations')
      .send(activationBody(newDevice('e2'), ent.code));
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(await typesSince(mark)).toEqual(['activation.created', 'activation.created']);
    expect((await events()).at(-1)!.data).toMatchObject({ activationId: second.body.activationId, licenseId: ent.id });
    expect(JSON.stringify((await events()).at(-1))).not.toContain('fingerprint');

    mark = (await events()).length;
    expect((await admin().patch(`/entitlements/${ent.id}`, { seats: 1, releaseOldest: true })).status).toBe(200);
    expect(await typesSince(mark)).toEqual(['activation.released', 'license.changed']);
    expect((await events()).at(-2)!.data).toMatchObject({ activationId: first.body.activationId, status: 'released' });
    // `changes` keys are camelCase like the rest of the payload (no column names).
    expect((await events()).at(-1)!.data.changes).toEqual({
      seatsOverride: { before: 2, after: 1 },
      seats: { before: 2, after: 1 },
    });

    mark = (await events()).length;
    const later = new Date(Date.now() + 400 * 86_400_000).toISOString();
    expect((await admin().patch(`/entitlements/${ent.id}`, { expiresAt: later })).status).toBe(200);
    expect((await admin().post(`/activations/${second.body.activationId}/free`, { reason: 'dead' })).status).toBe(200);
    expect((await admin().post(`/entitlements/${ent.id}/suspend`)).status).toBe(200);
    expect((await admin().post(`/entitlements/${ent.id}/revoke`)).status).toBe(200);
    expect((await events())[mark]!.data.changes).toEqual({ expiresAt: { before: null, after: later } });
    expect(await typesSince(mark)).toEqual([
      'license.renewed',
      'activation.released',
      'license.suspended',
      'license.revoked',
    ]);
  });

  it('moving a seat to another license is activation.released on the old one and activation.created on the new', async () => {
    const from = (await admin().post('/entitlements', { productId: 'p1' })).body.entitlement;
    const to = (await admin().post('/entitlements', { productId: 'p1' })).body.entitlement;
    const act = await request(t.licensor.app)
      .post('/api/v1/activations')
      .send(activationBody(newDevice('mover'), from.code));
    expect(act.status, act.text).toBe(200);
    const mark = (await events()).length;
    const moved = await admin().post(`/activations/${act.body.activationId}/move`, { to: to.code, reason: 'new code' });
    expect(moved.status, moved.text).toBe(200);
    expect(await typesSince(mark)).toEqual(['activation.released', 'activation.created']);
    expect((await events()).at(-2)!.data).toMatchObject({
      activationId: act.body.activationId,
      licenseId: from.id,
      code: from.code,
      status: 'released',
      seat: null,
    });
    expect((await events()).at(-1)!.data).toMatchObject({
      activationId: act.body.activationId,
      licenseId: to.id,
      code: to.code,
      status: 'active',
      seat: 0,
    });
  });

  it('marketplace licenses: created (family A purchase), frozen, unfrozen, released', async () => {
    const mark = (await events()).length;
    const params = {
      activity: 'getLicense',
      businessId: 'biz-events',
      customerId: 'cust-events',
      orderId: 'CS-events-1',
      productId: 'p1',
      skuCode: 'sku-x',
      amount: '2',
      expireTime: formatCompactTime(new Date(Date.now() + 365 * 86_400_000)),
    };
    const bought = await request(t.licensor.app).get(signedGetUrl(params));
    const instanceId = JSON.parse(bought.text).instanceId as string;
    // A retried purchase is the same license: no second event.
    await request(t.licensor.app).get(signedGetUrl(params));
    expect(await typesSince(mark)).toEqual(['license.created']);
    expect((await events()).at(-1)!.data).toMatchObject({
      licenseId: instanceId,
      family: 'A',
      skuCode: 'sku-x',
      seats: 2,
    });

    const ctx = t.licensor.ctx;
    const freeze = (status: 'FREEZE' | 'UNFREEZE') =>
      t.db.transaction(async (tx) =>
        applyMarketplaceStatus(inTx(ctx, tx), (await findEntitlement(tx, instanceId))!, status, 'marketplace:test'),
      );
    await freeze('FREEZE');
    await freeze('UNFREEZE');
    const released = await request(t.licensor.app).get(
      signedGetUrl({ activity: 'releaseLicense', orderId: 'CS-events-1', instanceId }),
    );
    expect(JSON.parse(released.text).resultCode).toBe('000000');
    expect(await typesSince(mark)).toEqual([
      'license.created',
      'license.frozen',
      'license.unfrozen',
      'license.released',
    ]);
  });
});

describe('catalogue changes', () => {
  it("a SKU's new seat count is a license.changed event for each license that follows it", async () => {
    const catalog = (seats: number) => ({
      catalog: { products: [{ id: 'p-cat', skus: [{ code: 'sku-a', edition: 'A', seats }] }] },
    });
    expect((await admin().post('/catalog/apply', catalog(2))).status).toBe(200);
    const ent = (await admin().post('/entitlements', { productId: 'p-cat', sku: 'sku-a' })).body.entitlement;
    const mark = (await events()).length;
    expect((await admin().post('/catalog/apply', catalog(4))).status).toBe(200);
    expect(await typesSince(mark)).toEqual(['license.changed']);
    expect((await events()).at(-1)!.data).toMatchObject({
      licenseId: ent.id,
      seats: 4,
      changes: { seats: { before: 2, after: 4 } },
      action: 'entitlement.seats_rederived',
    });
  });
});

describe('marketplace.call_failed and daily_duties.failed', () => {
  it('a refused incoming call is one event per window, however many arrive', async () => {
    const mark = (await events()).length;
    for (let i = 0; i < 5; i++) {
      const res = await request(t.licensor.app).get(
        signedGetUrl({ activity: 'getLicense', orderId: `x${i}` }, 'WRONG'),
      );
      expect(JSON.parse(res.text).resultCode).toBe('000001');
    }
    await t.licensor.ctx.messages.flush();
    expect(await typesSince(mark)).toEqual(['marketplace.call_failed']);
    expect((await events()).at(-1)!.data).toMatchObject({ source: 'incoming', refused: true, resultCode: '000001' });
    expect(REFUSED_WINDOW_MS).toBe(600_000);
  });

  it('an outbox item that gave up is a failed marketplace call; a daily batch is also a failed daily duty', async () => {
    const { outbox } = t.licensor.ctx;
    const reject = async () => {
      throw new LicensorError('MARKETPLACE_REJECTED', 'order query failed: MKT.0100 no such order');
    };
    outbox.register('order.events-test', reject);
    outbox.register('daily.events-test', reject);
    outbox.register(`${DELIVER_KIND}.events-test`, reject);
    const mark = (await events()).length;
    await t.db.transaction(async (tx) => {
      await outbox.enqueue(tx, 'order.events-test', { orderId: 'CS-1', orderLineId: 'L1' });
      await outbox.enqueue(tx, 'daily.events-test', { day: '2026-12-01', batch: 0, of: 1, codes: ['PL1'] });
      await outbox.enqueue(tx, `${DELIVER_KIND}.events-test`, { deliveryId: 'dlv_x' });
    });
    await outbox.drain();
    const failed = (await events()).slice(mark);
    // The outbox runs the three items concurrently, so their events come in no set order (on PostgreSQL either
    // item may commit first): each is looked up by type and kind.
    expect(failed.map((e) => e.type).sort()).toEqual([
      'daily_duties.failed',
      'marketplace.call_failed',
      'marketplace.call_failed',
    ]);
    const of = (type: string, kind: string) => failed.find((e) => e.type === type && e.data.kind === kind);
    expect(of('marketplace.call_failed', 'daily.events-test')).toBeDefined();
    expect(of('marketplace.call_failed', 'order.events-test')!.data).toMatchObject({
      source: 'outbox',
      kind: 'order.events-test',
      attempts: 1,
      error: 'order query failed: MKT.0100 no such order',
      ref: { orderId: 'CS-1', orderLineId: 'L1' },
    });
    expect(of('daily_duties.failed', 'daily.events-test')!.data).toMatchObject({
      kind: 'daily.events-test',
      ref: { day: '2026-12-01', batch: 0 },
    });
  });

  it('a daily scheduling failure is one event per stage and day', async () => {
    const mark = (await events()).length;
    const now = () => new Date('2026-12-03T10:00:00Z');
    await t.db.transaction(async (tx) =>
      emitDailyDutiesFailed({ db: tx, now }, 'planning', new Error('database is locked')),
    );
    await t.db.transaction(async (tx) =>
      emitDailyDutiesFailed({ db: tx, now }, 'planning', new Error('database is locked')),
    );
    expect(await typesSince(mark)).toEqual(['daily_duties.failed']);
    expect((await events()).at(-1)!.data).toEqual({
      source: 'scheduler',
      stage: 'planning',
      day: '2026-12-03',
      error: 'database is locked',
    });
  });

  it('every event type the endpoints accept is one the server emits', () => {
    expect([...WEBHOOK_EVENTS].sort()).toEqual(
      [
        'activation.created',
        'activation.released',
        'daily_duties.failed',
        'license.changed',
        'license.created',
        'license.frozen',
        'license.released',
        'license.renewed',
        'license.revoked',
        'license.suspended',
        'license.unfrozen',
        'marketplace.call_failed',
      ].sort(),
    );
  });
});

describe('delivery retention', () => {
  it('prunes finished deliveries and their events after the retention, never pending ones', async () => {
    await admin().post('/entitlements', { productId: 'p1' });
    await admin().post('/entitlements', { productId: 'p1' });
    const [done, pending] = await t.db.all<{ id: string; event_id: string }>(
      'SELECT id, event_id FROM webhook_deliveries',
    );
    const old = '2020-01-01T00:00:00.000Z';
    await t.db.run(`UPDATE webhook_deliveries SET status = 'delivered', updated_at = ? WHERE id = ?`, [old, done!.id]);
    await t.db.run(`UPDATE webhook_deliveries SET updated_at = ? WHERE id = ?`, [old, pending!.id]);
    await t.db.run('UPDATE webhook_events SET created_at = ?', [old]);
    await t.db.run(
      `INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, duration_ms) VALUES (?, 1, ?, 204, 3)`,
      [done!.id, old],
    );

    expect(await pruneWebhookHistory(t.db, new Date(), 90)).toEqual({ deliveries: 1, events: 1 });
    expect(await t.db.all('SELECT id FROM webhook_deliveries')).toEqual([{ id: pending!.id }]);
    expect(await t.db.all('SELECT id FROM webhook_events')).toEqual([{ id: pending!.event_id }]);
    expect((await t.db.first<{ n: number }>('SELECT COUNT(*) AS n FROM webhook_attempts'))!.n).toBe(0);

    // The daily tidy-up runs it with the message log's retention.
    await t.db.run(`UPDATE webhook_deliveries SET status = 'failed'`);
    await pruneMessagesDaily(t.licensor.ctx, undefined);
    expect(await t.db.all('SELECT id FROM webhook_deliveries')).toEqual([]);
  });
});
