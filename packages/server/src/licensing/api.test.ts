import { X509Certificate } from 'node:crypto';
import { createServer } from 'node:http';
import {
  type ActivateResponse,
  type AnsweredRequest,
  type CheckInResponse,
  type DevicesResponse,
  decodeLicenseFile,
  devicePublicKeyHash,
  deviceSignatureActivation,
  encodeOfflineRequest,
  LicenseVerifier,
  LicensorError,
  newNonce,
  verifyCertificateChain,
  verifyResponse,
} from '@licensor/shared';
import {
  activationBody,
  alteredDevice,
  deviceHeaders,
  type LicensingTestApp,
  makeApp,
  newDevice,
  seedEntitlement,
  type TestDevice,
} from '@licensor/testkit/licensing';
import { OpenApiCheck } from '@licensor/testkit/openapi';
import request from 'supertest';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newActivationId } from './activate';
import { findActivation } from './activations';
import { freeSeat, issueOfflineResponse, reinstateEntitlement, revokeEntitlement, suspendEntitlement } from './admin';
import { setProductPolicy } from './policy';

let spec: OpenApiCheck;
let t: LicensingTestApp;
const apps: LicensingTestApp[] = [];

beforeAll(async () => {
  spec = await OpenApiCheck.load();
});
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

async function app(opts: Parameters<typeof makeApp>[0] = {}): Promise<LicensingTestApp> {
  t = await makeApp(opts);
  apps.push(t);
  return t;
}

const publicKeyFor = (kid: string) => {
  try {
    return new X509Certificate(t.keys.certificate(kid)).publicKey;
  } catch {
    return undefined;
  }
};

interface Sent {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked against the OpenAPI document
  body: any;
  text: string;
  headers: Record<string, string>;
  nonce: string;
  /** What the answer's signature is bound to. */
  request: AnsweredRequest;
}

/**
 * Sends one request to the real app; asserts that the response conforms to openapi.yaml and carries a valid
 * response signature for the request's nonce.
 */
async function send(
  method: 'GET' | 'POST' | 'DELETE',
  template: string,
  opts: { id?: string; body?: unknown; headers?: Record<string, string>; raw?: string } = {},
): Promise<Sent> {
  const path = `/api/v1${template.replace('{id}', opts.id ?? '')}`;
  const nonce = newNonce();
  const agent = request(t.licensor.app);
  let req = method === 'GET' ? agent.get(path) : method === 'POST' ? agent.post(path) : agent.delete(path);
  req = req.set('licensor-nonce', nonce).set('content-type', 'application/json');
  if (opts.headers) req = req.set(opts.headers);
  const text = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  const res = text === undefined ? await req : await req.send(text);
  expect(
    spec.problems(method, template, res),
    `${method} ${template} → ${res.status} ${res.text.slice(0, 300)}`,
  ).toEqual([]);
  const answered = {
    method,
    path,
    activationId: deviceSignatureActivation(opts.headers?.['licensor-device-signature']),
  };
  verifyResponse({
    header: res.headers['licensor-signature'],
    status: res.status,
    request: answered,
    nonce,
    body: res.text,
    publicKeyFor,
  });
  return {
    status: res.status,
    body: res.body,
    text: res.text,
    headers: res.headers as Record<string, string>,
    nonce,
    request: answered,
  };
}

const activateDevice = (device: TestDevice, code: string, extra: Record<string, unknown> = {}) =>
  send('POST', '/activations', { body: activationBody(device, code, extra) });

async function activated(device: TestDevice, code: string): Promise<ActivateResponse> {
  const res = await activateDevice(device, code);
  expect(res.status, res.text).toBe(200);
  return res.body as ActivateResponse;
}

function checkIn(
  device: TestDevice,
  activationId: string,
  body: object = {},
  opts: { nonce?: string; now?: number } = {},
) {
  const path = `/api/v1/activations/${activationId}/check-in`;
  const text = JSON.stringify(body);
  return send('POST', '/activations/{id}/check-in', {
    id: activationId,
    raw: text,
    headers: deviceHeaders(device, activationId, 'POST', path, text, opts),
  });
}

function deactivateDevice(device: TestDevice, activationId: string) {
  const path = `/api/v1/activations/${activationId}`;
  return send('DELETE', '/activations/{id}', {
    id: activationId,
    raw: '',
    headers: deviceHeaders(device, activationId, 'DELETE', path, ''),
  });
}

const verifier = () => new LicenseVerifier({ roots: [t.keys.rootCertificatePem] });

describe('POST /api/v1/activations', () => {
  it('binds a device and returns a License that verifies against the root and is bound to it', async () => {
    await app();
    const ent = await seedEntitlement(t.db, { seats: 2 });
    const device = newDevice();
    const body = await activated(device, ent.code!);
    expect(body).toMatchObject({
      status: 'VALID',
      reactivated: false,
      entitlement: { id: ent.id, seats: 2, family: 'A' },
    });
    const { payload } = verifier().verify(body.license);
    expect(payload.lid).toBe(body.activationId);
    expect(payload.eid).toBe(ent.id);
    expect(payload.fingerprint).toEqual({ rule: { type: 'allButOne' }, components: device.components });
    expect(payload.deviceKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(payload.status).toBe('active');
    expect(payload.expiresAt).toBe(ent.expires_at);
    expect(Date.parse(payload.refreshBy!)).toBeGreaterThan(Date.now() + 13 * 86_400_000);
    const row = (await findActivation(t.db, body.activationId))!;
    expect(row).toMatchObject({
      status: 'active',
      seat: 0,
      hostname: `host-${device.publicKey.slice(-6)}`,
      platform: 'linux',
    });
    const metrics = await t.licensor.metrics.registry.getSingleMetricAsString('licensor_activations_total');
    expect(metrics).toContain('code="VALID"} 1');
  });

  it('activation and check-in files end while their signing certificate is valid (a key near its end)', async () => {
    await app();
    const current = t.keys.current.bind(t.keys);
    // The signing certificate's end, as if it were 3 days away: files must be clipped to it.
    const end = Date.now() + 3 * 86_400_000;
    t.keys.current = () => ({ ...current(), notAfter: end });
    try {
      const ent = await seedEntitlement(t.db, { seats: 1 });
      const device = newDevice();
      const body = await activated(device, ent.code!);
      const activation = verifier().verify(body.license).payload;
      expect(Date.parse(activation.graceUntil!)).toBeLessThanOrEqual(end);
      expect(Date.parse(activation.refreshBy!)).toBeLessThanOrEqual(end);
      const res = await checkIn(device, body.activationId);
      expect(res.status, res.text).toBe(200);
      const checkedIn = verifier().verify(res.body.license).payload;
      expect(Date.parse(checkedIn.graceUntil!)).toBeLessThanOrEqual(end);
    } finally {
      // The test key store is shared by every app of this file.
      t.keys.current = current;
    }
  });

  it('accepts an LSR code typed in lower case without dashes, and a family-C instance id', async () => {
    await app();
    const ent = await seedEntitlement(t.db);
    await activated(newDevice(), ent.code!.toLowerCase().replace(/-/g, ''));
    const instance = await seedEntitlement(t.db, { family: 'C', code: null });
    const body = await activated(newDevice(), instance.id);
    expect(body.entitlement).toMatchObject({ id: instance.id, family: 'C' });
  });

  it('re-activation of the same device is a no-op that returns a fresh file, also with one changed component', async () => {
    await app();
    const ent = await seedEntitlement(t.db, { seats: 1 });
    const device = newDevice();
    const first = await activated(device, ent.code!);
    const again = await activated(device, ent.code!);
    expect(again).toMatchObject({ activationId: first.activationId, reactivated: true });
    expect(again.license).not.toBe(first.license);

    // New disk and lost client state (new device key): still the same device, never TOO_MANY_DEVICES.
    const upgraded = alteredDevice(device, ['diskSerials']);
    const third = await activated(upgraded, ent.code!);
    expect(third).toMatchObject({ activationId: first.activationId, reactivated: true });
    const { payload } = verifier().verify(third.license);
    expect(payload.fingerprint?.components).toEqual(upgraded.components);
    expect(await t.db.first('SELECT COUNT(*) AS n FROM activations')).toEqual({ n: 1 });

    // The new key was added beside the old one (another install on the same machine keeps working), and each
    // check-in's file names the key that signed it.
    const keyOf = async (d: typeof device) => {
      const res = await checkIn(d, first.activationId);
      expect(res.body.status).toBe('VALID');
      return verifier().verify(res.body.license).payload.deviceKey;
    };
    expect(await keyOf(device)).toBe(devicePublicKeyHash(device.publicKey));
    expect(await keyOf(upgraded)).toBe(devicePublicKeyHash(upgraded.publicKey));
    // A key the activation never bound still cannot act for it.
    expect((await checkIn(newDevice(), first.activationId)).body.error.code).toBe('SIGNATURE_INVALID');

    // Two changed components is another machine under the default rule.
    const other = await activateDevice(alteredDevice(upgraded, ['macs', 'cpu']), ent.code!);
    expect(other.status).toBe(409);
  });

  it('TOO_MANY_DEVICES lists the devices holding the seats (no fingerprints)', async () => {
    await app();
    const ent = await seedEntitlement(t.db, { seats: 2 });
    const a = await activated(newDevice(), ent.code!);
    const b = await activated(newDevice(), ent.code!);
    const res = await activateDevice(newDevice(), ent.code!);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('TOO_MANY_DEVICES');
    expect(res.body.error.message).toMatch(/free/i);
    expect(res.body.error.detail.seats).toBe(2);
    expect(res.body.error.detail.devices.map((d: { id: string }) => d.id).sort()).toEqual(
      [a.activationId, b.activationId].sort(),
    );
    expect(res.body.error.detail.devices[0]).toMatchObject({ label: 'Test machine', platform: 'linux' });
    expect(JSON.stringify(res.body)).not.toContain('fingerprint');
    const metrics = await t.licensor.metrics.registry.getSingleMetricAsString('licensor_activations_total');
    expect(metrics).toContain('code="TOO_MANY_DEVICES"} 1');
  });

  it('binds exactly 3 devices when 30 activate a 3-seat code at once (listening server)', async () => {
    await app({ file: true });
    const ent = await seedEntitlement(t.db, { seats: 3 });
    const server = createServer(t.licensor.app).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const { port } = server.address() as { port: number };
    try {
      const results = await Promise.all(
        Array.from({ length: 30 }, () =>
          fetch(`http://127.0.0.1:${port}/api/v1/activations`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(activationBody(newDevice(), ent.code!)),
          }).then(async (r) => ({ status: r.status, body: (await r.json()) as { error?: { code: string } } })),
        ),
      );
      expect(results.filter((r) => r.status === 200)).toHaveLength(3);
      const refused = results.filter((r) => r.status !== 200);
      expect(refused).toHaveLength(27);
      expect(new Set(refused.map((r) => r.body.error?.code))).toEqual(new Set(['TOO_MANY_DEVICES']));
      expect(
        await t.db.all(`SELECT seat FROM activations WHERE entitlement_id = ? AND status = 'active' ORDER BY seat`, [
          ent.id,
        ]),
      ).toEqual([{ seat: 0 }, { seat: 1 }, { seat: 2 }]);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('names activations act_ + 32 hex digits, ordered by creation time and never repeated', () => {
    const base = new Date('2026-11-28T12:00:00Z');
    const ids = Array.from({ length: 600 }, (_, i) => newActivationId(new Date(base.getTime() + Math.floor(i / 10))));
    for (const id of ids) expect(id).toMatch(/^act_[0-9a-f]{32}$/);
    expect(new Set(ids).size).toBe(ids.length);
    // Later milliseconds sort after earlier ones, so inserts append to the primary-key index.
    const firstOfEachMs = ids.filter((_, i) => i % 10 === 0);
    expect([...firstOfEachMs].sort()).toEqual(firstOfEachMs);
    expect(newActivationId(new Date(base.getTime() + 1)) > newActivationId(base)).toBe(true);
  });

  it('the database itself refuses a second device in the same seat slot', async () => {
    await app();
    const ent = await seedEntitlement(t.db, { seats: 3 });
    const insert = (id: string) =>
      t.db.run(
        `INSERT INTO activations (id, entitlement_id, status, seat, fingerprint, device_public_key, device_key_hash, created_at, last_seen_at)
         VALUES (?, ?, 'active', 0, '{}', 'k', 'h', 'now', 'now')`,
        [id, ent.id],
      );
    await insert('one');
    await expect(insert('two')).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(
      t.db.run(
        `INSERT INTO activations (id, entitlement_id, status, seat, fingerprint, device_public_key, device_key_hash, created_at, last_seen_at)
         VALUES ('three', ?, 'active', NULL, '{}', 'k', 'h', 'now', 'now')`,
        [ent.id],
      ),
    ).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  it.each([
    ['expired', { status: 'expired' }, 403, 'EXPIRED'],
    ['past its expiry date', { expiresAt: new Date(Date.now() - 1000).toISOString() }, 403, 'EXPIRED'],
    ['frozen', { status: 'frozen' }, 403, 'FROZEN'],
    ['revoked', { status: 'revoked' }, 403, 'REVOKED'],
    ['suspended', { status: 'suspended' }, 403, 'SUSPENDED'],
    ['released', { status: 'released' }, 403, 'RELEASED'],
  ] as const)('refuses a license that is %s', async (_name, seed, status, code) => {
    await app();
    const ent = await seedEntitlement(t.db, seed);
    const res = await activateDevice(newDevice(), ent.code!);
    expect(res.status).toBe(status);
    expect(res.body.error.code).toBe(code);
    expect(await t.db.first('SELECT COUNT(*) AS n FROM activations')).toEqual({ n: 0 });
  });

  it('refuses unknown codes, other products, virtual machines and unauthorised users', async () => {
    await app();
    expect((await activateDevice(newDevice(), 'LSR-AAAAA-BBBBB-CCCCC-DDDDD')).body.error.code).toBe('NOT_FOUND');
    const ent = await seedEntitlement(t.db, { productId: 'prod-1', policy: { allowVirtualMachines: false } });
    const mismatch = await activateDevice(newDevice(), ent.code!, { productId: 'prod-2' });
    expect([mismatch.status, mismatch.body.error.code]).toEqual([403, 'PRODUCT_MISMATCH']);
    const vm = await activateDevice(newDevice(), ent.code!, { device: { virtual: true } });
    expect([vm.status, vm.body.error.code]).toEqual([409, 'VM_NOT_ALLOWED']);

    const named = await seedEntitlement(t.db, { policy: { requireNamedUser: true }, seats: 5 });
    await t.db.run(`INSERT INTO authorized_users (entitlement_id, user_id, created_at) VALUES (?, 'alice', 'now')`, [
      named.id,
    ]);
    expect((await activateDevice(newDevice(), named.code!)).body.error.code).toBe('USER_NOT_AUTHORIZED');
    expect((await activateDevice(newDevice(), named.code!, { user: 'mallory' })).body.error.code).toBe(
      'USER_NOT_AUTHORIZED',
    );
    expect((await activateDevice(newDevice(), named.code!, { user: 'alice' })).status).toBe(200);

    // Family C: the users the enterprise authorised through KooGallery's Kit sync.
    const instance = await seedEntitlement(t.db, {
      family: 'C',
      code: null,
      policy: { requireNamedUser: true },
      seats: 5,
    });
    const kitUser = (user: string, enabled: number) =>
      t.db.run(
        `INSERT INTO kit_users (instance_id, tenant_id, user_name, enabled, created_at, updated_at) VALUES (?, 't1', ?, ?, 'now', 'now')`,
        [instance.id, user, enabled],
      );
    await kitUser('carol', 1);
    await kitUser('dave', 0);
    expect((await activateDevice(newDevice(), instance.id, { user: 'carol' })).status).toBe(200);
    expect((await activateDevice(newDevice(), instance.id, { user: 'dave' })).body.error.code).toBe(
      'USER_NOT_AUTHORIZED',
    );
  });

  it('validates input: bad fields, a non-Ed25519 key, malformed JSON, oversized bodies', async () => {
    await app();
    const ent = await seedEntitlement(t.db);
    const missing = await send('POST', '/activations', { body: { code: ent.code } });
    expect([missing.status, missing.body.error.code]).toEqual([400, 'INVALID_INPUT']);
    expect(missing.body.error.message).toContain('fingerprint');
    const extra = await send('POST', '/activations', {
      body: { ...activationBody(newDevice(), ent.code!), admin: true },
    });
    expect(extra.status).toBe(400);
    const rsa = await send('POST', '/activations', {
      body: activationBody({ ...newDevice(), publicKey: 'A'.repeat(60) }, ent.code!),
    });
    expect([rsa.status, rsa.body.error.code]).toEqual([400, 'INVALID_INPUT']);
    const malformed = await send('POST', '/activations', { raw: '{"code": "LSR-' });
    expect([malformed.status, malformed.body.error.code]).toEqual([400, 'INVALID_INPUT']);
    expect(malformed.body.error.message).toMatch(/not valid JSON/);
    const huge = await send('POST', '/activations', { raw: JSON.stringify({ code: 'x'.repeat(70 * 1024) }) });
    expect([huge.status, huge.body.error.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    const badKg = await activateDevice(newDevice(), ent.code!, {
      fingerprint: { components: newDevice().components, koogallery: 'not a fingerprint' },
    });
    expect(badKg.body.error.code).toBe('INVALID_INPUT');
    expect(await t.db.first('SELECT COUNT(*) AS n FROM activations')).toEqual({ n: 0 });
  });

  it('stores the KooGallery fingerprint in its normalised form', async () => {
    await app();
    const plain = await activated(newDevice(), (await seedEntitlement(t.db)).code!);
    expect((await findActivation(t.db, plain.activationId))!.koogallery_fingerprint).toBeNull();
    const kg = await activateDevice(newDevice(), (await seedEntitlement(t.db)).code!, {
      fingerprint: { components: newDevice().components, koogallery: 'fa-16-3e-00-00-01|disk-1| board-1|cpu-1' },
    });
    expect(kg.status, kg.text).toBe(200);
    expect((await findActivation(t.db, kg.body.activationId))!.koogallery_fingerprint).toBe(
      'FA-16-3E-00-00-01|DISK-1|BOARD-1|CPU-1',
    );
  });

  it('applies product policy defaults under the entitlement overrides', async () => {
    await app();
    await setProductPolicy(t.db, 'prod-9', { maxDevices: 1, checkInIntervalHours: 6 }, 'test');
    const ent = await seedEntitlement(t.db, { productId: 'prod-9', seats: 5 });
    const res = await activated(newDevice(), ent.code!);
    expect(res.checkInIntervalSeconds).toBe(6 * 3600);
    expect(res.entitlement.seats).toBe(1);
    expect((await activateDevice(newDevice(), ent.code!)).body.error.code).toBe('TOO_MANY_DEVICES');
    const own = await seedEntitlement(t.db, { productId: 'prod-9', seats: 5, policy: { maxDevices: 2 } });
    await activated(newDevice(), own.code!);
    await activated(newDevice(), own.code!);
    expect((await activateDevice(newDevice(), own.code!)).status).toBe(409);
    await expect(setProductPolicy(t.db, 'prod-9', { maxDevices: -1 } as never, 'test')).rejects.toThrow(/maxDevices/);
  });
});

describe('POST /api/v1/activations/:id/check-in', () => {
  it('answers VALID with a fresh file and records last seen and app version', async () => {
    let clock = Date.now();
    await app({ now: () => new Date(clock) });
    const ent = await seedEntitlement(t.db);
    const device = newDevice();
    const act = await activated(device, ent.code!);
    clock += 3600_000;
    const res = await checkIn(device, act.activationId, { appVersion: '2.1.0' }, { now: clock });
    expect(res.status).toBe(200);
    const body = res.body as CheckInResponse;
    expect(body).toMatchObject({ status: 'VALID', entitlement: { id: ent.id } });
    const before = verifier().verify(act.license).payload;
    const after = verifier().verify(body.license!).payload;
    expect(Date.parse(after.refreshBy!) - Date.parse(before.refreshBy!)).toBe(3600_000);
    expect(after.lid).toBe(act.activationId);
    expect(await findActivation(t.db, act.activationId)).toMatchObject({
      app_version: '2.1.0',
      last_seen_at: new Date(clock).toISOString(),
    });
  });

  it('refuses absent, malformed, wrong-key, other-activation, stale and replayed signatures', async () => {
    await app();
    const ent = await seedEntitlement(t.db, { seats: 2 });
    const device = newDevice();
    const act = await activated(device, ent.code!);
    const other = await activated(newDevice(), ent.code!);
    const path = `/api/v1/activations/${act.activationId}/check-in`;

    const absent = await send('POST', '/activations/{id}/check-in', { id: act.activationId, raw: '{}' });
    expect([absent.status, absent.body.error.code]).toEqual([401, 'UNAUTHORIZED']);
    const garbage = await send('POST', '/activations/{id}/check-in', {
      id: act.activationId,
      raw: '{}',
      headers: { 'licensor-device-signature': 'activation=x, sig=y' },
    });
    expect([garbage.status, garbage.body.error.code]).toEqual([401, 'UNAUTHORIZED']);
    const wrongKey = await checkIn(newDevice(), act.activationId);
    expect([wrongKey.status, wrongKey.body.error.code]).toEqual([401, 'SIGNATURE_INVALID']);
    const crossed = await send('POST', '/activations/{id}/check-in', {
      id: act.activationId,
      raw: '{}',
      headers: deviceHeaders(device, other.activationId, 'POST', path, '{}'),
    });
    expect([crossed.status, crossed.body.error.code]).toEqual([401, 'SIGNATURE_INVALID']);
    const tampered = await send('POST', '/activations/{id}/check-in', {
      id: act.activationId,
      raw: '{"appVersion":"9"}',
      headers: deviceHeaders(device, act.activationId, 'POST', path, '{}'),
    });
    expect([tampered.status, tampered.body.error.code]).toEqual([401, 'SIGNATURE_INVALID']);
    const stale = await checkIn(device, act.activationId, {}, { now: Date.now() - 6 * 60_000 });
    expect([stale.status, stale.body.error.code]).toEqual([401, 'REPLAYED']);

    // A replay is the captured request byte for byte: same signed timestamp, same nonce.
    const captured = { nonce: newNonce(), now: Date.now() };
    expect((await checkIn(device, act.activationId, {}, captured)).body.status).toBe('VALID');
    const replay = await checkIn(device, act.activationId, {}, captured);
    expect([replay.status, replay.body.error.code]).toEqual([401, 'REPLAYED']);
    expect(await t.db.first('SELECT COUNT(*) AS n FROM device_nonces')).toEqual({ n: 1 });
  });

  it('revoke → REVOKED without a file; suspend → SUSPENDED with a suspended file; reinstate → VALID', async () => {
    await app();
    const ent = await seedEntitlement(t.db);
    const device = newDevice();
    const act = await activated(device, ent.code!);

    await suspendEntitlement(t.licensor.ctx, ent.code!, 'admin:test', { reason: 'dispute' });
    const suspended = (await checkIn(device, act.activationId)).body as CheckInResponse;
    expect(suspended.status).toBe('SUSPENDED');
    expect(verifier().verify(suspended.license!).payload.status).toBe('suspended');
    // A signed verdict record, bound to this activation and timestamped no earlier than the suspended file.
    const suspendedVerdict = verifier().verifyVerdict(suspended.verdict!).payload;
    expect(suspendedVerdict).toMatchObject({ lid: act.activationId, eid: ent.id, code: 'SUSPENDED' });
    expect(suspendedVerdict.issuedAt).toBe(verifier().verify(suspended.license!).payload.issuedAt);
    await reinstateEntitlement(t.licensor.ctx, ent.id, 'admin:test');
    const reinstated = (await checkIn(device, act.activationId)).body as CheckInResponse;
    expect([reinstated.status, reinstated.verdict]).toEqual(['VALID', undefined]);

    await revokeEntitlement(t.licensor.ctx, ent.id, 'admin:test');
    const revoked = (await checkIn(device, act.activationId)).body as CheckInResponse;
    expect(revoked.status).toBe('REVOKED');
    expect(revoked.license).toBeUndefined();
    expect(revoked.message).toMatch(/revoked/);
    const record = verifier().verifyVerdict(revoked.verdict!);
    expect(record.payload).toMatchObject({ v: 1, lid: act.activationId, eid: ent.id, code: 'REVOKED' });
    expect(record.payload.message).toBe(revoked.message);
    expect(Date.parse(record.payload.issuedAt)).toBeGreaterThanOrEqual(Date.parse(reinstated.serverTime));
    // Domain-separated: the record is not a License file, and a License file is not a record.
    expect(() => verifier().verify(revoked.verdict!)).toThrow(LicensorError);
    expect(() => verifier().verifyVerdict(reinstated.license!)).toThrow(LicensorError);
  });

  it('freeze → FROZEN with a frozen file, unfreeze → VALID; release → RELEASED without a file', async () => {
    await app();
    const ent = await seedEntitlement(t.db, { family: 'B' });
    const device = newDevice();
    const act = await activated(device, ent.code!);
    await t.db.run(`UPDATE entitlements SET status = 'frozen' WHERE id = ?`, [ent.id]);
    const frozen = (await checkIn(device, act.activationId)).body as CheckInResponse;
    expect(frozen.status).toBe('FROZEN');
    expect(verifier().verify(frozen.license!).payload.status).toBe('frozen');
    await t.db.run(`UPDATE entitlements SET status = 'active' WHERE id = ?`, [ent.id]);
    const valid = (await checkIn(device, act.activationId)).body as CheckInResponse;
    expect(valid.status).toBe('VALID');
    expect(verifier().verify(valid.license!).payload.status).toBe('active');
    await t.db.run(`UPDATE entitlements SET status = 'released' WHERE id = ?`, [ent.id]);
    const released = (await checkIn(device, act.activationId)).body as CheckInResponse;
    expect([released.status, released.license]).toEqual(['RELEASED', undefined]);
    // Family-B usage is counted per device and day, on activation and valid check-ins.
    expect(await t.db.all('SELECT code, device FROM code_usage')).toEqual([
      { code: ent.code, device: act.activationId },
    ]);
  });

  it('a renewal reaches the next file; a passed expiry date answers EXPIRED with an expired file', async () => {
    await app();
    const ent = await seedEntitlement(t.db);
    const device = newDevice();
    const act = await activated(device, ent.code!);
    const renewed = new Date(Date.now() + 2 * 365 * 86_400_000).toISOString();
    await t.db.run('UPDATE entitlements SET expires_at = ? WHERE id = ?', [renewed, ent.id]);
    const res = (await checkIn(device, act.activationId)).body as CheckInResponse;
    expect(res.entitlement?.expiresAt).toBe(renewed);
    expect(verifier().verify(res.license!).payload.expiresAt).toBe(renewed);

    const past = new Date(Date.now() - 60_000).toISOString();
    await t.db.run('UPDATE entitlements SET expires_at = ? WHERE id = ?', [past, ent.id]);
    const expired = (await checkIn(device, act.activationId)).body as CheckInResponse;
    expect(expired.status).toBe('EXPIRED');
    expect(verifier().verify(expired.license!).payload).toMatchObject({ status: 'expired', expiresAt: past });
  });

  it('a changed machine is FINGERPRINT_MISMATCH; gradual drift is followed', async () => {
    await app();
    const ent = await seedEntitlement(t.db);
    const device = newDevice();
    const act = await activated(device, ent.code!);
    const drifted = alteredDevice(device, ['macs']).components;
    const ok = (await checkIn(device, act.activationId, { fingerprint: { components: drifted } }))
      .body as CheckInResponse;
    expect(ok.status).toBe('VALID');
    expect(verifier().verify(ok.license!).payload.fingerprint?.components).toEqual(drifted);
    const foreign = (await checkIn(device, act.activationId, { fingerprint: { components: newDevice().components } }))
      .body as CheckInResponse;
    expect([foreign.status, foreign.license]).toEqual(['FINGERPRINT_MISMATCH', undefined]);
  });

  it('unknown activations and freed seats answer NOT_FOUND', async () => {
    await app();
    const ent = await seedEntitlement(t.db);
    const device = newDevice();
    const act = await activated(device, ent.code!);
    const unknown = (await checkIn(device, 'act_unknown')).body as CheckInResponse;
    expect([unknown.status, unknown.license]).toEqual(['NOT_FOUND', undefined]);
    await freeSeat(t.licensor.ctx, act.activationId, 'admin:test');
    const freed = (await checkIn(device, act.activationId)).body as CheckInResponse;
    expect([freed.status, freed.license]).toEqual(['NOT_FOUND', undefined]);
    expect(freed.message).toMatch(/Activate again/);
  });
});

describe('DELETE /api/v1/activations/:id', () => {
  it('frees the seat, is idempotent, and needs the device signature', async () => {
    await app();
    const ent = await seedEntitlement(t.db, { seats: 1 });
    const device = newDevice();
    const act = await activated(device, ent.code!);
    expect((await send('DELETE', '/activations/{id}', { id: act.activationId })).status).toBe(401);
    const first = await deactivateDevice(device, act.activationId);
    expect([first.status, first.body]).toEqual([200, { released: true }]);
    const second = await deactivateDevice(device, act.activationId);
    expect([second.status, second.body]).toEqual([200, { released: true }]);
    expect((await checkIn(device, act.activationId)).body.status).toBe('NOT_FOUND');
    await activated(newDevice(), ent.code!);
    expect((await deactivateDevice(device, 'act_nope')).status).toBe(404);
  });
});

describe('seats', () => {
  it('lists devices and frees them within the transfer limit, then TRANSFER_LIMIT_REACHED', async () => {
    const start = Date.now();
    let clock = start;
    await app({ now: () => new Date(clock), config: { apiRateLimit: 0 } });
    const ent = await seedEntitlement(t.db, { seats: 2, policy: { transferLimit: { count: 2, periodDays: 30 } } });
    const lost = newDevice();
    const a = await activated(lost, ent.code!);
    const b = await activated(newDevice(), ent.code!);
    const list = await send('POST', '/seats/devices', { body: { code: ent.code } });
    const devices = list.body as DevicesResponse;
    expect(devices.seats).toBe(2);
    expect(devices.devices.map((d) => d.id).sort()).toEqual([a.activationId, b.activationId].sort());
    expect(devices.transfers).toEqual({ used: 0, limit: 2, periodDays: 30 });
    expect(JSON.stringify(devices)).not.toMatch(/fingerprint|components/);

    expect((await send('POST', '/seats/devices', { body: { code: 'LSR-NOPE' } })).status).toBe(404);
    const wrongCode = await send('POST', '/seats/devices/{id}/release', {
      id: a.activationId,
      body: { code: (await seedEntitlement(t.db)).code },
    });
    expect(wrongCode.status).toBe(404);

    // The holder frees the lost device from another one; the lost device is told at its next check-in.
    const freed = await send('POST', '/seats/devices/{id}/release', { id: a.activationId, body: { code: ent.code } });
    expect(freed.status).toBe(200);
    expect(freed.body).toMatchObject({ released: true, transfers: { used: 1 }, devices: [{ id: b.activationId }] });
    const again = await send('POST', '/seats/devices/{id}/release', { id: a.activationId, body: { code: ent.code } });
    expect(again.body).toMatchObject({ released: false, transfers: { used: 1 } });
    expect((await checkIn(lost, a.activationId, {}, { now: clock })).body.status).toBe('NOT_FOUND');

    clock += 86_400_000;
    const c = await activated(newDevice(), ent.code!);
    expect(
      (await send('POST', '/seats/devices/{id}/release', { id: c.activationId, body: { code: ent.code } })).status,
    ).toBe(200);
    const d = await activated(newDevice(), ent.code!);
    const limited = await send('POST', '/seats/devices/{id}/release', { id: d.activationId, body: { code: ent.code } });
    expect(limited.status).toBe(409);
    expect(limited.body.error).toMatchObject({
      code: 'TRANSFER_LIMIT_REACHED',
      detail: { limit: 2, periodDays: 30, nextAvailableAt: new Date(start + 30 * 86_400_000).toISOString() },
    });
    // After the window the first transfer no longer counts.
    clock = start + 30 * 86_400_000 + 1000;
    expect(
      (await send('POST', '/seats/devices/{id}/release', { id: d.activationId, body: { code: ent.code } })).status,
    ).toBe(200);
  });
});

describe('floating seats', () => {
  it('are leases: an expired lease frees the seat, and its device takes one again when free', async () => {
    let clock = Date.now();
    await app({ now: () => new Date(clock) });
    const ent = await seedEntitlement(t.db, { seats: 1, policy: { mode: 'floating', leaseMinutes: 10 } });
    const first = newDevice();
    const a = await activated(first, ent.code!);
    expect(a.checkInIntervalSeconds).toBe(200);
    const file = verifier().verify(a.license).payload;
    expect(Date.parse(file.refreshBy!) - Date.parse(file.issuedAt)).toBe(10 * 60_000);
    expect((await activateDevice(newDevice(), ent.code!)).status).toBe(409);
    clock += 5 * 60_000;
    expect((await checkIn(first, a.activationId, {}, { now: clock })).body.status).toBe('VALID');
    clock += 9 * 60_000; // renewed lease still running
    expect((await activateDevice(newDevice(), ent.code!)).status).toBe(409);
    clock += 2 * 60_000; // lapsed
    const second = newDevice();
    const b = await activated(second, ent.code!);
    expect((await findActivation(t.db, a.activationId))!.status).toBe('lapsed');
    expect((await checkIn(first, a.activationId, {}, { now: clock })).body.status).toBe('TOO_MANY_DEVICES');
    clock += 11 * 60_000;
    const back = (await checkIn(first, a.activationId, {}, { now: clock })).body as CheckInResponse;
    expect(back.status).toBe('VALID');
    expect((await findActivation(t.db, a.activationId))!.status).toBe('active');
    expect((await findActivation(t.db, b.activationId))!.status).toBe('lapsed');
  });
});

describe('offline activation', () => {
  it('issueOfflineResponse verifies the request and returns a License bound to its fingerprint', async () => {
    await app();
    const ent = await seedEntitlement(t.db, { seats: 1 });
    const device = newDevice();
    const requestText = encodeOfflineRequest(
      {
        v: 1,
        createdAt: new Date().toISOString(),
        nonce: newNonce(),
        ...activationBody(device, ent.code!),
        device: { hostname: 'air-gapped' },
      },
      device.privateKey,
    );
    const license = await issueOfflineResponse(t.licensor.ctx, requestText, 'admin:test');
    const { payload } = verifier().verify(license);
    expect(payload.fingerprint).toEqual({ rule: { type: 'allButOne' }, components: device.components });
    expect(payload).toMatchObject({ eid: ent.id, refreshBy: null, graceUntil: null, status: 'active' });
    expect(await findActivation(t.db, payload.lid)).toMatchObject({
      offline: 1,
      hostname: 'air-gapped',
      status: 'active',
    });
    // The same request again is the same device; a second device finds the seat taken.
    expect(verifier().verify(await issueOfflineResponse(t.licensor.ctx, requestText, 'admin:test')).payload.lid).toBe(
      payload.lid,
    );
    // An edited request (here: another hostname) no longer matches the device's signature.
    const b64 = requestText
      .split('\n')
      .filter((l) => !l.startsWith('-----'))
      .join('');
    const envelope = JSON.parse(Buffer.from(b64, 'base64').toString('utf8'));
    envelope.request = envelope.request.replace('air-gapped', 'air-gapped-2');
    const edited = `-----BEGIN LICENSOR ACTIVATION REQUEST-----\n${Buffer.from(JSON.stringify(envelope)).toString('base64')}\n-----END LICENSOR ACTIVATION REQUEST-----\n`;
    await expect(issueOfflineResponse(t.licensor.ctx, edited, 'x')).rejects.toMatchObject({
      code: 'FILE_SIGNATURE_INVALID',
    });
    await expect(issueOfflineResponse(t.licensor.ctx, 'hello', 'x')).rejects.toBeInstanceOf(LicensorError);
    expect((await activateDevice(newDevice(), ent.code!)).body.error.code).toBe('TOO_MANY_DEVICES');
    expect(decodeLicenseFile(license).payload.deviceKey).toBe(
      (await findActivation(t.db, payload.lid))!.device_key_hash,
    );
  });
});

describe('response signatures and keys', () => {
  it('GET /keys lists certificates that chain to the root; responses are signed by the current one', async () => {
    await app();
    const res = await send('GET', '/keys');
    expect(res.body.current).toBe(t.keys.current().keyId);
    for (const k of res.body.signing as { certificatePem: string }[]) {
      expect(() => verifyCertificateChain([k.certificatePem], [t.keys.rootCertificatePem], new Date())).not.toThrow();
    }
    expect(res.headers['licensor-signature']).toContain(`kid=${t.keys.current().keyId}`);
  });

  it('a replayed signed response is rejected by verifyResponse', async () => {
    await app();
    const res = await send('GET', '/keys');
    const header = res.headers['licensor-signature'];
    // Replayed as the answer to another request (another nonce)…
    expect(() =>
      verifyResponse({
        header,
        status: res.status,
        request: res.request,
        nonce: newNonce(),
        body: res.text,
        publicKeyFor,
      }),
    ).toThrow(expect.objectContaining({ code: 'RESPONSE_INVALID' }));
    // …or later, for the same nonce, outside the window.
    expect(() =>
      verifyResponse({
        header,
        status: res.status,
        request: res.request,
        nonce: res.nonce,
        body: res.text,
        publicKeyFor,
        now: Date.now() + 6 * 60_000,
      }),
    ).toThrow(expect.objectContaining({ code: 'REPLAYED' }));
    // A changed status or body fails too.
    expect(() =>
      verifyResponse({ header, status: 500, request: res.request, nonce: res.nonce, body: res.text, publicKeyFor }),
    ).toThrow();
    expect(() =>
      verifyResponse({
        header,
        status: res.status,
        request: res.request,
        nonce: res.nonce,
        body: `${res.text} `,
        publicKeyFor,
      }),
    ).toThrow();
  });

  it('errors and unknown endpoints are signed JSON too', async () => {
    await app();
    const nonce = newNonce();
    const res = await request(t.licensor.app).get('/api/v1/nope').set('licensor-nonce', nonce);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('NOT_FOUND');
    expect(
      verifyResponse({
        header: res.headers['licensor-signature'],
        status: 404,
        request: { method: 'GET', path: '/api/v1/nope' },
        nonce,
        body: res.text,
        publicKeyFor,
      }),
    ).toMatchObject({ keyId: t.keys.current().keyId });
  });
});

describe('rate limits', () => {
  it('answer 429 with Retry-After and the JSON error shape, per code and per address', async () => {
    // 48/min per address; activations 24/min per code; seat endpoints 4/min per address and 2/min per code.
    await app({ config: { apiRateLimit: 48 } });
    const ent = await seedEntitlement(t.db, { seats: 50 });
    const other = await seedEntitlement(t.db, { seats: 50 });
    const seats = async (code: string) => (await send('POST', '/seats/devices', { body: { code } })).status;
    expect([await seats(ent.code!), await seats(ent.code!)]).toEqual([200, 200]);
    const limited = await send('POST', '/seats/devices', { body: { code: ent.code } });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('RATE_LIMITED');
    expect(limited.body.error.message).toMatch(/license code/);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.body.error.detail.retryAfterSeconds).toBeGreaterThan(0);
    expect([await seats(other.code!), await seats(other.code!)]).toEqual([200, 429]); // the address's 4 are used

    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) statuses.push((await activateDevice(newDevice(), ent.code!)).status);
    expect(statuses.slice(0, 24).every((s) => s === 200)).toBe(true);
    expect(statuses[24]).toBe(429);
    // 30 requests so far from this address; the 49th is refused whatever the code.
    const more: number[] = [];
    for (let i = 0; i < 19; i++) more.push((await activateDevice(newDevice(), other.code!)).status);
    expect(more.slice(0, 18).every((s) => s === 200)).toBe(true);
    const last = await activateDevice(newDevice(), other.code!);
    expect(last.status).toBe(429);
    expect(last.body.error.message).toMatch(/address/);
  });
});
