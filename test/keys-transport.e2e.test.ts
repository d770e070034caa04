import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fingerprintFromReadings, LicenseManager, type MachineFingerprint } from '@licensor/client';
import {
  createLogger,
  DEVELOPMENT_ROOT_PASSPHRASE,
  type RunningServer,
  startServer,
  testConfig,
} from '@licensor/server';
import {
  createRootCertificate,
  decodeLicenseFile,
  decryptPrivateKey,
  generateLicenseCode,
  issueSigningCertificate,
  LicensorError,
  signLicense,
  verifyRevocationList,
} from '@licensor/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Issue 13, keys and transport, against the real server (listening on 127.0.0.1) and the real client library:
 * answers bound to their request, two installs on one machine, codes that need a product, and what a typo'd
 * code says compared with a server that cannot ask the marketplace.
 */

const PRODUCT = 'e2e-keys';
const ADMIN = 'admin-test-token';

let running: RunningServer;
let root: string;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'licensor-e2e-keys-'));
  running = await startServer(testConfig({ dataDir: join(dir, 'server'), port: 0, host: '127.0.0.1' }));
  root = running.keys.rootCertificatePem;
});

afterAll(async () => {
  await running?.close();
  rmSync(dir, { recursive: true, force: true });
});

const machineA: MachineFingerprint = fingerprintFromReadings({
  machineId: '33333333333333333333333333333333',
  hardwareUuid: 'CCCCCCCC-1111-2222-3333-444444444444',
  baseboardSerial: 'BOARD-C-0001',
  cpu: 'GenuineIntel Intel Core i7-1185G7 (6/140/1)',
  diskSerials: ['DISK-C-0001'],
  macs: ['04:7C:16:5E:E3:77'],
});

const machineB: MachineFingerprint = fingerprintFromReadings({
  machineId: '44444444444444444444444444444444',
  hardwareUuid: 'DDDDDDDD-1111-2222-3333-444444444444',
  baseboardSerial: 'BOARD-D-0001',
  cpu: 'AuthenticAMD AMD Ryzen 5 5600U (25/80/0)',
  diskSerials: ['DISK-D-0001'],
  macs: ['3C:A9:F4:12:34:99'],
});

function client(name: string, fp: MachineFingerprint, extra: { fetch?: typeof fetch } = {}) {
  return new LicenseManager({
    productId: PRODUCT,
    roots: [root],
    serverUrl: running.url,
    dataDir: join(dir, name),
    fingerprint: () => fp,
    appVersion: '9.9.9',
    ...extra,
  });
}

/** The one state file in a client data folder. */
const readdirName = (folder: string) => readdirSync(folder).find((f) => f.endsWith('.json'))!;

let codes = 0;
/** A fresh family-B code registered through the admin API for PRODUCT. */
async function registeredCode(seats = 1): Promise<string> {
  const code = `PLE2EKEYS${String(++codes).padStart(4, '0')}`;
  const res = await fetch(`${running.url}/api/admin/v1/codes`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ code, productId: PRODUCT, seats }),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return code;
}

describe('answers are bound to their request (item 9)', () => {
  it('refuses a check-in answer that an on-path attacker fetched from another endpoint: the license stays valid', async () => {
    const code = await registeredCode();
    let attack = false;
    const victimOf = 'act_000000000000ffffffffffffffffffff';
    // The attacker forwards the client's check-in (its nonce) to another activation's check-in and hands the
    // server's signed NOT_FOUND answer back to the client.
    const onPath: typeof fetch = (input, init) => {
      const url = new URL(String(input));
      if (!attack || !url.pathname.endsWith('/check-in')) return fetch(input, init);
      const headers = { ...(init?.headers as Record<string, string>) };
      headers['licensor-device-signature'] = headers['licensor-device-signature']!.replace(
        /activation=[^,]+/,
        `activation=${victimOf}`,
      );
      url.pathname = `/api/v1/activations/${victimOf}/check-in`;
      return fetch(url, { ...init, headers });
    };
    const a = client('bound-a', machineA, { fetch: onPath });
    expect(await a.activate(code)).toMatchObject({ valid: true, code: 'VALID' });

    attack = true;
    const result = await a.checkIn();
    expect(result.online).toBe(false);
    expect(result.error?.code).toBe('RESPONSE_INVALID');
    expect(result.status).toMatchObject({ valid: true, code: 'VALID' });
    expect(await client('bound-a', machineA).verify()).toMatchObject({ valid: true, code: 'VALID' });

    attack = false;
    expect(await a.checkIn()).toMatchObject({ online: true, serverStatus: 'VALID' });
  });

  it('refuses plain http:// server URLs except this machine (loopback)', () => {
    for (const serverUrl of ['http://license.example.com', 'http://10.0.0.5:8080', 'http://127.0.0.1.example.com']) {
      expect(
        () => new LicenseManager({ productId: PRODUCT, roots: [root], serverUrl, dataDir: join(dir, 'http') }),
        serverUrl,
      ).toThrow(expect.objectContaining({ code: 'INVALID_INPUT', message: expect.stringContaining('https://') }));
    }
    for (const serverUrl of [
      'http://127.0.0.1:8080',
      'http://localhost:8080',
      'http://[::1]:8080',
      'https://x.example',
    ]) {
      expect(
        () => new LicenseManager({ productId: PRODUCT, roots: [root], serverUrl, dataDir: join(dir, 'http') }),
        serverUrl,
      ).not.toThrow();
    }
  });
});

describe('codes need a product and are stored as activation looks them up (item 4)', () => {
  const register = (body: Record<string, unknown>) =>
    fetch(`${running.url}/api/admin/v1/codes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('refuses a registration without a product (no seat can be taken for it) and saying how to fix it', async () => {
    const res = await register({ code: 'PLE2ENOPRODUCT1', seats: 1 });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toMatch(/productId.*LICENSOR_PRODUCT_ID/);
    // Nothing was stored: the code is still unknown to the server.
    expect(
      (
        await fetch(`${running.url}/api/admin/v1/codes/PLE2ENOPRODUCT1`, {
          headers: { authorization: `Bearer ${ADMIN}` },
        })
      ).status,
    ).toBe(404);
  });

  it('accepts a test code without a product (marketplace debug calls), but no software can activate it', async () => {
    const res = await register({ code: 'PLE2ETESTNOPROD', test: true, seats: 1 });
    expect(res.status).toBe(201);
    const refused = await client('test-no-product', machineA)
      .activate('PLE2ETESTNOPROD')
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(refused).toBeInstanceOf(LicensorError);
    expect((refused as LicensorError).code).toBe('PRODUCT_MISMATCH');
    expect((refused as LicensorError).message).toMatch(/not assigned to a product/);
    // Refused before a seat was taken.
    const seats = await fetch(`${running.url}/api/admin/v1/activations?code=PLE2ETESTNOPROD&includeTest=true`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(seats.status).toBe(200);
    expect(((await seats.json()) as { items: unknown[] }).items).toEqual([]);
  });

  it('normalises a lower-case registration, so the code the customer types activates', async () => {
    const res = await register({ code: ' ple2elower0001 ', productId: PRODUCT, seats: 1 });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ code: 'PLE2ELOWER0001', productId: PRODUCT });
    expect(await client('lower', machineA).activate('ple2elower0001')).toMatchObject({ valid: true, code: 'VALID' });
  });
});

describe('a typo, a server that cannot ask the marketplace, and an outage say different things (item 3)', () => {
  /** What activating `code` on `server` throws, as the library reports it. */
  async function refusal(server: RunningServer, code: string, name: string): Promise<LicensorError> {
    const manager = new LicenseManager({
      productId: PRODUCT,
      roots: [server.keys.rootCertificatePem],
      serverUrl: server.url,
      dataDir: join(dir, name),
      fingerprint: () => machineA,
    });
    const err = await manager.activate(code).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LicensorError);
    return err as LicensorError;
  }

  it('without marketplace credentials: a PL code is a vendor configuration problem (no retry advice, warned at start); other unknown codes are not recognised', async () => {
    const logged: string[] = [];
    const config = testConfig({ dataDir: join(dir, 'bare-server'), port: 0, host: '127.0.0.1' });
    config.koo = { ...config.koo, ak: undefined, sk: undefined };
    const bare = await startServer(config, createLogger('warn', { write: (line: string) => logged.push(line) }));
    try {
      expect(logged.join('')).toContain('LICENSOR_KOO_AK/LICENSOR_KOO_SK are not set');

      const unconfigured = await refusal(bare, 'PLDOESNOTEXIST99', 'typo-1');
      expect(unconfigured.code).toBe('MARKETPLACE_NOT_CONFIGURED');
      expect(unconfigured.retryable).toBe(false);
      expect(unconfigured.message).toContain('contact the vendor');
      expect(unconfigured.message).not.toMatch(/try again in|try again later/i);

      // A mistyped LSR code (one symbol changed: the check symbol catches it) and a code of no known form.
      const minted = generateLicenseCode();
      const typo = `${minted.slice(0, 4)}${minted[4] === 'A' ? 'B' : 'A'}${minted.slice(5)}`;
      for (const [code, name] of [
        [typo, 'typo-2'],
        ['HELLO-WORLD', 'typo-3'],
        [minted, 'typo-4'],
      ] as const) {
        const err = await refusal(bare, code, name);
        expect([code, err.code]).toEqual([code, 'NOT_FOUND']);
        expect(err.message).toContain('not recognised');
        expect(err.retryable).toBe(false);
      }
    } finally {
      await bare.close();
    }
  });

  it('with credentials but a marketplace that does not answer: try again later', async () => {
    // The shared test server's open API points at a closed local port.
    const err = await refusal(running, 'PLNOANSWER0001', 'typo-5');
    expect(err.code).toBe('MARKETPLACE_UNAVAILABLE');
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/try again/i);
  });
});

describe('two installs on one machine (item 2)', () => {
  it('both keep checking in, share one seat, and the seat is freed with the last install', async () => {
    const code = await registeredCode(1);
    // Two data folders on the same machine: two OS users, or a reinstall into another folder.
    const first = client('two-installs-user1', machineA);
    const second = client('two-installs-user2', machineA);
    expect(await first.activate(code)).toMatchObject({ valid: true, code: 'VALID' });
    expect(await second.activate(code)).toMatchObject({ valid: true, code: 'VALID' });

    for (let round = 0; round < 2; round++) {
      for (const [name, install] of [
        ['first', first],
        ['second', second],
      ] as const) {
        const result = await install.checkIn();
        expect([name, result.online, result.serverStatus, result.error?.message]).toEqual([
          name,
          true,
          'VALID',
          undefined,
        ]);
        expect(result.status).toMatchObject({ valid: true, code: 'VALID' });
      }
    }
    // Restarted offline, each verifies its own file (bound to its own device key).
    expect(await client('two-installs-user1', machineA).verify()).toMatchObject({ valid: true });
    expect(await client('two-installs-user2', machineA).verify()).toMatchObject({ valid: true });

    // One seat: another machine is refused while either install remains.
    const other = client('two-installs-other', machineB);
    await expect(other.activate(code)).rejects.toMatchObject({ code: 'TOO_MANY_DEVICES' });
    await second.deactivate();
    expect(await first.checkIn()).toMatchObject({ online: true, serverStatus: 'VALID' });
    await expect(other.activate(code)).rejects.toMatchObject({ code: 'TOO_MANY_DEVICES' });
    await first.deactivate();
    expect(await other.activate(code)).toMatchObject({ valid: true, code: 'VALID' });
  });
});

describe('retired and expired signing keys (item 7)', () => {
  it('a root-signed revoked-key list reaches clients with check-in and GET /keys, and is honoured offline once seen', async () => {
    const code = await registeredCode(1);
    const a = client('revoke-a', machineA);
    await a.activate(code);
    const stateOf = () =>
      JSON.parse(readFileSync(join(dir, 'revoke-a', readdirName(join(dir, 'revoke-a'))), 'utf8')).body;
    const oldFile = stateOf().license as string;
    const oldKey = decodeLicenseFile(oldFile).envelope.kid;

    // The operator rotates and revokes the old key with the root (here in the development data folder).
    running.keys.rotate({ rootPassphrase: DEVELOPMENT_ROOT_PASSPHRASE });
    await expect(async () => running.keys.revoke(running.keys.current().keyId)).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    const list = running.keys.revoke(oldKey, { rootPassphrase: DEVELOPMENT_ROOT_PASSPHRASE });
    expect(list.revoked).toEqual([oldKey]);

    // GET /api/v1/keys carries the list and no longer offers the revoked certificate.
    const keys = (await (await fetch(`${running.url}/api/v1/keys`)).json()) as {
      signing: { keyId: string }[];
      revoked: { list: string; sig: string };
    };
    expect(keys.signing.map((k) => k.keyId)).not.toContain(oldKey);
    expect(verifyRevocationList(keys.revoked, [root]).revoked).toEqual([oldKey]);

    // The check-in answer carries it: the client stores it and gets a file from the current key.
    expect(await a.checkIn()).toMatchObject({ online: true, serverStatus: 'VALID', status: { valid: true } });
    expect(verifyRevocationList(stateOf().revokedKeys, [root]).serial).toBe(list.serial);
    expect(decodeLicenseFile(stateOf().license).envelope.kid).not.toBe(oldKey);

    // Offline, after a restart: a file from the revoked key is refused, even a genuine one.
    const restarted = client('revoke-a', machineA);
    const refused = await restarted.importLicenseFile(oldFile).then(
      () => undefined,
      (e: unknown) => e as LicensorError,
    );
    expect(refused?.code).toBe('FILE_SIGNATURE_INVALID');
    expect(refused?.detail?.reason).toBe('CERTIFICATE_INVALID');
    expect(await restarted.verify()).toMatchObject({ valid: true, code: 'VALID' });

    // Never downgraded: the root signs list #2; after the client has it, the server is restored from a backup
    // holding list #1 and serves that again: the client keeps #2.
    const first = stateOf().revokedKeys;
    running.keys.revoke(oldKey, { rootPassphrase: DEVELOPMENT_ROOT_PASSPHRASE });
    expect((await a.checkIn()).online).toBe(true);
    expect(verifyRevocationList(stateOf().revokedKeys, [root]).serial).toBe(list.serial + 1);
    writeFileSync(join(dir, 'server', 'keys', 'revoked.json'), JSON.stringify(first));
    const served = (await (await fetch(`${running.url}/api/v1/keys`)).json()) as { revoked: unknown };
    expect(verifyRevocationList(served.revoked, [root]).serial).toBe(list.serial);
    expect((await a.checkIn()).online).toBe(true);
    expect(verifyRevocationList(stateOf().revokedKeys, [root]).serial).toBe(list.serial + 1);
  });

  it('an online file cannot outlive its signing certificate: a short-lived, expired leaf issues no perpetual file', async () => {
    const code = await registeredCode(1);
    const genuine = client('leaf-genuine', machineA);
    await genuine.activate(code);
    const real = decodeLicenseFile(
      JSON.parse(readFileSync(join(dir, 'leaf-genuine', readdirName(join(dir, 'leaf-genuine'))), 'utf8')).body.license,
    ).payload;
    // Real files from the server end within their certificate.
    const serverLeafEnd = Date.parse(running.keys.list().find((k) => k.current)!.notAfter);
    expect(Date.parse(real.graceUntil!)).toBeLessThanOrEqual(serverLeafEnd);

    // The attack: a leaf the root certified for one second (a key that leaked, long expired; backdating is the
    // signer's choice), signing a file dated inside that window with a refresh deadline a century away and 999
    // seats.
    const rootKey = decryptPrivateKey(
      readFileSync(join(dir, 'server', 'keys', 'root.key.pem'), 'utf8'),
      DEVELOPMENT_ROOT_PASSPHRASE,
    );
    const leafStart = new Date(Date.parse(new X509Certificate(root).validFrom) + 1000);
    const leaf = issueSigningCertificate(
      { certificatePem: root, privateKey: rootKey },
      { commonName: 'short-lived leaf', now: leafStart, validityDays: 1 / 86_400 },
    );
    while (Date.now() < leafStart.getTime() + 3000) await new Promise((r) => setTimeout(r, 100));
    const signedAt = leafStart;
    const century = new Date(Date.now() + 100 * 365 * 86_400_000).toISOString();
    const forged = signLicense(
      {
        ...real,
        deviceKey: undefined,
        seats: 999,
        expiresAt: null,
        issuedAt: signedAt.toISOString(),
        notBefore: signedAt.toISOString(),
        serverTime: signedAt.toISOString(),
        refreshBy: century,
        graceUntil: century,
      },
      { keyId: leaf.keyId, certificatePem: leaf.certificatePem, privateKey: leaf.privateKey },
    );
    const victim = client('leaf-forged', machineA);
    const err = await victim.importLicenseFile(forged).then(
      () => undefined,
      (e: unknown) => e as LicensorError,
    );
    expect(err?.code).toBe('FILE_SIGNATURE_INVALID');
    expect(err?.detail?.reason).toBe('CERTIFICATE_INVALID');
    expect((await victim.verify()).valid).toBe(false);
  });
});

const hasTools = spawnSync('openssl', ['version']).status === 0 && spawnSync('jq', ['--version']).status === 0;

describe.skipIf(!hasTools)('interop: a third party verifies a License file with openssl alone', () => {
  const script = join(__dirname, '..', 'docs', 'verify-license-openssl.sh');
  const verifyWithOpenssl = (file: string, rootPem: string) => {
    const folder = mkdtempSync(join(tmpdir(), 'licensor-openssl-'));
    try {
      writeFileSync(join(folder, 'license.lic'), file);
      writeFileSync(join(folder, 'root.crt.pem'), rootPem);
      return spawnSync('sh', [script, join(folder, 'license.lic'), join(folder, 'root.crt.pem')], { encoding: 'utf8' });
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  };

  it('runs the documented commands on a file the server issued, and they refuse a changed file or another root', async () => {
    const code = await registeredCode(1);
    await client('openssl', machineA).activate(code);
    const file = JSON.parse(readFileSync(join(dir, 'openssl', readdirName(join(dir, 'openssl'))), 'utf8')).body
      .license as string;

    const ok = verifyWithOpenssl(file, root);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stderr).toContain('OK');
    expect(ok.stderr).toContain('Signature Verified Successfully');
    expect(JSON.parse(ok.stdout)).toEqual(decodeLicenseFile(file).payload);

    // One changed seat count in the signed payload: the signature no longer verifies.
    const { envelope, payload } = decodeLicenseFile(file);
    const changed = Buffer.from(JSON.stringify({ ...payload, seats: payload.seats + 1 })).toString('base64url');
    const tampered = [
      '-----BEGIN LICENSOR LICENSE-----',
      Buffer.from(JSON.stringify({ ...envelope, payload: changed })).toString('base64'),
      '-----END LICENSOR LICENSE-----',
      '',
    ].join('\n');
    const bad = verifyWithOpenssl(tampered, root);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/Signature Verification Failure/);

    // Another root: the chain does not verify.
    const other = createRootCertificate({ commonName: 'Someone else' });
    const foreign = verifyWithOpenssl(file, other.certificatePem);
    expect(foreign.status).not.toBe(0);
    expect(foreign.stderr).toMatch(/unable to get local issuer certificate|verification failed/);
  });
});
