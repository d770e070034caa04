import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fingerprintFromReadings, LicenseManager, type MachineFingerprint } from '@licensor/client';
import { formatCompactTime, formatCompactTimeMs, type RunningServer, startServer, testConfig } from '@licensor/server';
import { schemeAAuthToken, schemeBSignature } from '@licensor/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The real server (listening on 127.0.0.1, port 0) and the real client library: marketplace calls create and
 * change entitlements, the client activates, restarts offline, checks in and deactivates. Fingerprints are
 * injected so the test never depends on this host's hardware.
 */

const PRODUCT = 'e2e-product';
const ADMIN = 'admin-test-token';
const PRODUCE = '/api/koogallery/produce';

let running: RunningServer;
let root: string;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'licensor-e2e-client-'));
  running = await startServer(testConfig({ dataDir: join(dir, 'server'), port: 0, host: '127.0.0.1' }));
  root = running.keys.rootCertificatePem;
});

afterAll(async () => {
  await running?.close();
  rmSync(dir, { recursive: true, force: true });
});

const machineA: MachineFingerprint = fingerprintFromReadings({
  machineId: '11111111111111111111111111111111',
  hardwareUuid: 'AAAAAAAA-1111-2222-3333-444444444444',
  baseboardSerial: 'BOARD-A-0001',
  cpu: 'GenuineIntel Intel Core i5-1135G7 (6/140/1)',
  diskSerials: ['DISK-A-0001'],
  macs: ['04:7C:16:5E:E3:5D'],
});
const machineB: MachineFingerprint = fingerprintFromReadings({
  machineId: '22222222222222222222222222222222',
  hardwareUuid: 'BBBBBBBB-1111-2222-3333-444444444444',
  baseboardSerial: 'BOARD-B-0001',
  cpu: 'AuthenticAMD AMD Ryzen 7 5800U (25/80/0)',
  diskSerials: ['DISK-B-0001'],
  macs: ['3C:A9:F4:12:34:56'],
});

function client(name: string, fp: MachineFingerprint) {
  return new LicenseManager({
    productId: PRODUCT,
    roots: [root],
    serverUrl: running.url,
    dataDir: join(dir, name),
    fingerprint: () => fp,
    appVersion: '9.9.9',
  });
}

/** Family A `getLicense`, signed with scheme A (key 'KEY'); returns the minted license code. */
async function getLicense(orderId: string): Promise<{ instanceId: string; license: string }> {
  const params: Record<string, string> = {
    activity: 'getLicense',
    businessId: 'biz-e2e',
    customerId: 'customer-e2e',
    orderId,
    productId: PRODUCT,
    amount: '1',
    expireTime: formatCompactTime(new Date(Date.now() + 365 * 86_400_000)),
    timeStamp: formatCompactTimeMs(new Date()),
  };
  const query = new URLSearchParams({ ...params, authToken: schemeAAuthToken('KEY', params) });
  const res = await fetch(`${running.url}${PRODUCE}?${query}`);
  const body = (await res.json()) as { resultCode: string; instanceId: string; license: string };
  expect(body.resultCode).toBe('000000');
  return body;
}

/** A scheme-B-signed POST to the production interface (access key 'ACCESSKEY'). */
async function postB(body: Record<string, unknown>): Promise<{ resultCode: string }> {
  const raw = JSON.stringify(body);
  const ts = String(Date.now());
  const nonce = randomBytes(12).toString('hex');
  const res = await fetch(
    `${running.url}${PRODUCE}?signature=${schemeBSignature('ACCESSKEY', nonce, ts, raw)}&timestamp=${ts}&nonce=${nonce}`,
    { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw },
  );
  return (await res.json()) as { resultCode: string };
}

async function admin(path: string, body: unknown): Promise<Response> {
  return fetch(`${running.url}/api/admin/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('client ⇄ server end to end', () => {
  it('family A: purchase → activate → offline restart → check-in → deactivate frees the seat', async () => {
    const { license: code } = await getLicense(`E2E-A-${randomBytes(4).toString('hex')}`);
    const a = client('a', machineA);
    expect((await a.verify()).code).toBe('NO_LICENSE');

    const activated = await a.activate(code);
    expect(activated).toMatchObject({ valid: true, code: 'VALID', license: { family: 'A', product: PRODUCT } });

    // Restart: a new manager on the same data folder verifies offline, without the server.
    const restarted = client('a', machineA);
    expect(await restarted.verify()).toMatchObject({ valid: true, code: 'VALID' });

    const checkIn = await restarted.checkIn();
    expect(checkIn).toMatchObject({ online: true, serverStatus: 'VALID', status: { code: 'VALID' } });

    // The seat is taken: another machine is refused and told which device holds it.
    const other = client('a-other', machineB);
    const refused = await other.activate(code).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'TOO_MANY_DEVICES' });
    expect((await other.listSeatDevices(code)).devices).toHaveLength(1);

    await restarted.deactivate();
    expect((await restarted.verify()).code).toBe('NO_LICENSE');
    expect((await other.listSeatDevices(code)).devices).toHaveLength(0);
    expect((await other.activate(code)).code).toBe('VALID');
  });

  it('family B: freeze and unfreeze through the marketplace, revoke by the operator, deactivate', async () => {
    const code = `PLE2E${randomBytes(5).toString('hex').toUpperCase()}`;
    const registered = await admin('/codes', { code, productId: PRODUCT, seats: 1 });
    expect(registered.status).toBe(201);
    const { entitlementId } = (await registered.json()) as { entitlementId: string };

    const b = client('b', machineB);
    expect((await b.activate(code)).code).toBe('VALID');
    expect((await b.checkIn()).status.code).toBe('VALID');

    expect((await postB({ activity: 'updateLicenseCodeStatus', license: code, status: 'FREEZE' })).resultCode).toBe(
      '000000',
    );
    const frozen = await b.checkIn();
    expect(frozen).toMatchObject({ online: true, serverStatus: 'FROZEN', status: { valid: false, code: 'FROZEN' } });
    expect((await client('b', machineB).verify()).code).toBe('FROZEN'); // survives a restart, offline

    expect((await postB({ activity: 'updateLicenseCodeStatus', license: code, status: 'UNFREEZE' })).resultCode).toBe(
      '000000',
    );
    expect((await b.checkIn()).status).toMatchObject({ valid: true, code: 'VALID' });

    const revoke = await admin(`/entitlements/${encodeURIComponent(entitlementId)}/revoke`, { reason: 'e2e' });
    expect(revoke.status).toBe(200);
    const revoked = await b.checkIn();
    expect(revoked).toMatchObject({ online: true, serverStatus: 'REVOKED', status: { valid: false, code: 'REVOKED' } });
    expect((await client('b', machineB).verify()).code).toBe('REVOKED');

    await b.deactivate();
    expect((await b.verify()).code).toBe('NO_LICENSE');
    expect((await b.listSeatDevices(code)).devices).toHaveLength(0);
  });

  it('refuses a response signed under another root (pinning), and reports a dead server as SERVER_UNREACHABLE', async () => {
    const { createRootCertificate } = await import('@licensor/shared');
    const foreignRoot = createRootCertificate({ commonName: 'Not the vendor' }).certificatePem;
    const pinnedElsewhere = new LicenseManager({
      productId: PRODUCT,
      roots: [foreignRoot],
      serverUrl: running.url,
      dataDir: join(dir, 'foreign'),
      fingerprint: () => machineA,
    });
    const { license: code } = await getLicense(`E2E-A-${randomBytes(4).toString('hex')}`);
    expect(await pinnedElsewhere.activate(code).catch((e: unknown) => e)).toMatchObject({ code: 'RESPONSE_INVALID' });

    const dead = new LicenseManager({
      productId: PRODUCT,
      roots: [root],
      serverUrl: 'http://127.0.0.1:9',
      dataDir: join(dir, 'dead'),
      fingerprint: () => machineA,
    });
    expect(await dead.activate(code).catch((e: unknown) => e)).toMatchObject({
      code: 'SERVER_UNREACHABLE',
      retryable: true,
    });
  });
});
