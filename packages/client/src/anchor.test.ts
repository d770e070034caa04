import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clock, DAY, licenseFor, machine, PRODUCT, pki, tempDir } from '@licensor/testkit/client';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultAnchorDir } from './anchor';
import { hashedFingerprint } from './fingerprint';
import { LicenseManager, type LicenseManagerOptions } from './manager';
import type { SecretStore } from './store';
import { stateFileName } from './store';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanups.splice(0)) fn();
});

function install(extra: Partial<LicenseManagerOptions> = {}) {
  const data = tempDir();
  const anchors = tempDir('licensor-anchors-');
  cleanups.push(data.cleanup, anchors.cleanup);
  const c = clock(Date.now());
  const make = (more: Partial<LicenseManagerOptions> = {}) =>
    new LicenseManager({
      productId: PRODUCT,
      roots: [pki().rootPem],
      dataDir: data.dir,
      anchorDir: anchors.dir,
      fingerprint: () => machine(),
      now: c,
      ...extra,
      ...more,
    });
  return { dataDir: data.dir, anchorDir: anchors.dir, c, make, statePath: join(data.dir, stateFileName(PRODUCT)) };
}

describe('anti-rollback anchors (issue 13, item 6) — offline files, no server', () => {
  it('writes the anchor outside the data folder and refuses a restored copy of the state', async () => {
    const app = install();
    const file = licenseFor(undefined, { now: app.c() });
    expect((await app.make().importLicenseFile(file)).code).toBe('VALID');
    expect(readdirSync(app.anchorDir)).toHaveLength(1);
    const anchor = JSON.parse(readFileSync(join(app.anchorDir, readdirSync(app.anchorDir)[0]!), 'utf8'));
    expect(anchor).toMatchObject({ v: 1, generation: 1 });
    copyFileSync(app.statePath, `${app.statePath}.copy`);

    app.c.advance(40 * DAY);
    expect((await app.make().verify()).code).toBe('GRACE_PERIOD_OVER');
    app.c.advance(-40 * DAY);
    copyFileSync(`${app.statePath}.copy`, app.statePath);
    const restored = await app.make().verify();
    expect(restored).toMatchObject({ code: 'TIME_MODIFIED', detail: { reason: 'state-rolled-back' } });
    // An offline install has no check-in to vouch for it: importing the file again is refused too.
    const err = await app
      .make()
      .importLicenseFile(file)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TIME_MODIFIED', detail: { reason: 'state-rolled-back' } });
    expect((err as Error).message).toMatch(/Connect to the internet and check in/);
  });

  it('deleting the state does not reset the trusted-time mark: the anchor carries it', async () => {
    const app = install();
    const file = licenseFor(undefined, { now: app.c() }); // bound to no device key: importable afresh
    await app.make().importLicenseFile(file);
    app.c.advance(40 * DAY);
    expect((await app.make().verify()).code).toBe('GRACE_PERIOD_OVER');
    app.c.advance(-40 * DAY);
    rmSync(app.statePath);
    const err = await app
      .make()
      .importLicenseFile(file)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TIME_MODIFIED' });
    expect((await app.make().verify()).code).toBe('NO_LICENSE');
  });

  it('a state restored together with a deleted anchor is accepted (documented limit), a garbled anchor too', async () => {
    const app = install();
    await app.make().importLicenseFile(licenseFor(undefined, { now: app.c() }));
    copyFileSync(app.statePath, `${app.statePath}.copy`);
    await app.make().importLicenseFile(licenseFor(undefined, { now: app.c() + 1000 }));
    copyFileSync(`${app.statePath}.copy`, app.statePath);
    expect((await app.make().verify()).code).toBe('TIME_MODIFIED');
    const [name] = readdirSync(app.anchorDir);
    writeFileSync(join(app.anchorDir, name!), '{"v":1,"generation":"lots"}');
    expect((await app.make().verify()).code).toBe('VALID');
  });

  it('no false alarm when another process saves between the state read and the anchor read', async () => {
    const app = install();
    await app.make().importLicenseFile(licenseFor(undefined, { now: app.c() }));
    let other: LicenseManager | undefined;
    const secrets = new Map<string, string>();
    const racing: SecretStore = {
      // While this manager reads its anchors, another process (state first, then anchors) saves.
      get: async (k) => {
        if (other && k.includes(':anchor:')) {
          const o = other;
          other = undefined;
          app.c.advance(5 * 60_000);
          await o.verify(); // persists the high-water mark: a save
        }
        return secrets.get(k);
      },
      set: (k, v) => void secrets.set(k, v),
    };
    const reader = app.make({ secretStore: racing });
    other = app.make();
    await other.verify(); // loaded before the race
    expect((await reader.verify()).code).toBe('VALID');
    expect(other).toBeUndefined(); // the race happened
  });

  it('keeps the anchor in the secret store when one is given, even with no anchor folder', async () => {
    const secrets = new Map<string, string>();
    const secretStore: SecretStore = { get: (k) => secrets.get(k), set: (k, v) => void secrets.set(k, v) };
    const app = install({ secretStore, anchorDir: null });
    await app.make().importLicenseFile(licenseFor(undefined, { now: app.c() }));
    copyFileSync(app.statePath, `${app.statePath}.copy`);
    await app.make().importLicenseFile(licenseFor(undefined, { now: app.c() + 1000 }));
    expect(JSON.parse([...secrets.values()][0]!)).toMatchObject({ v: 1, generation: 2 });
    copyFileSync(`${app.statePath}.copy`, app.statePath);
    expect((await app.make().verify()).code).toBe('TIME_MODIFIED');
    expect(existsSync(join(app.dataDir, 'anchors'))).toBe(false);
  });

  it('defaults to a per-user folder outside the data folder on every platform', () => {
    expect(defaultAnchorDir({ platform: 'linux', env: {}, home: '/home/u' })).toBe(
      '/home/u/.local/state/licensor/anchors',
    );
    expect(defaultAnchorDir({ platform: 'linux', env: { XDG_STATE_HOME: '/s' }, home: '/home/u' })).toBe(
      '/s/licensor/anchors',
    );
    expect(defaultAnchorDir({ platform: 'darwin', env: {}, home: '/Users/u' })).toBe(
      '/Users/u/Library/Application Support/Licensor Anchors',
    );
    expect(defaultAnchorDir({ platform: 'win32', env: { LOCALAPPDATA: 'C:\\L' }, home: 'C:\\u' })).toBe(
      'C:\\L\\Licensor\\anchors',
    );
  });
});

describe('duplicate JSON keys in a License file (issue 13, item 10) — through importLicenseFile', () => {
  it('refuses a genuinely signed file whose envelope, payload or nested fingerprint repeats a key', async () => {
    const { X509Certificate } = await import('node:crypto');
    const { domainSign, LICENSE_ARMOR_BEGIN, LICENSE_ARMOR_END } = await import('@licensor/shared');
    const { signer } = pki();
    const x5c = [new X509Certificate(signer.certificatePem).raw.toString('base64')];
    const app = install();
    const valid = licenseFor(hashedFingerprint(machine(), PRODUCT), { now: app.c(), seats: 1 });
    const body = (text: string) => Buffer.from(text.split('\n').slice(1, -2).join(''), 'base64').toString('utf8');
    const envelope = JSON.parse(body(valid));
    const payloadText = Buffer.from(envelope.payload, 'base64url').toString('utf8');
    const armour = (json: string) => {
      const b64 = Buffer.from(json).toString('base64');
      return [LICENSE_ARMOR_BEGIN, ...(b64.match(/.{1,64}/g) ?? []), LICENSE_ARMOR_END, ''].join('\n');
    };
    const resign = (text: string) => {
      const payload = Buffer.from(text).toString('base64url');
      return armour(
        JSON.stringify({ ...envelope, x5c, payload, sig: domainSign('license', payload, signer.privateKey) }),
      );
    };
    const cases = {
      envelope: armour(body(valid).replace('{', `{"kid":"${envelope.kid}",`)),
      payload: resign(payloadText.replace('{', '{"seats":999,')),
      nested: resign(payloadText.replace('"components":{', `"components":{"cpu":["${'c'.repeat(43)}"],`)),
    };
    const manager = app.make({ fingerprint: () => machine() });
    for (const [level, file] of Object.entries(cases)) {
      const err = await manager.importLicenseFile(file).catch((e: unknown) => e);
      expect(err, level).toMatchObject({ code: 'FILE_SIGNATURE_INVALID', detail: { reason: 'FILE_MALFORMED' } });
      expect((err as Error & { detail: { explanation: string } }).detail.explanation, level).toMatch(/appears twice/);
    }
    // The same bytes without the duplicate are accepted by the same path (the control).
    expect((await manager.importLicenseFile(resign(payloadText))).code).toBe('VALID');
  });
});
