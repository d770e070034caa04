import { randomBytes } from 'node:crypto';
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  fingerprintFromReadings,
  LicenseManager,
  type LicenseManagerOptions,
  type MachineFingerprint,
} from '@licensor/client';
import { DEVELOPMENT_ROOT_PASSPHRASE, type RunningServer, startServer, testConfig } from '@licensor/server';
import { settledCode } from '@licensor/testkit/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The merchant restores the server's database from a backup taken before some devices activated, deactivated or
 * were revoked (the merchant guide's procedure: stop, put the backup in place as licensor.db, start). Real server
 * (SQLite, 127.0.0.1, port 0) and real client library. What must hold: the restored server never hands out more
 * seats than the license has, a device it no longer knows is told so (signed NOT_FOUND) and can get its seat back
 * with its code, and the client takes the restored server's word (its verdict records lock only older files).
 */

const PRODUCT = 'e2e-restore';
const ADMIN = 'admin-test-token';

let running: RunningServer;
let root: string;
let dir: string;
const dataDir = () => join(dir, 'server');
const start = async () => {
  running = await startServer(testConfig({ dataDir: dataDir(), port: 0, host: '127.0.0.1' }));
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'licensor-e2e-restore-'));
  await start();
  root = running.keys.rootCertificatePem;
});

afterAll(async () => {
  await running?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `licensor.db` as it is now, taken with the server stopped (closing checkpoints the WAL into the file). */
async function backup(): Promise<string> {
  await running.close();
  const file = join(dir, `backup-${randomBytes(3).toString('hex')}.db`);
  copyFileSync(join(dataDir(), 'licensor.db'), file);
  await start();
  return file;
}

/** The merchant guide's restore: stop, put the backup in place (no -wal/-shm beside it), start. */
async function restore(file: string): Promise<void> {
  await running.close();
  for (const suffix of ['-wal', '-shm']) rmSync(join(dataDir(), `licensor.db${suffix}`), { force: true });
  copyFileSync(file, join(dataDir(), 'licensor.db'));
  await start();
}

const machineOf = (n: number): MachineFingerprint =>
  fingerprintFromReadings({
    machineId: String(n).repeat(32).slice(0, 32),
    hardwareUuid: `${String(n).repeat(8)}-1111-2222-3333-444444444444`,
    baseboardSerial: `BOARD-${n}`,
    diskSerials: [`DISK-${n}`],
    macs: [`04:7C:16:5E:E3:${String(n).padStart(2, '0')}`],
  });

/** One install; every call of `make()` is a restart, always pointed at the server's current address. */
function install(name: string, fp: MachineFingerprint) {
  const make = (more: Partial<LicenseManagerOptions> = {}) =>
    new LicenseManager({
      productId: PRODUCT,
      roots: [root],
      serverUrl: running.url,
      dataDir: join(dir, name),
      anchorDir: join(dir, `${name}-anchors`),
      fingerprint: () => fp,
      ...more,
    });
  return { make };
}

async function admin(method: string, path: string, body?: unknown) {
  const res = await fetch(`${running.url}/api/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function newCode(seats = 1): Promise<{ code: string; entitlementId: string }> {
  const code = `PLRESTORE${randomBytes(4).toString('hex').toUpperCase()}`;
  const res = await admin('POST', '/codes', { code, productId: PRODUCT, seats });
  expect(res.status).toBe(201);
  return { code, entitlementId: res.body.entitlementId as string };
}

describe('the server database restored from an older backup', () => {
  it('seats: a device activated since is told NOT_FOUND, never a second seat; it frees the ghost seat and activates again', async () => {
    const { code } = await newCode(1);
    const a = install('seat-a', machineOf(1));
    const b = install('seat-b', machineOf(2));
    expect((await a.make().activate(code)).code).toBe('VALID');
    const before = await backup(); // A holds the seat
    await a.make().deactivate();
    expect((await b.make().activate(code)).code).toBe('VALID'); // the seat moved to B
    expect((await b.make().checkIn()).serverStatus).toBe('VALID');

    await restore(before); // the server knows A's seat again, and nothing of B
    const lost = await b.make().checkIn();
    expect(lost).toMatchObject({
      online: true,
      serverStatus: 'NOT_FOUND',
      status: { valid: false, code: 'NOT_FOUND' },
    });
    expect((await b.make().verify()).code).toBe('NOT_FOUND'); // offline too: the server's verdict is kept

    // Activating again meets the seat the backup gave back to A: refused, naming A, not a second seat.
    const full = await b
      .make()
      .activate(code)
      .catch((e: { code: string; detail: { devices: { id: string }[] } }) => e);
    expect(full).toMatchObject({ code: 'TOO_MANY_DEVICES' });
    const devices = (full as { detail: { devices: { id: string }[] } }).detail.devices;
    expect(devices).toHaveLength(1);
    // B frees the ghost seat (A was deactivated: nobody uses it) and activates: a new activation, VALID, and the
    // NOT_FOUND record of its old activation does not lock the new file, online or after a restart.
    expect(await b.make().releaseSeatDevice(code, devices[0]!.id)).toBe(true);
    const again = await b.make().activate(code);
    expect(again.code).toBe('VALID');
    expect((await b.make().checkIn()).serverStatus).toBe('VALID');
    expect((await b.make({ serverUrl: 'http://127.0.0.1:9' }).verify()).code).toBe('VALID');
    // And the license still has one seat: A cannot come back beside B.
    expect(await settledCode(a.make().activate(code))).toBe('TOO_MANY_DEVICES');
  });

  it('verdicts: a revocation made after the backup is gone with it; the next check-in brings the restored state', async () => {
    const { code, entitlementId } = await newCode(1);
    const c = install('verdict-c', machineOf(3));
    expect((await c.make().activate(code)).code).toBe('VALID');
    const before = await backup();
    expect((await admin('POST', `/entitlements/${entitlementId}/revoke`, { reason: 'e2e' })).status).toBe(200);
    expect((await c.make().checkIn()).status.code).toBe('REVOKED');
    expect((await c.make().verify()).code).toBe('REVOKED');

    await restore(before);
    // Offline the client still holds the server's signed REVOKED: the restore alone changes nothing on the device.
    expect((await c.make({ serverUrl: 'http://127.0.0.1:9' }).verify()).code).toBe('REVOKED');
    // The restored server has no revocation: its fresh file is newer than the verdict, so the device is VALID.
    // (The operator must revoke again: the merchant guide says so, since the audit log was restored too.)
    expect(await c.make().checkIn()).toMatchObject({ online: true, serverStatus: 'VALID', status: { code: 'VALID' } });
    expect((await admin('POST', `/entitlements/${entitlementId}/revoke`, { reason: 'again' })).status).toBe(200);
    expect((await c.make().checkIn()).status.code).toBe('REVOKED');
  });

  it('keys/ restored from before a rotation and a revocation: the server signs with the revoked key again, and a client that has seen the list refuses its answers, also when a check-in is the first thing a process does', async () => {
    // A server of its own: this test puts an older keys/ folder back.
    const own = join(dir, 'keys-restore');
    const opts = () => testConfig({ dataDir: own, port: 0, host: '127.0.0.1' });
    let server = await startServer(opts());
    try {
      const code = `PLKEYS${randomBytes(4).toString('hex').toUpperCase()}`;
      const created = await fetch(`${server.url}/api/admin/v1/codes`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ code, productId: PRODUCT, seats: 1 }),
      });
      expect(created.status).toBe(201);
      const make = () =>
        new LicenseManager({
          productId: PRODUCT,
          roots: [server.keys.rootCertificatePem],
          serverUrl: server.url,
          dataDir: join(dir, 'keys-client'),
          anchorDir: join(dir, 'keys-client-anchors'),
          fingerprint: () => machineOf(4),
        });
      expect((await make().activate(code)).code).toBe('VALID');
      const stateFile = join(dir, 'keys-client', `state-${PRODUCT}.json`);

      const backupKeys = join(dir, 'keys-restore-backup');
      cpSync(join(own, 'keys'), backupKeys, { recursive: true });
      const old = server.keys.current().keyId;
      server.keys.rotate({ rootPassphrase: DEVELOPMENT_ROOT_PASSPHRASE });
      await server.close();
      server = await startServer(opts()); // SQLite: a rotation is signed with after a restart
      server.keys.revoke(old, { rootPassphrase: DEVELOPMENT_ROOT_PASSPHRASE });
      expect(await make().checkIn()).toMatchObject({ online: true, serverStatus: 'VALID' }); // the client has the list

      await server.close();
      rmSync(join(own, 'keys'), { recursive: true });
      cpSync(backupKeys, join(own, 'keys'), { recursive: true });
      server = await startServer(opts());
      expect(server.keys.current().keyId).toBe(old); // what the restore did: nothing on the server notices

      const before = JSON.parse(readFileSync(stateFile, 'utf8')).body;
      const first = await make().checkIn(); // a new process whose first call is a check-in (the CLI's check-in)
      expect(first).toMatchObject({ online: false, error: { code: 'RESPONSE_INVALID' }, status: { code: 'VALID' } });
      const after = JSON.parse(readFileSync(stateFile, 'utf8')).body;
      expect([after.lastCheckInAt, after.highWater >= before.highWater]).toEqual([before.lastCheckInAt, true]);
      const m = make();
      expect((await m.verify()).code).toBe('VALID');
      expect(await m.checkIn()).toMatchObject({ online: false, error: { code: 'RESPONSE_INVALID' } });
    } finally {
      await server.close();
    }
  });
});
