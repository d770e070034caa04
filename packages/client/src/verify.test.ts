import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LicenseVerifier, signLicense } from '@licensor/shared';
import {
  BASE_READINGS,
  clock,
  DAY,
  licenseFor,
  machine,
  otherPki,
  PRODUCT,
  payloadFor,
  pki,
  rejects,
  tempDir,
} from '@licensor/testkit/client';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { evaluateLicense } from './evaluate';
import { fingerprintFromReadings, hashedFingerprint, type MachineFingerprint } from './fingerprint';
import { LicenseManager, type LicenseManagerOptions } from './manager';
import { StateStore, stateFileName } from './store';

const T0 = Date.UTC(2025, 5, 1, 12);
const HOUR = 3_600_000;

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function setup(opts: Partial<LicenseManagerOptions> = {}) {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const c = clock(T0);
  const env = {
    dir,
    clock: c,
    fp: machine() as MachineFingerprint,
    manager: (extra: Partial<LicenseManagerOptions> = {}) =>
      new LicenseManager({
        productId: PRODUCT,
        roots: [pki().rootPem],
        dataDir: dir,
        fingerprint: () => env.fp,
        now: c,
        ...opts,
        ...extra,
      }),
  };
  return env;
}

const bound = (fp = machine()) => hashedFingerprint(fp, PRODUCT);

describe('offline verification', () => {
  it('reports NO_LICENSE before anything is stored', async () => {
    const env = setup();
    const s = await env.manager().verify();
    expect(s).toMatchObject({ valid: false, code: 'NO_LICENSE', license: null });
    expect(s.message).toMatch(/activate/i);
  });

  it('imports a bound file and verifies it again after a restart', async () => {
    const env = setup();
    const file = licenseFor(bound(), { now: T0, sku: 'pro', edition: 'Pro' });
    const first = await env.manager().importLicenseFile(file);
    expect(first).toMatchObject({ valid: true, code: 'VALID' });
    expect(first.license).toMatchObject({ product: PRODUCT, binding: 'components', sku: 'pro', edition: 'Pro' });
    env.clock.advance(HOUR);
    const again = await env.manager().verify();
    expect(again).toMatchObject({ valid: true, code: 'VALID' });
    expect(again.detail.fingerprint?.changed).toEqual([]);
    expect(again.detail.daysLeft).toBe(365);
  });

  it('exposes the signed features: hasFeature and featureValue, nothing once the license is not valid', async () => {
    const env = setup();
    const manager = env.manager();
    expect(manager.hasFeature('export')).toBe(false);
    const file = licenseFor(bound(), {
      now: T0,
      edition: 'Pro',
      features: { export: true, maxProjects: 20, seatsPerTeam: 0 },
      expiresAt: new Date(T0 + 10 * DAY).toISOString(),
    });
    const s = await manager.importLicenseFile(file);
    expect(s.license?.features).toEqual({ export: true, maxProjects: 20, seatsPerTeam: 0 });
    expect(manager.hasFeature('export')).toBe(true);
    expect(manager.hasFeature('maxProjects')).toBe(true);
    expect(manager.featureValue('maxProjects')).toBe(20);
    expect(manager.hasFeature('seatsPerTeam')).toBe(false);
    expect(manager.hasFeature('sync')).toBe(false);
    expect(manager.featureValue('toString')).toBeUndefined();
    env.clock.advance(11 * DAY);
    expect((await manager.verify()).valid).toBe(false);
    expect(manager.hasFeature('export')).toBe(false);
    expect(manager.featureValue('maxProjects')).toBeUndefined();
  });

  it('tolerates one changed component and rejects two (FINGERPRINT_MISMATCH)', async () => {
    const env = setup();
    await env.manager().importLicenseFile(licenseFor(bound(), { now: T0 }));

    env.fp = machine({ diskSerials: ['NEW-DISK-0001'] });
    const one = await env.manager().verify();
    expect(one.code).toBe('VALID');
    expect(one.detail.fingerprint?.changed).toEqual(['diskSerials']);

    env.fp = machine({ diskSerials: ['NEW-DISK-0001'], macs: ['00:11:22:33:44:55'] });
    const two = await env.manager().verify();
    expect(two).toMatchObject({ valid: false, code: 'FINGERPRINT_MISMATCH' });
    expect(two.detail.fingerprint?.changed).toEqual(['diskSerials', 'macs']);
  });

  it('maps the file status to EXPIRED, FROZEN, REVOKED, SUSPENDED and RELEASED', async () => {
    const expected = {
      expired: 'EXPIRED',
      frozen: 'FROZEN',
      revoked: 'REVOKED',
      suspended: 'SUSPENDED',
      released: 'RELEASED',
    };
    for (const [status, code] of Object.entries(expected)) {
      const env = setup();
      const s = await env.manager().importLicenseFile(licenseFor(bound(), { now: T0, status: status as 'frozen' }));
      expect(s).toMatchObject({ valid: false, code });
      expect((await env.manager().verify()).code).toBe(code);
    }
  });

  it('reports EXPIRED after the entitlement end (with the skew allowance)', async () => {
    const env = setup();
    const file = licenseFor(bound(), {
      now: T0,
      expiresAt: new Date(T0 + DAY).toISOString(),
      refreshBy: null,
      graceUntil: null,
    });
    const m = env.manager();
    await m.importLicenseFile(file);
    env.clock.set(T0 + DAY + 4 * 60_000); // inside the 5 min skew
    expect((await m.verify()).code).toBe('VALID');
    env.clock.set(T0 + DAY + 6 * 60_000);
    expect(await m.verify()).toMatchObject({ code: 'EXPIRED', detail: { daysLeft: 0 } });
  });

  it('reports NOT_YET_VALID before notBefore', async () => {
    const env = setup();
    const file = licenseFor(bound(), { now: T0, notBefore: new Date(T0 + 10 * DAY).toISOString() });
    const m = env.manager();
    expect((await m.importLicenseFile(file)).code).toBe('NOT_YET_VALID');
    env.clock.set(T0 + 10 * DAY);
    expect((await m.verify()).code).toBe('VALID');
  });

  it('keeps a file past refreshBy VALID with a warning inside grace, then GRACE_PERIOD_OVER', async () => {
    const env = setup();
    const m = env.manager();
    await m.importLicenseFile(licenseFor(bound(), { now: T0 })); // refreshBy +14 d, graceUntil +21 d
    env.clock.set(T0 + 15 * DAY);
    const grace = await m.verify();
    expect(grace).toMatchObject({ valid: true, code: 'VALID', detail: { graceDaysLeft: 6 } });
    expect(grace.detail.warning).toMatch(/6 more days/);
    env.clock.set(T0 + 22 * DAY);
    expect(await m.verify()).toMatchObject({ valid: false, code: 'GRACE_PERIOD_OVER' });
  });

  it('reports FILE_EXPIRED past refreshBy when the file has no grace period', async () => {
    const env = setup();
    const m = env.manager();
    await m.importLicenseFile(
      licenseFor(bound(), { now: T0, refreshBy: new Date(T0 + DAY).toISOString(), graceUntil: null }),
    );
    env.clock.set(T0 + 2 * DAY);
    expect((await m.verify()).code).toBe('FILE_EXPIRED');
  });

  it('detects a clock set back by more than the tolerance (TIME_MODIFIED) and tolerates less', async () => {
    const env = setup({ rollbackToleranceMs: HOUR });
    const m = env.manager();
    await m.importLicenseFile(licenseFor(bound(), { now: T0 }));
    env.clock.set(T0 + 3 * DAY);
    expect((await m.verify()).code).toBe('VALID'); // raises the high-water mark to T0 + 3 d

    env.clock.set(T0 + 3 * DAY - 30 * 60_000);
    expect((await env.manager().verify()).code).toBe('VALID');

    env.clock.set(T0 + 3 * DAY - 2 * HOUR);
    const back = await env.manager().verify();
    expect(back).toMatchObject({ valid: false, code: 'TIME_MODIFIED', detail: { clock: { behindMinutes: 120 } } });
    // The mark is protected: a rollback does not lower it.
    env.clock.set(T0 + 3 * DAY + 1000);
    expect((await env.manager().verify()).code).toBe('VALID');
  });

  it('gains nothing from a rollback inside the tolerance: expiry and grace are judged at the trusted mark', async () => {
    const env = setup({ rollbackToleranceMs: HOUR });
    await env
      .manager()
      .importLicenseFile(
        licenseFor(bound(), { now: T0, expiresAt: new Date(T0 + 30 * DAY).toISOString(), refreshBy: null }),
      );
    env.clock.set(T0 + 30 * DAY + 20 * 60_000); // past expiresAt and its 5-minute skew allowance
    expect((await env.manager().verify()).code).toBe('EXPIRED'); // persists the mark
    env.clock.set(T0 + 30 * DAY - 30 * 60_000); // 50 minutes back: inside the tolerance, before expiresAt
    expect(await env.manager().verify()).toMatchObject({ valid: false, code: 'EXPIRED' });

    const grace = setup({ rollbackToleranceMs: HOUR });
    await grace.manager().importLicenseFile(licenseFor(bound(), { now: T0 })); // graceUntil T0 + 21 d
    grace.clock.set(T0 + 21 * DAY + 20 * 60_000);
    expect((await grace.manager().verify()).code).toBe('GRACE_PERIOD_OVER');
    grace.clock.set(T0 + 21 * DAY - 30 * 60_000);
    expect(await grace.manager().verify()).toMatchObject({ valid: false, code: 'GRACE_PERIOD_OVER' });
  });

  it("detects a clock behind the file's own serverTime even without history", async () => {
    const env = setup();
    env.clock.set(T0 - 2 * DAY);
    const file = licenseFor(bound(), { now: T0, notBefore: new Date(T0 - 10 * DAY).toISOString() });
    const err = await rejects(env.manager().importLicenseFile(file));
    expect(err.code).toBe('TIME_MODIFIED');
  });

  it('rejects every 1-bit change of the file (FILE_SIGNATURE_INVALID)', () => {
    const file = licenseFor(bound(), { now: T0 });
    const verifier = new LicenseVerifier({ roots: [pki().rootPem] });
    const base = { verifier, productId: PRODUCT, fingerprint: machine(), now: T0 };
    expect(evaluateLicense({ ...base, license: file }).status.code).toBe('VALID');
    const begin = file.indexOf('-----BEGIN');
    const end = file.indexOf('-----END') + '-----END LICENSOR LICENSE-----'.length;
    const codes = new Set<string>();
    // Collected and asserted once: an `expect` per position cost a good part of the evaluation.
    const accepted: string[] = [];
    for (let i = begin; i < end; i++) {
      // One bit per position, cycling through the low six bits (all ASCII-preserving).
      const bit = 1 << (i % 6);
      const flipped = file.slice(0, i) + String.fromCharCode(file.charCodeAt(i) ^ bit) + file.slice(i + 1);
      const { status } = evaluateLicense({ ...base, license: flipped });
      if (status.valid) accepted.push(`position ${i} bit ${bit}`);
      codes.add(status.code);
    }
    expect(accepted).toEqual([]);
    expect([...codes]).toEqual(['FILE_SIGNATURE_INVALID']);
  });

  it('rejects a file signed under another root, and an algorithm outside the allow-list', async () => {
    const env = setup();
    const foreign = licenseFor(bound(), { now: T0 }, otherPki().signer);
    const err = await rejects(env.manager().importLicenseFile(foreign));
    expect(err.code).toBe('FILE_SIGNATURE_INVALID');
    expect(err.detail?.reason).toBe('CERTIFICATE_INVALID');

    // Same bytes, but the envelope claims another algorithm: never trusted beyond the allow-list.
    const file = licenseFor(bound(), { now: T0 });
    const body = file.split('\n').slice(1, -2).join('');
    const envelope = JSON.parse(Buffer.from(body, 'base64').toString('utf8'));
    const forged = `-----BEGIN LICENSOR LICENSE-----\n${Buffer.from(JSON.stringify({ ...envelope, alg: 'RS256' })).toString('base64')}\n-----END LICENSOR LICENSE-----\n`;
    const err2 = await rejects(env.manager().importLicenseFile(forged));
    expect(err2).toMatchObject({ code: 'FILE_SIGNATURE_INVALID', detail: { reason: 'UNSUPPORTED_ALGORITHM' } });
    expect((await env.manager().verify()).code).toBe('NO_LICENSE');
  });

  it('rejects a file for another product (PRODUCT_MISMATCH)', async () => {
    const env = setup();
    const file = licenseFor(hashedFingerprint(machine(), 'other-product'), { now: T0, product: 'other-product' });
    expect((await rejects(env.manager().importLicenseFile(file))).code).toBe('PRODUCT_MISMATCH');
    const verifier = new LicenseVerifier({ roots: [pki().rootPem] });
    expect(
      evaluateLicense({ verifier, license: file, productId: PRODUCT, fingerprint: machine(), now: T0 }).status.code,
    ).toBe('PRODUCT_MISMATCH');
  });

  it('rejects a file bound to a device key this machine does not hold', async () => {
    const env = setup();
    const file = licenseFor(bound(), { now: T0, deviceKey: 'A'.repeat(43) });
    const err = await rejects(env.manager().importLicenseFile(file));
    expect(err).toMatchObject({ code: 'FINGERPRINT_MISMATCH', detail: { reason: 'device-key' } });
  });

  it('refuses to replace a file with an older one of the same entitlement', async () => {
    const env = setup();
    const m = env.manager();
    const older = licenseFor(bound(), { now: T0 });
    env.clock.set(T0 + DAY);
    await m.importLicenseFile(licenseFor(bound(), { now: T0 + DAY, status: 'frozen' }));
    const err = await rejects(m.importLicenseFile(older));
    expect(err.code).toBe('INVALID_INPUT');
    expect((await m.verify()).code).toBe('FROZEN');
  });

  it('verifies a file bound to a KooGallery fingerprint string component by component', async () => {
    const env = setup();
    // ISCDesk reads the CPUID where we read the brand: one component differs, still VALID (all but one).
    const iscdesk = env.fp.koogallery.replace(/\|[^|]*$/, '|BFEBFBFF00090672');
    const file = signLicense(
      payloadFor({
        now: T0,
        family: 'C',
        fingerprint: { rule: { type: 'allButOne' }, koogallery: iscdesk },
        refreshBy: null,
        graceUntil: null,
      }),
      pki().signer,
    );
    const s = await env.manager().importLicenseFile(file);
    expect(s).toMatchObject({ code: 'VALID', license: { binding: 'koogallery', family: 'C' } });
    expect(s.detail.fingerprint?.changed).toEqual(['cpu']);

    env.fp = machine({ macs: ['00:11:22:33:44:55'], diskSerials: ['OTHER-DISK'] });
    // MAC and disk changed too: three of four differ.
    const other = await env.manager().verify();
    expect(other.code).toBe('FINGERPRINT_MISMATCH');
  });
});

describe('fingerprint tolerance (property)', () => {
  it('a file stays VALID iff at most one component changed; the state opens iff at least two are unchanged', () => {
    const names = ['machineId', 'hardwareUuid', 'baseboardSerial', 'cpu', 'diskSerials', 'macs'] as const;
    const changedValue = (name: (typeof names)[number]) =>
      name === 'diskSerials' ? ['CHANGED-DISK-1'] : name === 'macs' ? ['00:11:22:33:44:55'] : `CHANGED-${name}-1`;
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const store = new StateStore({ dataDir: dir, productId: PRODUCT });
    store.save({ v: 1, productId: PRODUCT, highWater: T0 }, machine());
    const stateText = readFileSync(join(dir, stateFileName(PRODUCT)), 'utf8');
    const verifier = new LicenseVerifier({ roots: [pki().rootPem] });
    const file = licenseFor(bound(), { now: T0 });
    fc.assert(
      fc.property(fc.subarray([...names]), (changed) => {
        const overrides = Object.fromEntries(changed.map((n) => [n, changedValue(n)]));
        const fp = machine(overrides);
        const { status } = evaluateLicense({ verifier, license: file, productId: PRODUCT, fingerprint: fp, now: T0 });
        expect(status.code).toBe(changed.length <= 1 ? 'VALID' : 'FINGERPRINT_MISMATCH');
        expect(new StateStore({ dataDir: dir, productId: PRODUCT }).open(stateText, fp).kind).toBe(
          names.length - changed.length >= 2 ? 'ok' : 'tampered',
        );
      }),
      { numRuns: 64 },
    );
  });
});

describe('state integrity', () => {
  async function stored() {
    const env = setup();
    await env.manager().importLicenseFile(licenseFor(bound(), { now: T0 }));
    return { env, path: join(env.dir, stateFileName(PRODUCT)) };
  }

  it('writes the state 0600 in a 0700 folder, without the license code or raw readings', async () => {
    const { env, path } = await stored();
    if (process.platform !== 'win32') {
      const { statSync } = await import('node:fs');
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(statSync(env.dir).mode & 0o777).toBe(0o700);
      expect(statSync(join(env.dir, 'install-salt')).mode & 0o777).toBe(0o600);
    }
    const text = readFileSync(path, 'utf8');
    expect(text).not.toContain(machine().components.machineId!);
    expect(text).not.toContain('04:7C:16:5E:E3:5D');
  });

  it('detects every 1-bit change of the state file (STATE_TAMPERED)', async () => {
    const { env, path } = await stored();
    const original = readFileSync(path);
    const store = new StateStore({ dataDir: env.dir, productId: PRODUCT });
    expect(store.load(env.fp).kind).toBe('ok');
    const flipped = (i: number) => {
      const copy = Buffer.from(original);
      copy[i] = copy[i]! ^ (1 << (i % 7));
      return copy;
    };
    const flip = (i: number) => writeFileSync(path, flipped(i));
    const undetected: string[] = [];
    for (let i = 0; i < original.length; i++) {
      // Bytes that are no longer UTF-8 decode to U+FFFD: still a change, still detected.
      const { kind } = store.open(flipped(i).toString('utf8'), env.fp);
      if (kind !== 'tampered') undetected.push(`byte ${i}: ${kind}`);
    }
    expect(undetected).toEqual([]);
    // And through the manager, at a sample of positions.
    const m = env.manager();
    for (let i = 0; i < original.length; i += 97) {
      flip(i);
      expect((await m.verify()).code, `byte ${i}`).toBe('STATE_TAMPERED');
    }
    writeFileSync(path, original);
    expect((await m.verify()).code).toBe('VALID');
  });

  it('detects an edited high-water mark (rolling the trusted time back)', async () => {
    const { env, path } = await stored();
    const m = env.manager();
    env.clock.set(T0 + 5 * DAY);
    await m.verify();
    const state = JSON.parse(readFileSync(path, 'utf8'));
    state.body.highWater = T0;
    writeFileSync(path, JSON.stringify(state));
    env.clock.set(T0 + DAY);
    expect(await m.verify()).toMatchObject({ code: 'STATE_TAMPERED', detail: { reason: 'modified' } });
  });

  it('detects a state copied to another machine, and a missing install salt', async () => {
    const { env, path } = await stored();
    env.fp = machine({
      machineId: 'ffeeddccbbaa99887766554433221100',
      hardwareUuid: '00000000-1111-2222-3333-444444444444',
      baseboardSerial: 'OTHER-BOARD',
      cpu: 'AMD Ryzen 7 5800X',
      diskSerials: ['OTHER-DISK'],
      macs: ['00:11:22:33:44:55'],
    });
    expect(await env.manager().verify()).toMatchObject({ code: 'STATE_TAMPERED', detail: { reason: 'other-machine' } });

    env.fp = machine();
    renameSync(join(env.dir, 'install-salt'), join(env.dir, 'salt.bak'));
    expect(await env.manager().verify()).toMatchObject({ code: 'STATE_TAMPERED', detail: { reason: 'salt-missing' } });
    expect(readFileSync(path).length).toBeGreaterThan(0);
  });

  it('re-reads patiently when a timed-out first reading does not open the state or match the file', async () => {
    const { env } = await stored();
    // A busy start: only the machine id answered in time.
    const starved = fingerprintFromReadings({ machineId: BASE_READINGS.machineId, timedOut: ['diskLayout', 'system'] });
    const calls: boolean[] = [];
    const m = env.manager({
      fingerprint: ({ patient }) => {
        calls.push(patient);
        return patient ? machine() : starved;
      },
    });
    expect((await m.verify()).code).toBe('VALID');
    expect(calls).toEqual([false, true]);
    // A complete reading without timeouts that does not match is not re-read: it is another machine.
    const other = machine({
      machineId: 'ab'.repeat(16),
      hardwareUuid: 'UUID-OTHER',
      baseboardSerial: 'BOARD-OTHER',
      cpu: 'CPU OTHER',
      diskSerials: ['DISK-OTHER'],
      macs: ['00:11:22:33:44:55'],
    });
    const calls2: boolean[] = [];
    const m2 = env.manager({
      fingerprint: ({ patient }) => {
        calls2.push(patient);
        return other;
      },
    });
    expect((await m2.verify()).code).toBe('STATE_TAMPERED');
    expect(calls2).toEqual([false]);
  });

  it('recovers from STATE_TAMPERED by reset + import', async () => {
    const { env, path } = await stored();
    writeFileSync(path, '{}');
    const m = env.manager();
    expect((await m.verify()).code).toBe('STATE_TAMPERED');
    await m.reset();
    expect((await m.verify()).code).toBe('NO_LICENSE');
    expect((await m.importLicenseFile(licenseFor(bound(), { now: T0 }))).code).toBe('VALID');
  });

  it('does not rewrite the state on every verify', async () => {
    const { env, path } = await stored();
    const m = env.manager();
    await m.verify();
    const before = readFileSync(path, 'utf8');
    env.clock.advance(30_000);
    for (let i = 0; i < 20; i++) await m.verify();
    expect(readFileSync(path, 'utf8')).toBe(before);
    env.clock.advance(61_000);
    await m.verify();
    expect(readFileSync(path, 'utf8')).not.toBe(before);
  });

  it('emits status events only when the status changes', async () => {
    const env = setup();
    const m = env.manager();
    const seen: string[] = [];
    m.on('status', (s, prev) => seen.push(`${prev?.code ?? '-'}>${s.code}`));
    await m.verify();
    await m.verify();
    await m.importLicenseFile(licenseFor(bound(), { now: T0 }));
    await m.verify();
    env.clock.set(T0 + 15 * DAY);
    await m.verify();
    env.clock.set(T0 + 22 * DAY);
    await m.verify();
    expect(seen).toEqual(['->NO_LICENSE', 'NO_LICENSE>VALID', 'VALID>VALID', 'VALID>GRACE_PERIOD_OVER']);
    expect(m.status?.code).toBe('GRACE_PERIOD_OVER');
  });
});
