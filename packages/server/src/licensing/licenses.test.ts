import { activateRequestSchema, decodeLicenseFile, isValidLicenseCode, normalizeLicenseCode } from '@licensor/shared';
import { activationBody, deviceHeaders, newDevice, type TestDevice } from '@licensor/testkit/licensing';
import { createTestApp, signedGetUrl, type TestApp, testDatabaseEnv } from '@licensor/testkit/server';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAdminToken } from '../admin/auth';
import { EXIT, main } from '../cli/index';
import { activate } from './activate';

/**
 * Direct licenses and license changes (issue 17): through the admin API (POST/PATCH /entitlements) and the
 * CLI (`licensor licenses create|update`), on the catalogue's SKU seats.
 */

const ADMIN = '/api/admin/v1';
const BOOT = 'Bearer admin-test-token';
const PRODUCT = 'com.example.direct';

let t: TestApp;
beforeEach(async () => {
  t = await createTestApp();
  const res = await api()
    .post(`${ADMIN}/catalog/apply`)
    .set('Authorization', BOOT)
    .send({
      catalog: {
        products: [
          {
            id: PRODUCT,
            edition: 'Standard',
            skus: [
              { code: 'sku-team', edition: 'Team', features: { sync: true }, seats: 3 },
              { code: 'sku-solo', edition: 'Solo', seats: 1 },
              { code: 'sku-site', edition: 'Site', features: { sync: true, maxProjects: 100 }, seats: 50 },
            ],
          },
        ],
      },
    });
  expect(res.status, res.text).toBe(200);
});
afterEach(async () => {
  await t.destroy();
});

const api = () => request(t.licensor.app);
const create = (body: object, auth = BOOT) => api().post(`${ADMIN}/entitlements`).set('Authorization', auth).send(body);
const patch = (id: string, body: object, auth = BOOT) =>
  api()
    .patch(`${ADMIN}/entitlements/${encodeURIComponent(id)}`)
    .set('Authorization', auth)
    .send(body);

async function activateDevice(code: string, device: TestDevice = newDevice()) {
  const r = await activate(t.licensor.ctx, activateRequestSchema.parse(activationBody(device, code)));
  return { device, activationId: r.activation.id };
}

/** A device's check-in through the activation API: the License file it receives. */
async function checkIn(device: TestDevice, activationId: string) {
  const path = `/api/v1/activations/${activationId}/check-in`;
  const res = await api()
    .post(path)
    .set(deviceHeaders(device, activationId, 'POST', path, '{}'))
    .send('{}');
  expect(res.status, res.text).toBe(200);
  return decodeLicenseFile(res.body.license).payload;
}

async function cli(args: string[]) {
  let out = '';
  let err = '';
  const code = await main(['--data-dir', t.dataDir, ...args], {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: { USER: 'alice', LICENSOR_KEY_PASSPHRASE: 'test-passphrase', ...testDatabaseEnv(t.dataDir) },
  });
  return { code, out, err, json: () => JSON.parse(out) };
}

describe('POST /entitlements: direct licenses', () => {
  it("issues an LSR code in the client's normalised format with the SKU's seats, audited", async () => {
    const res = await create({ productId: PRODUCT, sku: 'sku-team', customer: 'Acme Ltd' });
    expect(res.status, res.text).toBe(201);
    const { entitlement } = res.body;
    expect(entitlement).toMatchObject({
      family: 'direct',
      status: 'active',
      productId: PRODUCT,
      skuCode: 'sku-team',
      seats: 3,
      seatsOverride: null,
      customerName: 'Acme Ltd',
      expiresAt: null,
    });
    expect(entitlement.code).toMatch(/^LSR(-[0-9A-HJKMNP-TV-Z]{5}){4}$/);
    expect(isValidLicenseCode(entitlement.code)).toBe(true);
    // What a person types (lower case, no dashes, look-alikes) finds it.
    expect(normalizeLicenseCode(entitlement.code.toLowerCase().replaceAll('-', ' '))).toBe(entitlement.code);

    const detail = await api().get(`${ADMIN}/entitlements/${entitlement.id}`).set('Authorization', BOOT);
    expect(detail.body.audit[0]).toMatchObject({ action: 'entitlement.created', actor: 'admin:bootstrap' });

    // The customer activates with it, and the License carries the SKU's edition and features.
    const { device, activationId } = await activateDevice(entitlement.code);
    const payload = await checkIn(device, activationId);
    expect(payload).toMatchObject({ edition: 'Team', features: { sync: true }, seats: 3 });
  });

  it('takes explicit seats and expiry over the SKU, and refuses unknown SKUs, past expiries and bad input', async () => {
    const expiresAt = new Date(Date.now() + 30 * 86_400_000).toISOString();
    const res = await create({ productId: PRODUCT, sku: 'sku-team', seats: 10, expiresAt });
    expect(res.status, res.text).toBe(201);
    expect(res.body.entitlement).toMatchObject({ seats: 10, seatsOverride: 10, expiresAt });

    const unknown = await create({ productId: PRODUCT, sku: 'sku-nope' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('INVALID_INPUT');
    expect(unknown.body.error.message).toContain('sku-site, sku-solo, sku-team');

    const past = await create({ productId: PRODUCT, expiresAt: '2020-01-01T00:00:00Z' });
    expect(past.status).toBe(400);
    expect(past.body.error.message).toContain('in the past');
    expect((await create({ productId: PRODUCT, seats: 0 })).status).toBe(400);
    // The product must be in the catalogue too: a typo would issue a code no install accepts.
    const noProduct = await create({ productId: 'com.example.typo', sku: 'sku-team' });
    expect(noProduct.status).toBe(400);
    expect(noProduct.body.error).toMatchObject({
      code: 'INVALID_INPUT',
      message: `No product com.example.typo in the catalogue; use one of: ${PRODUCT}`,
      detail: { knownProducts: [PRODUCT] },
    });
    expect(await t.db.first("SELECT 1 FROM entitlements WHERE product_id = 'com.example.typo'")).toBeUndefined();
    expect((await create({ productId: PRODUCT, surprise: 1 })).status).toBe(400);
    expect((await create({})).status).toBe(400);
  });

  it('needs a write-scope token: read tokens get 403', async () => {
    const { token } = await createAdminToken(t.db, 'viewer', 'read');
    const res = await create({ productId: PRODUCT }, `Bearer ${token}`);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('FORBIDDEN');
    const ent = (await create({ productId: PRODUCT })).body.entitlement;
    expect((await patch(ent.id, { seats: 4 }, `Bearer ${token}`)).status).toBe(403);
    const { token: writer } = await createAdminToken(t.db, 'ops', 'write');
    expect((await patch(ent.id, { seats: 4 }, `Bearer ${writer}`)).status).toBe(200);
  });
});

describe('PATCH /entitlements/{id}: seats, expiry, SKU, customer', () => {
  it('refuses seats below the devices in use with SEATS_IN_USE and the devices, or releases the oldest', async () => {
    const ent = (await create({ productId: PRODUCT, sku: 'sku-team' })).body.entitlement;
    const first = await activateDevice(ent.code, newDevice('oldest'));
    const second = await activateDevice(ent.code, newDevice('middle'));
    const third = await activateDevice(ent.code, newDevice('newest'));

    const refused = await patch(ent.code, { seats: 1 });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('SEATS_IN_USE');
    expect(refused.body.error.detail).toMatchObject({ seats: 1, inUse: 3 });
    // The message itself names the devices and the two ways to proceed.
    const message: string = refused.body.error.message;
    for (const a of [first, second, third]) expect(message).toContain(a.activationId);
    expect(message).toContain(`licensor seats free ${first.activationId}`);
    expect(message).toContain('--release-oldest');
    expect(message).toContain(`frees the 2 oldest: ${first.activationId}, ${second.activationId}`);
    expect(refused.body.error.detail.devices.map((d: { id: string }) => d.id)).toEqual([
      first.activationId,
      second.activationId,
      third.activationId,
    ]);
    // Nothing changed.
    const unchanged = await api().get(`${ADMIN}/entitlements/${ent.id}`).set('Authorization', BOOT);
    expect(unchanged.body.entitlement.seats).toBe(3);
    expect(unchanged.body.seats.used).toBe(3);

    const applied = await patch(ent.id, { seats: 1, releaseOldest: true });
    expect(applied.status, applied.text).toBe(200);
    expect(applied.body.releasedDevices).toEqual([first.activationId, second.activationId]);
    expect(applied.body.entitlement).toMatchObject({ seats: 1, seatsOverride: 1 });
    const after = await api().get(`${ADMIN}/entitlements/${ent.id}`).set('Authorization', BOOT);
    expect(after.body.seats).toEqual({ limit: 1, used: 1 });
    expect(after.body.audit.map((a: { action: string }) => a.action)).toEqual(
      expect.arrayContaining(['entitlement.updated', 'activation.freed']),
    );
    const update = after.body.audit.find((a: { action: string }) => a.action === 'entitlement.updated');
    expect(update.after).toMatchObject({ seats_override: 1, seats: 1 });

    // The newest device keeps its seat and sees the new count at its next check-in.
    expect((await checkIn(third.device, third.activationId)).seats).toBe(1);
  });

  it('a SKU change re-derives edition, features and seats; devices get them at their next check-in', async () => {
    const ent = (await create({ productId: PRODUCT, sku: 'sku-solo' })).body.entitlement;
    const { device, activationId } = await activateDevice(ent.code);
    expect(await checkIn(device, activationId)).toMatchObject({ edition: 'Solo', seats: 1 });
    expect((await checkIn(device, activationId)).features ?? {}).not.toHaveProperty('sync');

    const res = await patch(ent.id, { sku: 'sku-site', customer: 'Big Corp' });
    expect(res.status, res.text).toBe(200);
    expect(res.body.entitlement).toMatchObject({ skuCode: 'sku-site', seats: 50, customerName: 'Big Corp' });
    expect(await checkIn(device, activationId)).toMatchObject({
      edition: 'Site',
      seats: 50,
      features: { sync: true, maxProjects: 100 },
    });

    // An own seat count wins over the SKU's; null follows the catalogue again.
    expect((await patch(ent.id, { seats: 7 })).body.entitlement.seats).toBe(7);
    expect((await patch(ent.id, { sku: 'sku-team' })).body.entitlement.seats).toBe(7);
    expect((await patch(ent.id, { seats: null })).body.entitlement).toMatchObject({ seats: 3, seatsOverride: null });

    expect((await patch(ent.id, { sku: 'sku-missing' })).status).toBe(400);
    expect((await patch(ent.id, {})).status).toBe(400);
    expect((await patch('LSR-NOPE', { seats: 2 })).status).toBe(404);
  });

  it("sets the license's own edition and features over its SKU's, audited, and devices get them at check-in", async () => {
    const ent = (await create({ productId: PRODUCT, sku: 'sku-team' })).body.entitlement;
    const { device, activationId } = await activateDevice(ent.code);
    expect(await checkIn(device, activationId)).toMatchObject({ edition: 'Team', features: { sync: true } });

    const res = await patch(ent.id, { edition: 'Team Plus', features: { sync: false, maxProjects: 7 } });
    expect(res.status, res.text).toBe(200);
    expect(res.body.entitlement).toMatchObject({ edition: 'Team Plus', features: { sync: false, maxProjects: 7 } });
    const payload = await checkIn(device, activationId);
    expect(payload.edition).toBe('Team Plus');
    expect(payload.features).toEqual({ maxProjects: 7 });
    const detail = await api().get(`${ADMIN}/entitlements/${ent.id}`).set('Authorization', BOOT);
    expect(detail.body.audit[0]).toMatchObject({
      action: 'entitlement.updated',
      before: { edition: null, features: null },
      after: { edition: 'Team Plus', features: '{"maxProjects":7,"sync":false}' },
    });
    // The same features in another order change nothing; bad ones are refused with the field.
    const again = await patch(ent.id, { features: { maxProjects: 7, sync: false } });
    expect(again.body.entitlement.updatedAt).toBe(res.body.entitlement.updatedAt);
    const bad = await patch(ent.id, { features: { '9lives': true } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.detail.problems[0].field).toBe('features.9lives');

    // null follows the catalogue again.
    const back = await patch(ent.id, { edition: null, features: null });
    expect(back.body.entitlement).toMatchObject({ edition: null, features: null });
    expect(await checkIn(device, activationId)).toMatchObject({ edition: 'Team', features: { sync: true } });

    // A direct license can be issued with its own edition and features.
    const own = await create({ productId: PRODUCT, sku: 'sku-solo', edition: 'Solo Edu', features: { edu: true } });
    expect(own.body.entitlement).toMatchObject({ edition: 'Solo Edu', features: { edu: true } });
  });

  it('changes the expiry (null: none) and brings an expired license back with a later one', async () => {
    const ent = (await create({ productId: PRODUCT })).body.entitlement;
    await t.db.run(`UPDATE entitlements SET status = 'expired', expires_at = '2020-01-01T00:00:00.000Z' WHERE id = ?`, [
      ent.id,
    ]);
    const later = new Date(Date.now() + 90 * 86_400_000).toISOString();
    const res = await patch(ent.id, { expiresAt: later });
    expect(res.body.entitlement).toMatchObject({ status: 'active', expiresAt: later });
    expect((await patch(ent.id, { expiresAt: null })).body.entitlement.expiresAt).toBeNull();
  });

  it("a catalogue change of a SKU's seats reaches the licenses that follow it, not those with their own", async () => {
    const following = (await create({ productId: PRODUCT, sku: 'sku-team' })).body.entitlement;
    const own = (await create({ productId: PRODUCT, sku: 'sku-team', seats: 2 })).body.entitlement;
    const res = await api()
      .put(`${ADMIN}/catalog/products/${PRODUCT}/skus/sku-team`)
      .set('Authorization', BOOT)
      .send({ code: 'sku-team', edition: 'Team', features: { sync: true }, seats: 8 });
    expect(res.status, res.text).toBe(200);
    const seatsOf = async (id: string) =>
      (await api().get(`${ADMIN}/entitlements/${id}`).set('Authorization', BOOT)).body.entitlement.seats;
    expect(await seatsOf(following.id)).toBe(8);
    expect(await seatsOf(own.id)).toBe(2);
    const trail = await api().get(`${ADMIN}/entitlements/${following.id}`).set('Authorization', BOOT);
    expect(trail.body.audit[0]).toMatchObject({
      action: 'entitlement.seats_rederived',
      before: { seats: 3 },
      after: { seats: 8 },
    });
  });
});

describe('seat precedence: own override > ordered quantity > SKU > product > 1', () => {
  /** A family-A purchase of the team SKU (3 seats in the catalogue), with or without a quantity. */
  async function buy(orderId: string, amount?: string) {
    const params: Record<string, string> = {
      activity: 'getLicense',
      businessId: `biz-${orderId}`,
      customerId: 'cust-1',
      orderId,
      productId: PRODUCT,
      skuCode: 'sku-team',
      ...(amount ? { amount } : {}),
    };
    const res = await api().get(signedGetUrl(params));
    expect(res.status, res.text).toBe(200);
    return JSON.parse(res.text).instanceId as string;
  }
  const row = (id: string) =>
    t.db.first<{ seats: number; seats_override: number | null; ordered_seats: number | null }>(
      'SELECT seats, seats_override, ordered_seats FROM entitlements WHERE id = ?',
      [id],
    );
  const setTeamSeats = async (seats: number) => {
    const res = await api()
      .put(`${ADMIN}/catalog/products/${PRODUCT}/skus/sku-team`)
      .set('Authorization', BOOT)
      .send({ code: 'sku-team', edition: 'Team', features: { sync: true }, seats });
    expect(res.status, res.text).toBe(200);
  };

  it('the paid quantity wins over the SKU; no quantity is NULL (not 1) and follows the SKU', async () => {
    const paid = await buy('order-paid-10', '10');
    const plain = await buy('order-no-amount');
    expect(await row(paid)).toEqual({ seats: 10, seats_override: null, ordered_seats: 10 });
    expect(await row(plain)).toEqual({ seats: 3, seats_override: null, ordered_seats: null });

    await setTeamSeats(8);
    expect((await row(paid))?.seats).toBe(10);
    expect((await row(plain))?.seats).toBe(8);
  });

  it("seats an operator sets are the license's own: a later SKU or catalogue change does not overwrite them", async () => {
    const paid = await buy('order-paid-5', '5');
    const res = await patch(paid, { seats: 4 });
    expect(res.status, res.text).toBe(200);
    expect(res.body.entitlement).toMatchObject({ seats: 4, seatsOverride: 4, orderedSeats: 5 });
    expect(await row(paid)).toEqual({ seats: 4, seats_override: 4, ordered_seats: 5 });

    await setTeamSeats(20);
    expect((await patch(paid, { sku: 'sku-site' })).body.entitlement.seats).toBe(4);
    expect(await row(paid)).toEqual({ seats: 4, seats_override: 4, ordered_seats: 5 });
    // Dropping the override goes back to the ordered quantity, not the SKU's 50.
    expect((await patch(paid, { seats: null })).body.entitlement).toMatchObject({ seats: 5, seatsOverride: null });
  });
});

describe('licensor licenses create|update', () => {
  it('creates a direct license and prints its code, edition and seats', async () => {
    const res = await cli([
      'licenses',
      'create',
      '--product',
      PRODUCT,
      '--sku',
      'sku-team',
      '--expires',
      '2099-12-31',
      '--customer',
      'Acme Ltd',
    ]);
    expect(res.code, res.err).toBe(EXIT.ok);
    expect(res.out).toMatch(/Issued license LSR(-[0-9A-HJKMNP-TV-Z]{5}){4}/);
    expect(res.out).toContain('Edition   Team; features sync');
    expect(res.out).toContain('Seats     3 (from the catalogue)');
    // A date alone is the end of that day, UTC.
    expect(res.out).toContain('Expires   2099-12-31 23:59:59');
    expect(JSON.parse((await cli(['--json', 'entitlements', 'list'])).out).items[0].expiresAt).toBe(
      '2099-12-31T23:59:59.999Z',
    );
    // --help says it (help text wraps at the terminal width: compare with the lines joined).
    const help = async (cmd: string) => (await cli(['licenses', cmd, '--help'])).out.replace(/\s+/g, ' ');
    expect(await help('create')).toContain('2027-01-31 (the end of that day, 23:59:59.999 UTC)');
    expect(await help('update')).toContain('2027-01-31 (the end of that day, 23:59:59.999 UTC)');

    const json = await cli(['--json', 'licenses', 'create', '--product', PRODUCT, '--seats', '2']);
    expect(json.json().entitlement).toMatchObject({ family: 'direct', seats: 2, seatsOverride: 2 });
    const audit = await t.db.first<{ actor: string }>(
      "SELECT actor FROM audit_log WHERE action = 'entitlement.created' AND entitlement_id = ?",
      [json.json().entitlement.id],
    );
    expect(audit?.actor).toBe('cli:alice');

    const typo = await cli(['licenses', 'create', '--product', 'com.example.typo']);
    expect(typo.code).toBe(EXIT.invalidInput);
    expect(typo.err).toContain(`No product com.example.typo in the catalogue; use one of: ${PRODUCT}`);

    const bad = await cli(['licenses', 'create', '--product', PRODUCT, '--expires', 'tomorrow-ish']);
    expect(bad.code).toBe(EXIT.invalidInput);
    expect(bad.err).toContain('--expires tomorrow-ish is not a date');
  });

  it('update refuses lowering seats below the devices with the device list, and --release-oldest applies it', async () => {
    const created = await cli(['--json', 'licenses', 'create', '--product', PRODUCT, '--sku', 'sku-team']);
    const code = created.json().entitlement.code as string;
    const a = await activateDevice(code, newDevice('cli-a'));
    const b = await activateDevice(code, newDevice('cli-b'));

    const refused = await cli(['licenses', 'update', code, '--seats', '1']);
    expect(refused.code).toBe(EXIT.invalidInput);
    expect(refused.err).toContain('Devices holding seats (oldest first)');
    expect(refused.err).toContain(a.activationId);
    expect(refused.err).toContain(b.activationId);
    expect(refused.err).toContain('--release-oldest');

    const refusedJson = await cli(['--json', 'licenses', 'update', code, '--seats', '1']);
    expect(JSON.parse(refusedJson.err).error.code).toBe('SEATS_IN_USE');

    const applied = await cli(['licenses', 'update', code, '--seats', '1', '--release-oldest', '--customer', 'New Co']);
    expect(applied.code, applied.err).toBe(EXIT.ok);
    expect(applied.out).toContain(`Released the seats of 1 oldest device(s): ${a.activationId}`);
    expect(applied.out).toContain('Seats     1 (set on the license)');
    expect(applied.out).toContain('Customer  New Co');
    const dated = await cli(['--json', 'licenses', 'update', code, '--expires', '2098-06-30']);
    expect(dated.json().entitlement.expiresAt).toBe('2098-06-30T23:59:59.999Z');

    const back = await cli([
      'licenses',
      'update',
      code,
      '--seats',
      'catalog',
      '--sku',
      'sku-site',
      '--expires',
      'never',
    ]);
    expect(back.code, back.err).toBe(EXIT.ok);
    expect(back.out).toContain('Seats     50 (from the catalogue)');
    expect(back.out).toContain('Edition   Site; features sync, maxProjects=100');

    const own = await cli([
      'licenses',
      'update',
      code,
      '--edition',
      'Site Edu',
      '--feature',
      'maxProjects=5',
      '--feature',
      'edu',
    ]);
    expect(own.code, own.err).toBe(EXIT.ok);
    expect(own.out).toContain('Edition   Site Edu; features sync, maxProjects=5, edu (set on the license)');
    const audit = await t.db.first<{ actor: string; after: string }>(
      "SELECT actor, after FROM audit_log WHERE action = 'entitlement.updated' ORDER BY id DESC LIMIT 1",
    );
    expect(audit?.actor).toBe('cli:alice');
    expect(JSON.parse(audit!.after)).toMatchObject({ edition: 'Site Edu', features: '{"edu":true,"maxProjects":5}' });
    const cleared = await cli(['licenses', 'update', code, '--edition', 'catalog', '--clear-features']);
    expect(cleared.out).toContain('Edition   Site; features sync, maxProjects=100\n');
    expect((await cli(['licenses', 'update', code, '--feature', 'x', '--clear-features'])).code).toBe(
      EXIT.invalidInput,
    );
  });
});
