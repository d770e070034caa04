import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeLicenseFile, decodeOfflineRequest, devicePublicKeyHash, signLicense } from '@licensor/shared';
import {
  clock,
  DAY,
  FakeServer,
  machine,
  manualTimers,
  otherPki,
  PRODUCT,
  payloadFor,
  pki,
  rejects,
  tempDir,
} from '@licensor/testkit/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashedFingerprint, type MachineFingerprint } from './fingerprint';
import { LicenseManager, type LicenseManagerOptions } from './manager';
import type { SecretStore } from './store';
import { stateFileName } from './store';

const CODE = 'PLTESTCODE0001';
const HOUR = 3_600_000;

let server: FakeServer;
const cleanups: (() => void)[] = [];
let c: ReturnType<typeof clock>;

beforeEach(async () => {
  c = clock(Date.now());
  server = await new FakeServer().start();
  server.now = c;
  server.codes.set(CODE, { status: 'active', seats: 1, expiresAt: null });
});

afterEach(async () => {
  await server.close();
  for (const fn of cleanups.splice(0)) fn();
});

function device(opts: Partial<LicenseManagerOptions> & { fp?: MachineFingerprint } = {}) {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const fp = opts.fp ?? machine();
  const make = (extra: Partial<LicenseManagerOptions> = {}) =>
    new LicenseManager({
      productId: PRODUCT,
      roots: [pki().rootPem],
      serverUrl: server.url,
      dataDir: dir,
      fingerprint: () => fp,
      now: c,
      appVersion: '1.2.3',
      device: { label: 'Test laptop' },
      ...opts,
      ...extra,
    });
  return { dir, make, manager: make() };
}

const state = (dir: string) => JSON.parse(readFileSync(join(dir, stateFileName(PRODUCT)), 'utf8'));

describe('activation', () => {
  it('activates, stores a verified file bound to this device, and verifies offline after a restart', async () => {
    const d = device();
    const s = await d.manager.activate(' pltestcode0001 ');
    expect(s).toMatchObject({ valid: true, code: 'VALID', license: { entitlementId: CODE, deviceKeyBound: true } });
    const [activation] = [...server.activations.values()];
    expect(activation).toMatchObject({ code: CODE, label: 'Test laptop' });
    expect(activation!.components).toEqual(hashedFingerprint(machine(), PRODUCT));
    // The key pair stays local: only the public key went out, the private key is sealed in the state.
    const body = state(d.dir).body;
    expect(body.device.publicKey).toBe(activation!.spki);
    expect(body.device.sealed).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(JSON.stringify(body)).not.toContain('PRIVATE KEY');
    expect(decodeLicenseFile(body.license).payload.deviceKey).toBe(devicePublicKeyHash(activation!.spki));

    await server.close(); // offline from here on
    const restarted = await d.make().verify();
    expect(restarted).toMatchObject({ valid: true, code: 'VALID', detail: { activationId: activation!.id } });
  });

  it('fetches signing certificates once, then verifies responses with the stored chain', async () => {
    const d = device();
    await d.manager.activate(CODE);
    expect(server.requests.map((r) => r.path)).toEqual(['/api/v1/activations', '/api/v1/keys']);
    server.requests.length = 0;
    await d.make().checkIn();
    expect(server.requests.map((r) => r.path)).toEqual([expect.stringMatching(/check-in$/)]);
  });

  it('re-activation with the same code is a no-op that keeps the device key', async () => {
    const d = device();
    await d.manager.activate(CODE);
    const key = state(d.dir).body.device.publicKey;
    const again = await d.make().activate(CODE);
    expect(again.code).toBe('VALID');
    expect(server.activations.size).toBe(1);
    expect(state(d.dir).body.device.publicKey).toBe(key);
  });

  it('reports TOO_MANY_DEVICES with the devices, and frees a lost seat', async () => {
    const first = device();
    await first.manager.activate(CODE);
    const second = device({
      fp: machine({ machineId: 'aa'.repeat(16), hardwareUuid: 'other-uuid-1234', macs: ['00:11:22:33:44:55'] }),
    });
    const err = await rejects(second.manager.activate(CODE));
    expect(err.code).toBe('TOO_MANY_DEVICES');
    expect(err.detail?.devices).toEqual([expect.objectContaining({ label: 'Test laptop' })]);
    expect((await second.manager.verify()).code).toBe('NO_LICENSE');

    const list = await second.manager.listSeatDevices(CODE);
    expect(list).toMatchObject({ seats: 1, devices: [{ label: 'Test laptop' }] });
    await second.manager.releaseSeatDevice(CODE, list.devices[0]!.id);
    expect((await second.manager.activate(CODE)).code).toBe('VALID');

    // The freed machine learns it at its next check-in and locks.
    const r = await first.manager.checkIn();
    expect(r).toMatchObject({ online: true, serverStatus: 'NOT_FOUND', status: { valid: false, code: 'NOT_FOUND' } });
    expect((await first.make().verify()).code).toBe('NOT_FOUND');
  });

  it('passes server refusals through as typed errors and stores nothing', async () => {
    const d = device();
    expect((await rejects(d.manager.activate('PLUNKNOWN'))).code).toBe('NOT_FOUND');
    server.codes.set(CODE, { status: 'frozen', seats: 1, expiresAt: null });
    expect((await rejects(d.manager.activate(CODE))).code).toBe('FROZEN');
    expect((await rejects(d.manager.activate('   '))).code).toBe('INVALID_INPUT');
    expect((await d.manager.verify()).code).toBe('NO_LICENSE');
  });

  it('refuses to activate a machine without any readable component', async () => {
    const d = device({
      fp: machine({ machineId: '', hardwareUuid: '', baseboardSerial: '', cpu: '', diskSerials: [], macs: [] }),
    });
    const err = await rejects(d.manager.activate(CODE));
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toMatch(/No hardware component/);
    expect(server.requests).toEqual([]);
  });
});

describe('response authenticity', () => {
  it('rejects responses signed by a key outside the pinned root', async () => {
    server.rogueSigner = otherPki().signer;
    const d = device();
    const err = await rejects(d.manager.activate(CODE));
    expect(err.code).toBe('RESPONSE_INVALID');
    expect((await d.manager.verify()).code).toBe('NO_LICENSE');
  });

  it('rejects a changed body, a replayed (other nonce) and a stale response', async () => {
    const d = device();
    await d.manager.activate(CODE);
    server.tamperBody = true;
    expect((await d.manager.checkIn()).error?.code).toBe('RESPONSE_INVALID');
    server.tamperBody = false;
    server.wrongNonce = true;
    expect((await d.manager.checkIn()).error?.code).toBe('RESPONSE_INVALID');
    server.wrongNonce = false;
    server.signatureSkewMs = -6 * 60_000;
    expect((await d.manager.checkIn()).error).toMatchObject({ code: 'REPLAYED' });
    server.signatureSkewMs = 0;
    expect((await d.manager.checkIn()).online).toBe(true);
  });

  it('maps unsigned gateway errors to SERVER_UNREACHABLE and other unsigned answers to RESPONSE_INVALID', async () => {
    const d = device();
    server.unsignedStatus = 502;
    const e1 = await rejects(d.manager.activate(CODE));
    expect(e1).toMatchObject({ code: 'SERVER_UNREACHABLE', retryable: true });
    server.unsignedStatus = 404;
    expect((await rejects(d.manager.activate(CODE))).code).toBe('RESPONSE_INVALID');
  });

  it('reports a closed port as SERVER_UNREACHABLE (retryable)', async () => {
    const d = device();
    await server.close();
    const err = await rejects(d.manager.activate(CODE));
    expect(err).toMatchObject({ code: 'SERVER_UNREACHABLE', retryable: true });
    expect(err.message).toMatch(/Cannot reach the license server/);
  });
});

describe('check-in', () => {
  it('refreshes the file, then applies FROZEN, unfreeze and REVOKED verdicts', async () => {
    const d = device();
    await d.manager.activate(CODE);
    const firstIssued = decodeLicenseFile(state(d.dir).body.license).payload.issuedAt;
    c.advance(DAY);
    const ok = await d.manager.checkIn();
    expect(ok).toMatchObject({ online: true, serverStatus: 'VALID', status: { code: 'VALID' } });
    expect(decodeLicenseFile(state(d.dir).body.license).payload.issuedAt > firstIssued).toBe(true);

    server.codes.get(CODE)!.status = 'frozen';
    expect((await d.manager.checkIn()).status.code).toBe('FROZEN');
    expect((await d.make().verify()).code).toBe('FROZEN');

    server.codes.get(CODE)!.status = 'active';
    expect((await d.manager.checkIn()).status.code).toBe('VALID');

    server.codes.get(CODE)!.status = 'revoked'; // no file comes back: the verdict itself locks
    const revoked = await d.manager.checkIn();
    expect(revoked.status).toMatchObject({ code: 'REVOKED', detail: { serverMessage: 'The license is revoked' } });
    expect((await d.make().verify()).code).toBe('REVOKED');
  });

  it('keeps working offline inside grace when the server is unreachable, then stops', async () => {
    const d = device();
    await d.manager.activate(CODE);
    await server.close();
    c.advance(2 * DAY);
    const r = await d.manager.checkIn();
    expect(r).toMatchObject({ online: false, status: { valid: true, code: 'VALID' } });
    expect(r.error).toMatchObject({ code: 'SERVER_UNREACHABLE', retryable: true });

    c.advance(13 * DAY); // past refreshBy (14 d), inside grace (21 d)
    const grace = await d.manager.checkIn();
    expect(grace.status).toMatchObject({ valid: true, code: 'VALID', detail: { graceDaysLeft: 6 } });
    expect(grace.status.detail.warning).toMatch(/refreshed online/);

    c.advance(7 * DAY);
    expect((await d.manager.checkIn()).status.code).toBe('GRACE_PERIOD_OVER');
  });

  it('lets a verified check-in repair a high-water mark poisoned by a clock that ran ahead', async () => {
    const d = device({ rollbackToleranceMs: HOUR });
    await d.manager.activate(CODE);
    const real = c();
    c.set(real + 365 * DAY); // the clock jumps a year ahead once (dead CMOS battery, wrong manual setting)
    await d.manager.verify();
    c.set(real);
    expect((await d.manager.verify()).code).toBe('TIME_MODIFIED');
    const r = await d.manager.checkIn();
    expect(r.online).toBe(true);
    expect(r.status.code).toBe('VALID');
  });

  it('signs check-ins with the device key: another activation id is refused by the server', async () => {
    const d = device();
    await d.manager.activate(CODE);
    const other = device({
      fp: machine({ machineId: 'bb'.repeat(16), macs: ['00:11:22:33:44:66'], hardwareUuid: 'x-uuid-0001' }),
    });
    server.codes.get(CODE)!.seats = 2;
    await other.manager.activate(CODE);
    const [a1] = [...server.activations.keys()];
    // Point the second device's state at the first activation: its key cannot sign for it.
    const { StateStore } = await import('./store');
    const store = new StateStore({ dataDir: other.dir, productId: PRODUCT });
    const fp = await other.manager.fingerprint();
    const loaded = store.load(fp);
    if (loaded.kind !== 'ok') throw new Error('state should load');
    store.save({ ...loaded.body, activationId: a1 }, fp);
    const r = await other.make().checkIn();
    expect(r.online).toBe(false);
    expect(r.error?.code).toBe('SIGNATURE_INVALID');
  });

  it('keeps the device key in a secret store when one is given', async () => {
    const secrets = new Map<string, string>();
    const secretStore: SecretStore = {
      get: (k) => secrets.get(k),
      set: (k, v) => void secrets.set(k, v),
      delete: (k) => void secrets.delete(k),
    };
    const d = device({ secretStore });
    await d.manager.activate(CODE);
    // The device key, and the anti-rollback anchor of the state.
    expect([...secrets.keys()].map((k) => k.split(':')[2])).toEqual(['device-key', 'anchor']);
    expect(state(d.dir).body.device).toMatchObject({ inSecretStore: true });
    expect(state(d.dir).body.device.sealed).toBeUndefined();
    expect((await d.make().checkIn()).online).toBe(true);

    secrets.clear(); // the OS keychain lost it
    const r = await d.make().checkIn();
    expect(r).toMatchObject({ online: false, error: { code: 'KEY_NOT_FOUND' }, status: { code: 'VALID' } });
  });
});

describe('deactivation and offline activation', () => {
  it('deactivates: frees the seat on the server and forgets the local license', async () => {
    const d = device();
    await d.manager.activate(CODE);
    const statuses: string[] = [];
    d.manager.on('status', (s) => statuses.push(s.code));
    await d.manager.deactivate();
    expect(server.activations.size).toBe(0);
    expect(statuses).toEqual(['NO_LICENSE']);
    expect((await d.make().verify()).code).toBe('NO_LICENSE');
    expect((await rejects(d.manager.deactivate())).code).toBe('NO_LICENSE');
    // The seat is free for another machine.
    const other = device({
      fp: machine({ machineId: 'cc'.repeat(16), macs: ['00:11:22:33:44:77'], hardwareUuid: 'y-uuid' }),
    });
    expect((await other.manager.activate(CODE)).code).toBe('VALID');
  });

  it('two OS accounts sharing the data folder: after the other account saved, a deactivation reads as NO_LICENSE to it, not as a restored copy', async () => {
    const anchors = tempDir('licensor-anchors-');
    cleanups.push(anchors.cleanup);
    const alice = device({ anchorDir: join(anchors.dir, 'alice') });
    const bob = () => alice.make({ anchorDir: join(anchors.dir, 'bob') });
    await alice.manager.activate(CODE);
    for (let i = 0; i < 3; i++) {
      c.advance(2 * 60_000); // each start moves the high-water mark: a save, under Bob's anchor only
      expect((await bob().verify()).code).toBe('VALID');
    }
    await alice.make().deactivate();
    expect((await bob().verify()).code).toBe('NO_LICENSE');
  });

  it('keeps the activation when deactivation cannot reach the server', async () => {
    const d = device();
    await d.manager.activate(CODE);
    await server.close();
    expect((await rejects(d.manager.deactivate())).code).toBe('SERVER_UNREACHABLE');
    expect((await d.make().verify()).code).toBe('VALID');
  });

  it('creates a signed offline request and imports the answer bound to its device key', async () => {
    const d = device({ serverUrl: undefined });
    const text = await d.manager.createOfflineRequest('pltestcode0001', { label: 'Air-gapped PC' });
    const request = decodeOfflineRequest(text); // verifies the request signature
    expect(request).toMatchObject({ code: CODE, productId: PRODUCT, device: { label: 'Air-gapped PC' } });
    expect(request.fingerprint.components).toEqual(hashedFingerprint(machine(), PRODUCT));
    // The same pending key is reused if the user asks again.
    const again = decodeOfflineRequest(await d.make().createOfflineRequest(CODE));
    expect(again.devicePublicKey).toBe(request.devicePublicKey);

    // The operator issues a file for that request.
    const file = signLicense(
      payloadFor({
        now: c(),
        lid: 'act-offline-1',
        eid: CODE,
        fingerprint: { rule: { type: 'allButOne' }, components: request.fingerprint.components },
        deviceKey: devicePublicKeyHash(request.devicePublicKey),
        refreshBy: null,
        graceUntil: null,
      }),
      pki().signer,
    );
    const s = await d.make().importLicenseFile(file);
    expect(s).toMatchObject({ code: 'VALID', detail: { activationId: 'act-offline-1' } });
    const body = state(d.dir).body;
    expect(body.device.publicKey).toBe(request.devicePublicKey);
    expect(body.pendingDevice).toBeUndefined();

    // A file answering someone else's request does not match this device.
    const foreign = signLicense(
      payloadFor({ now: c(), eid: CODE, deviceKey: 'B'.repeat(43), refreshBy: null, graceUntil: null }),
      pki().signer,
    );
    expect((await rejects(d.make().importLicenseFile(foreign))).code).toBe('FINGERPRINT_MISMATCH');
  });
});

describe('automatic check-in', () => {
  it('checks in when due, backs off while offline, and stops cleanly', async () => {
    const timers = manualTimers();
    const d = device({ timers });
    await d.manager.activate(CODE);
    const m = d.make();
    const events: string[] = [];
    m.on('check-in', (r) => events.push(r.online ? 'online' : `offline:${r.error?.code}`));
    m.on('status', (s) => events.push(s.code));

    const settle = async () => {
      for (let i = 0; i < 50 && timers.pending.size === 0; i++) await new Promise((r) => setTimeout(r, 5));
    };
    m.startAutoCheckIn({ verifyIntervalMs: HOUR, retryMinMs: 60_000, retryMaxMs: 4 * 60_000 });
    expect(timers.fire()).toBe(0); // first tick right away: check-in not due yet → verify
    await settle();
    expect(events).toEqual(['VALID']);
    expect([...timers.pending.values()][0]!.ms).toBe(HOUR);

    c.advance(DAY); // due
    timers.fire();
    await settle();
    expect(events).toEqual(['VALID', 'online']);

    await server.close();
    c.advance(DAY);
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      timers.fire();
      await settle();
      delays.push([...timers.pending.values()][0]!.ms);
    }
    expect(delays).toEqual([60_000, 120_000, 240_000, 240_000]);
    expect(events.slice(2)).toEqual(Array(4).fill('offline:SERVER_UNREACHABLE'));

    await m.stop();
    expect(timers.pending.size).toBe(0);
  });
});
