import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  fingerprintFromReadings,
  LicenseManager,
  type LicenseManagerOptions,
  type MachineFingerprint,
  type SecretStore,
} from '@licensor/client';
import { type RunningServer, startServer, testConfig } from '@licensor/server';
import { settledCode } from '@licensor/testkit/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Issue 13, items 5 and 6, and checkIn()'s contract, against the real server (127.0.0.1, port 0) and the real
 * client library: a server verdict must outlive every older License file (re-imported, restored, re-read), and
 * a restored copy of the state must not undo what the client has learnt since (clock rollback, verdicts).
 */

const PRODUCT = 'e2e-verdicts';
const ADMIN = 'admin-test-token';
const DAY = 86_400_000;

let running: RunningServer;
let root: string;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'licensor-e2e-verdicts-'));
  running = await startServer(testConfig({ dataDir: join(dir, 'server'), port: 0, host: '127.0.0.1' }));
  root = running.keys.rootCertificatePem;
});

afterAll(async () => {
  await running?.close();
  rmSync(dir, { recursive: true, force: true });
});

const machine: MachineFingerprint = fingerprintFromReadings({
  machineId: '33333333333333333333333333333333',
  hardwareUuid: 'CCCCCCCC-1111-2222-3333-444444444444',
  baseboardSerial: 'BOARD-C-0001',
  cpu: 'GenuineIntel Intel Core i7-1165G7 (6/140/1)',
  diskSerials: ['DISK-C-0001'],
  macs: ['04:7C:16:5E:E3:99'],
});

/** A clock the test can move; starts at real time (the server's clock stays real). */
function movableClock() {
  let offset = 0;
  const now = () => Date.now() + offset;
  const set = (ms: number): void => {
    offset = ms;
  };
  return Object.assign(now, { set, reset: () => set(0) });
}

/** One install: a data folder and an anchor folder of its own; `make()` is a restart of the application. */
function install(name: string, extra: Partial<LicenseManagerOptions> = {}) {
  const dataDir = join(dir, name);
  const anchorDir = join(dir, `${name}-anchors`);
  const clock = movableClock();
  const make = (more: Partial<LicenseManagerOptions> = {}) =>
    new LicenseManager({
      productId: PRODUCT,
      roots: [root],
      serverUrl: running.url,
      dataDir,
      anchorDir,
      fingerprint: () => machine,
      now: clock,
      ...extra,
      ...more,
    });
  const statePath = join(dataDir, `state-${PRODUCT}.json`);
  return {
    dataDir,
    anchorDir,
    clock,
    make,
    statePath,
    /** The License file as it sits in the state (readable by anyone with the data folder). */
    storedFile: (): string => JSON.parse(readFileSync(statePath, 'utf8')).body.license,
  };
}

async function newCode(): Promise<{ code: string; entitlementId: string }> {
  const code = `PLVERDICT${randomBytes(4).toString('hex').toUpperCase()}`;
  const res = await fetch(`${running.url}/api/admin/v1/codes`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ code, productId: PRODUCT, seats: 1 }),
  });
  expect(res.status).toBe(201);
  return { code, entitlementId: ((await res.json()) as { entitlementId: string }).entitlementId };
}

async function operator(entitlementId: string, action: 'revoke' | 'suspend' | 'reinstate'): Promise<void> {
  const res = await fetch(`${running.url}/api/admin/v1/entitlements/${encodeURIComponent(entitlementId)}/${action}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ reason: 'e2e' }),
  });
  expect(res.status).toBe(200);
}

describe('a server verdict outlives older License files (item 5)', () => {
  it('attacker: re-importing the file from before REVOKED is refused, online and offline, before and after restarts', async () => {
    const { code, entitlementId } = await newCode();
    const app = install('revoked');
    expect((await app.make().activate(code)).code).toBe('VALID');
    const fileBeforeRevocation = app.storedFile();

    await operator(entitlementId, 'revoke');
    const revoked = await app.make().checkIn();
    expect(revoked).toMatchObject({ online: true, serverStatus: 'REVOKED', status: { code: 'REVOKED' } });
    // The check-in answer carried a signed record, and the client kept it.
    expect(JSON.parse(readFileSync(app.statePath, 'utf8')).body.verdictRecord).toMatch(/^[A-Za-z0-9_-]+$/);

    const manager = app.make();
    const refused = await manager.importLicenseFile(fileBeforeRevocation).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'REVOKED' });
    expect((refused as Error).message).toMatch(/locked this license.*check in online/);
    expect((await manager.verify()).code).toBe('REVOKED');

    // Offline from here: restarts, a week later, and yet another import attempt.
    app.clock.set(7 * DAY);
    const offline = app.make({ serverUrl: 'http://127.0.0.1:9' });
    expect((await offline.verify()).code).toBe('REVOKED');
    expect(await settledCode(offline.importLicenseFile(Buffer.from(fileBeforeRevocation)))).toBe('REVOKED');
    expect((await app.make().verify()).code).toBe('REVOKED');
  });

  it('honest user: reinstate + check-in lifts the verdict; the new file survives restarts offline', async () => {
    const { code, entitlementId } = await newCode();
    const app = install('reinstated');
    await app.make().activate(code);
    const oldFile = app.storedFile();
    await operator(entitlementId, 'suspend');
    expect((await app.make().checkIn()).status.code).toBe('SUSPENDED');
    expect(await settledCode(app.make().importLicenseFile(oldFile))).toBe('SUSPENDED');

    await operator(entitlementId, 'reinstate');
    const back = await app.make().checkIn();
    expect(back).toMatchObject({ online: true, serverStatus: 'VALID', status: { valid: true, code: 'VALID' } });
    const newFile = app.storedFile();
    expect(newFile).not.toBe(oldFile);
    for (let i = 0; i < 3; i++) {
      expect((await app.make({ serverUrl: 'http://127.0.0.1:9' }).verify()).code).toBe('VALID');
    }
    // The current file imports again (a user re-applying it); the one from before the verdict still does not.
    expect((await app.make().importLicenseFile(newFile)).code).toBe('VALID');
    expect(await settledCode(app.make().importLicenseFile(oldFile))).not.toBe('resolved');
    expect((await app.make().verify()).code).toBe('VALID');
  });
});

describe('a restored copy of the state cannot undo what the client learnt since (item 6)', () => {
  const secretsMap = () => {
    const secrets = new Map<string, string>();
    const store: SecretStore = {
      get: (k) => secrets.get(k),
      set: (k, v) => void secrets.set(k, v),
      delete: (k) => void secrets.delete(k),
    };
    return { secrets, store };
  };
  const variants: [string, () => Partial<LicenseManagerOptions>][] = [
    [
      'with a secret store (Electron safeStorage) and no anchor file',
      () => ({ secretStore: secretsMap().store, anchorDir: null }),
    ],
    ['without a secret store (anchor file outside the data folder)', () => ({})],
  ];

  for (const [name, options] of variants) {
    it(`attacker, ${name}: copy after activation, run 40 days ahead, set the clock back, restore → refused`, async () => {
      const { code } = await newCode();
      const app = install(`rollback-${name.length}-${randomBytes(2).toString('hex')}`, options());
      expect((await app.make().activate(code)).code).toBe('VALID');
      const copy = `${app.statePath}.copy`;
      copyFileSync(app.statePath, copy);

      app.clock.set(40 * DAY);
      expect((await app.make().verify()).code).toBe('GRACE_PERIOD_OVER');
      app.clock.reset();
      expect((await app.make().verify()).code).toBe('TIME_MODIFIED'); // the mark in the live state

      copyFileSync(copy, app.statePath); // put the old copy back
      const restored = await app.make().verify();
      expect(restored).toMatchObject({ valid: false, code: 'TIME_MODIFIED', detail: { reason: 'state-rolled-back' } });
      expect(restored.detail.explanation).toMatch(/earlier copy was put back.*check in/);
      // Neither a restart nor re-importing the file lifts it offline.
      expect((await app.make().verify()).code).toBe('TIME_MODIFIED');
      const file = JSON.parse(readFileSync(app.statePath, 'utf8')).body.license;
      expect(await settledCode(app.make().importLicenseFile(file))).toBe('TIME_MODIFIED');
      expect((await app.make().verify()).code).toBe('TIME_MODIFIED');

      // An online check-in is the server's word: the license is valid again, with the current clock.
      const online = await app.make().checkIn();
      expect(online).toMatchObject({ online: true, serverStatus: 'VALID', status: { code: 'VALID' } });
      expect((await app.make().verify()).code).toBe('VALID');
    });
  }

  it('attacker: a copy taken before REVOKED, restored after it, stays locked', async () => {
    const { code, entitlementId } = await newCode();
    const app = install('restore-revoked');
    await app.make().activate(code);
    const copy = readFileSync(app.statePath);
    await operator(entitlementId, 'revoke');
    expect((await app.make().checkIn()).status.code).toBe('REVOKED');
    writeFileSync(app.statePath, copy);
    expect((await app.make().verify()).code).not.toBe('VALID');
    expect(await settledCode(app.make().importLicenseFile(JSON.parse(copy.toString()).body.license))).not.toBe(
      'resolved',
    );
    expect((await app.make().checkIn()).status.code).toBe('REVOKED'); // the server repeats its verdict
  });

  it('honest user: restarts offline stay VALID; saves in a row and two managers on one folder never trip the anchor', async () => {
    const { code } = await newCode();
    const app = install('honest', { secretStore: secretsMap().store });
    await app.make().activate(code);
    const a = app.make();
    const b = app.make();
    for (let i = 1; i <= 4; i++) {
      // A verify more than a minute past the mark persists it (a save); stay inside the 5-minute answer window.
      app.clock.set(i * 65_000);
      expect((await a.verify()).code).toBe('VALID');
      expect((await b.checkIn()).status.code).toBe('VALID'); // another save, by another manager
      expect((await app.make({ serverUrl: 'http://127.0.0.1:9' }).verify()).code).toBe('VALID');
    }
    const generation = JSON.parse(readFileSync(app.statePath, 'utf8')).body.generation;
    expect(generation).toBeGreaterThanOrEqual(5); // activation + 4 check-ins, + verifies that moved the mark
    // reset() forgets the state, not the anchor: a new activation continues beyond its generation.
    app.clock.reset();
    await a.reset();
    expect((await app.make().activate(code)).code).toBe('VALID');
    expect((await app.make().verify()).code).toBe('VALID');
  });
});

describe('LicenseManager.checkIn() returns { online, status, error } instead of throwing', () => {
  it('on a tampered state, without an activation, and without a server', async () => {
    const { code } = await newCode();
    const app = install('checkin-shape');
    await app.make().activate(code);
    const text = readFileSync(app.statePath, 'utf8');
    writeFileSync(app.statePath, text.replace('"highWater": ', '"highWater": 1'));
    const tampered = await app.make().checkIn();
    expect(tampered).toMatchObject({
      online: false,
      status: { valid: false, code: 'STATE_TAMPERED' },
      error: { code: 'STATE_TAMPERED', retryable: false },
    });
    expect(tampered.error?.message).toMatch(/activate again/);

    const empty = await install('checkin-empty').make().checkIn();
    expect(empty).toMatchObject({ online: false, status: { code: 'NO_LICENSE' }, error: { code: 'NO_LICENSE' } });

    const events: unknown[] = [];
    const noServer = install('checkin-shape').make({ serverUrl: undefined });
    noServer.on('check-in', (r) => events.push(r));
    await noServer.reset();
    const r = await noServer.checkIn();
    expect(r).toMatchObject({ online: false, status: { code: 'NO_LICENSE' }, error: { code: 'NO_LICENSE' } });
    expect(events).toEqual([r]);
  });
});
