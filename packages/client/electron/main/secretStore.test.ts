import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRootCertificate } from '@licensor/shared';
import { clock, DAY, licenseFor, machine, PRODUCT, pki } from '@licensor/testkit/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fingerprintFromReadings, LicenseManager } from '../../src';
import type { SafeStorageLike } from './electronTypes';
import { chooseSecretStore } from './secretStore';

/** A reversible stand-in for the OS cipher: XOR with a key, marked so tests can see it is not plain text. */
function fakeSafeStorage(
  opts: { async?: boolean; asyncAvailable?: boolean; syncAvailable?: boolean; reEncrypt?: boolean } = {},
) {
  let key = 0x5a;
  const enc = (s: string) => Buffer.concat([Buffer.from([key]), Buffer.from(s, 'utf8').map((b) => b ^ key)]);
  const dec = (b: Buffer) => {
    if (b[0] !== key) throw new Error('wrong key');
    return Buffer.from(b.subarray(1).map((x) => x ^ key)).toString('utf8');
  };
  const calls: string[] = [];
  const s: SafeStorageLike & { rotate(): void; calls: string[] } = {
    calls,
    rotate: () => {
      key = 0x33;
    },
    isEncryptionAvailable: () => opts.syncAvailable ?? true,
    encryptString: (t) => {
      calls.push('encryptString');
      return enc(t);
    },
    decryptString: (b) => {
      calls.push('decryptString');
      return dec(b);
    },
  };
  if (opts.async !== false) {
    s.isAsyncEncryptionAvailable = async () => opts.asyncAvailable ?? true;
    s.encryptStringAsync = async (t) => {
      calls.push('encryptStringAsync');
      return enc(t);
    };
    s.decryptStringAsync = async (b) => {
      calls.push('decryptStringAsync');
      // After a rotation the old ciphertext still opens once, flagged for re-encryption.
      if (opts.reEncrypt && b[0] === 0x5a && key !== 0x5a) {
        return { result: Buffer.from(b.subarray(1).map((x) => x ^ 0x5a)).toString('utf8'), shouldReEncrypt: true };
      }
      return { result: dec(b), shouldReEncrypt: false };
    };
  }
  return s;
}

let dir: string;
beforeEach(() => {
  dir = join(mkdtempSync(join(tmpdir(), 'licensor-secrets-')), 'secrets');
});
afterEach(() => rmSync(join(dir, '..'), { recursive: true, force: true }));

describe('secret store over safeStorage', () => {
  it('prefers the asynchronous API, stores ciphertext only, in 0600 files named by hash', async () => {
    const safe = fakeSafeStorage();
    const { mode, store } = await chooseSecretStore(safe, dir);
    expect(mode).toBe('async');
    await store!.set('licensor:OFFI0001:device-key:abc', 'PRIVATE-KEY-MATERIAL');
    const [file] = readdirSync(dir);
    expect(file).toMatch(/^[0-9a-f]{32}\.bin$/);
    expect(readFileSync(join(dir, file!)).toString('latin1')).not.toContain('PRIVATE');
    if (process.platform !== 'win32') expect(statSync(join(dir, file!)).mode & 0o077).toBe(0);
    expect(await store!.get('licensor:OFFI0001:device-key:abc')).toBe('PRIVATE-KEY-MATERIAL');
    expect(await store!.get('licensor:OFFI0001:device-key:other')).toBeUndefined();
    await store!.delete!('licensor:OFFI0001:device-key:abc');
    expect(readdirSync(dir)).toEqual([]);
    expect(safe.calls).toEqual(['encryptStringAsync', 'decryptStringAsync']);
  });

  it('re-encrypts a secret when the OS says its key rotated', async () => {
    const safe = fakeSafeStorage({ reEncrypt: true });
    const { store } = await chooseSecretStore(safe, dir);
    await store!.set('k', 'value');
    safe.rotate();
    expect(await store!.get('k')).toBe('value');
    expect(safe.calls).toEqual(['encryptStringAsync', 'decryptStringAsync', 'encryptStringAsync']);
    expect(await store!.get('k')).toBe('value');
  });

  it('falls back to the synchronous API on older Electron, or when async encryption is unavailable', async () => {
    for (const safe of [fakeSafeStorage({ async: false }), fakeSafeStorage({ asyncAvailable: false })]) {
      const { mode, store } = await chooseSecretStore(safe, dir);
      expect(mode).toBe('sync');
      await store!.set('k', 'v');
      expect(await store!.get('k')).toBe('v');
      expect(safe.calls).toEqual(['encryptString', 'decryptString']);
    }
  });

  it('falls back to the library protection without safeStorage, without encryption, or on basic_text', async () => {
    expect(await chooseSecretStore(undefined, dir)).toEqual({ mode: 'library', store: undefined });
    expect((await chooseSecretStore(fakeSafeStorage({ asyncAvailable: false, syncAvailable: false }), dir)).mode).toBe(
      'library',
    );
    expect((await chooseSecretStore(fakeSafeStorage(), dir, 'basic_text')).mode).toBe('library');
    expect((await chooseSecretStore(fakeSafeStorage(), dir, 'gnome_libsecret')).mode).toBe('async');
    expect(existsSync(dir)).toBe(false);
  });

  it('reads a damaged or foreign secret as missing (the manager then asks to activate again)', async () => {
    const safe = fakeSafeStorage({ async: false });
    const { store } = await chooseSecretStore(safe, dir);
    await store!.set('k', 'v');
    safe.rotate();
    expect(await store!.get('k')).toBeUndefined();
  });
});

describe('with the real LicenseManager', () => {
  it('keeps the device private key in the secret store, never in the state file', async () => {
    const safe = fakeSafeStorage();
    const { store } = await chooseSecretStore(safe, dir);
    const dataDir = join(dir, '..', 'data');
    const manager = new LicenseManager({
      productId: 'OFFI0001',
      roots: [createRootCertificate({ commonName: 'Secret Test Root' }).certificatePem],
      dataDir,
      secretStore: store,
      fingerprint: () =>
        fingerprintFromReadings({ machineId: 'b'.repeat(32), baseboardSerial: 'B-1', diskSerials: ['D-1'] }),
    });
    const request = await manager.createOfflineRequest('PL0123456789');
    expect(request).toContain('BEGIN LICENSOR ACTIVATION REQUEST');
    expect(readdirSync(dir)).toHaveLength(2); // the device key and the state's anti-rollback anchor
    expect(safe.calls).toContain('encryptStringAsync');
    const state = readdirSync(dataDir).find((f) => f.startsWith('state-'))!;
    const text = readFileSync(join(dataDir, state), 'utf8');
    expect(text).toContain('"inSecretStore": true');
    expect(text).not.toContain('"sealed"');
    // A second request reuses the pending key: it is read back through the store.
    await manager.createOfflineRequest('PL0123456789');
    expect(safe.calls).toContain('decryptStringAsync');
    expect(readdirSync(dir)).toHaveLength(2);
  });

  it('a whole data folder restored from a backup (state and secrets/, anchor secret included) is refused', async () => {
    // As the shell lays it out: safeStorage ciphertexts in <dataDir>/secrets/, so the secret-store anchor travels
    // with a backup of the data folder; the anchor file in the per-user folder outside it is what catches that.
    const root = join(dir, '..');
    const dataDir = join(root, 'licensor');
    const anchorDir = join(root, 'anchors');
    const { store } = await chooseSecretStore(fakeSafeStorage(), join(dataDir, 'secrets'));
    const c = clock(Date.UTC(2026, 0, 10));
    const make = () =>
      new LicenseManager({
        productId: PRODUCT,
        roots: [pki().rootPem],
        dataDir,
        anchorDir,
        secretStore: store,
        fingerprint: () => machine(),
        now: c,
      });
    expect((await make().importLicenseFile(licenseFor(undefined, { now: c() }))).code).toBe('VALID');
    cpSync(dataDir, join(root, 'backup'), { recursive: true }); // the backup: state, install salt, secrets/

    c.advance(40 * DAY);
    expect((await make().verify()).code).toBe('GRACE_PERIOD_OVER'); // a save: generation 2 in both anchors
    c.advance(-40 * DAY);
    rmSync(dataDir, { recursive: true });
    cpSync(join(root, 'backup'), dataDir, { recursive: true }); // the whole folder put back
    expect(await make().verify()).toMatchObject({ code: 'TIME_MODIFIED', detail: { reason: 'state-rolled-back' } });
  });
});
