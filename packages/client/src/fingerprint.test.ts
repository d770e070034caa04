import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateLicenseCode, LICENSE_CODES, parseKooGalleryFingerprint } from '@licensor/shared';
import { BASE_READINGS, tempDir } from '@licensor/testkit/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defaultDataDir } from './dataDir';
import {
  bootFingerprintCache,
  collectFingerprint,
  DEFAULT_READING_TIMEOUT_MS,
  defaultFingerprintCacheDir,
  type FingerprintReadings,
  fingerprintFromReadings,
  fingerprintProvider,
  hashedFingerprint,
  PATIENT_READING_TIMEOUT_MS,
  type SharedCalls,
  type SystemInformationLike,
  systemInformationSource,
} from './fingerprint';
import { describeStatus, licenseCodeHint, statusText } from './messages';

function fakeSi(
  overrides: Partial<Record<keyof SystemInformationLike, () => Promise<unknown>>> = {},
): SystemInformationLike {
  const si: SystemInformationLike = {
    uuid: async () => ({
      os: '3d1219c7c4c5404aaa1f6d2a48adfda4',
      hardware: '4C4C4544-0042-3510-8052-B4C04F4E3132',
      macs: [],
    }),
    system: async () => ({ uuid: '', virtual: false }),
    baseboard: async () => ({ serial: 'To be filled by O.E.M.' }),
    cpu: async () => ({ manufacturer: 'Intel', brand: 'Core i7-12700H', family: '6', model: '154', stepping: '3' }),
    diskLayout: async () => [
      { serialNum: 'S6B0NL0T123456', interfaceType: 'NVMe' },
      { serialNum: 'USB-STICK-1', interfaceType: 'USB' },
      { serialNum: '' },
    ],
    networkInterfaces: async () => [
      { iface: 'lo', mac: '00:00:00:00:00:00', internal: true, virtual: false },
      { iface: 'eth0', mac: '04:7c:16:5e:e3:5d', internal: false, virtual: false },
      { iface: 'docker0', mac: '02:42:ac:11:00:02', internal: false, virtual: false },
      { iface: 'vmnet8', mac: '00:50:56:c0:00:08', internal: false, virtual: true },
      { iface: 'wlan0', mac: '3C-A9-F4-12-34-56', internal: false, virtual: false },
    ],
  };
  return { ...si, ...overrides } as SystemInformationLike;
}

const noContainer = { exists: () => false, readText: () => undefined };

describe('collectFingerprint', () => {
  it('maps systeminformation readings, dropping placeholders, USB disks and virtual NICs', async () => {
    const source = systemInformationSource({ si: fakeSi(), ...noContainer });
    const fp = await collectFingerprint({ source });
    expect(fp.components).toEqual({
      machineId: '3D1219C7C4C5404AAA1F6D2A48ADFDA4',
      hardwareUuid: '4C4C4544-0042-3510-8052-B4C04F4E3132',
      cpu: 'INTEL CORE I7-12700H (6/154/3)',
      diskSerials: ['S6B0NL0T123456'],
      macs: ['04:7C:16:5E:E3:5D', '3C:A9:F4:12:34:56'],
    });
    expect(fp).toMatchObject({ usableComponents: 5, sufficient: true, missing: ['baseboardSerial'] });
    expect(fp.virtual).toEqual({ detected: false, signals: [] });
    // KooGallery form (spec 8.3): MAC|disk|board|CPU, the unreadable board left empty.
    expect(fp.koogallery).toBe('04:7C:16:5E:E3:5D,3C:A9:F4:12:34:56|S6B0NL0T123456||INTEL CORE I7-12700H (6/154/3)');
    expect(parseKooGalleryFingerprint(fp.koogallery).macs).toHaveLength(2);
  });

  it('omits a reading that hangs or fails, within the timeout, instead of inventing it', async () => {
    const si = fakeSi({
      diskLayout: () => new Promise(() => {}), // never settles
      baseboard: async () => {
        throw new Error('dmidecode: permission denied');
      },
    });
    const started = performance.now();
    const fp = await collectFingerprint({ source: systemInformationSource({ si, timeoutMs: 100, ...noContainer }) });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(fp.components.diskSerials).toBeUndefined();
    expect(fp.components.baseboardSerial).toBeUndefined();
    expect(fp.components.machineId).toBeDefined();
    expect(fp.timedOut).toEqual(['diskLayout']); // the failed baseboard read is not a timeout
  });

  it('a later read joins a query that is still running instead of starting it again; failed ones are asked again', async () => {
    let diskCalls = 0;
    let boardCalls = 0;
    const si = fakeSi({
      diskLayout: () => {
        diskCalls++;
        return new Promise((r) => setTimeout(() => r([{ serialNum: 'SLOW-DISK' }]), 300));
      },
      baseboard: async () => {
        boardCalls++;
        throw new Error('busy');
      },
    });
    const calls: SharedCalls = new Map();
    const first = await systemInformationSource({ si, timeoutMs: 50, calls, ...noContainer })();
    expect(first.timedOut).toEqual(['diskLayout']);
    const patient = await systemInformationSource({ si, timeoutMs: 5000, calls, ...noContainer })();
    expect(patient.diskSerials).toEqual(['SLOW-DISK']);
    expect(patient.timedOut).toBeUndefined();
    expect(diskCalls).toBe(1);
    expect(boardCalls).toBe(2);
  });

  it('reports VM and container signals', async () => {
    const si = fakeSi({ system: async () => ({ virtual: true, virtualHost: 'KVM' }) });
    const fp = await collectFingerprint({
      source: systemInformationSource({
        si,
        exists: (p) => p === '/.dockerenv',
        readText: (p) => (p === '/proc/1/cgroup' ? '0::/kubepods/besteffort/pod1234\n' : undefined),
      }),
    });
    expect(fp.virtual).toEqual({ detected: true, signals: ['hypervisor:KVM', 'docker', 'cgroup:kubepods'] });
  });

  it('reports a container with empty serials as insufficient rather than inventing components', async () => {
    const si = fakeSi({
      uuid: async () => ({ os: '3d1219c7c4c5404aaa1f6d2a48adfda4', hardware: '', macs: ['02:fc:00:00:00:01'] }),
      cpu: async () => ({}),
      diskLayout: async () => [],
      networkInterfaces: async () => [],
      system: async () => ({ uuid: '', virtual: true, virtualHost: 'KVM', model: 'Docker Container' }),
    });
    const fp = await collectFingerprint({ source: systemInformationSource({ si, ...noContainer }) });
    expect(fp.components).toEqual({ machineId: '3D1219C7C4C5404AAA1F6D2A48ADFDA4', macs: ['02:FC:00:00:00:01'] });
    expect(fp.sufficient).toBe(true);

    const bare = fingerprintFromReadings({
      machineId: 'abc123def456',
      diskSerials: ['0000000000'],
      macs: ['FF:FF:FF:FF:FF:FF'],
    });
    expect(bare).toMatchObject({ usableComponents: 1, sufficient: false });
    expect(bare.missing).toEqual(['hardwareUuid', 'baseboardSerial', 'cpu', 'diskSerials', 'macs']);
  });

  it('collects once per process and source; a failing source yields an empty fingerprint', async () => {
    const source = vi.fn(async () => ({ ...BASE_READINGS }));
    const a = await collectFingerprint({ source });
    const b = await collectFingerprint({ source });
    expect(a).toBe(b);
    expect(source).toHaveBeenCalledTimes(1);
    await collectFingerprint({ source, refresh: true });
    expect(source).toHaveBeenCalledTimes(2);

    const broken = await collectFingerprint({
      source: () => {
        throw new Error('boom');
      },
    });
    expect(broken).toMatchObject({ usableComponents: 0, sufficient: false, components: {} });
  });

  it('hashes per product: the same machine is unlinkable across products', () => {
    const fp = fingerprintFromReadings(BASE_READINGS);
    const a = hashedFingerprint(fp, 'product-a');
    const b = hashedFingerprint(fp, 'product-b');
    expect(hashedFingerprint(fp, 'product-a')).toBe(a);
    expect(Object.keys(a)).toHaveLength(6);
    expect(a.machineId).not.toEqual(b.machineId);
    expect(JSON.stringify(a)).not.toContain('3D1219C7');
  });
});

describe('fingerprintProvider and the per-boot cache', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });
  const BOOT = { id: '6f1c0a52-8d0e-4f8e-9a55-0c4e1f2b3a4d' };
  const cacheIn = (overrides: Parameters<typeof bootFingerprintCache>[0] = {}) => {
    const { dir, cleanup } = tempDir('licensor-fp-cache-');
    cleanups.push(cleanup);
    const cacheDir = join(dir, 'cache');
    return {
      cacheDir,
      cache: bootFingerprintCache({ dir: cacheDir, boot: () => BOOT, macs: () => BASE_READINGS.macs!, ...overrides }),
    };
  };

  it('reads the hardware once per boot: later processes get the cached readings', async () => {
    const { cache } = cacheIn();
    const read = vi.fn(async (_timeoutMs: number) => ({ ...BASE_READINGS }));
    const first = await fingerprintProvider({ read, cache })();
    expect(first).toMatchObject({ cached: false, usableComponents: 6 });
    expect(read).toHaveBeenCalledWith(DEFAULT_READING_TIMEOUT_MS);
    // A second process (a new provider) on the same boot.
    const second = await fingerprintProvider({ read, cache })();
    expect(read).toHaveBeenCalledTimes(1);
    expect(second.cached).toBe(true);
    expect(second.components).toEqual(first.components);
  });

  it('a patient read always reads the hardware, with the long timeout, and replaces the cached readings', async () => {
    const { cache } = cacheIn();
    cache.write({ ...BASE_READINGS, cpu: 'OLD CPU' });
    const read = vi.fn(async (_timeoutMs: number) => ({ ...BASE_READINGS }));
    const provider = fingerprintProvider({ read, cache });
    expect((await provider()).components.cpu).toBe('OLD CPU');
    const patient = await provider({ patient: true });
    expect(read).toHaveBeenCalledExactlyOnceWith(PATIENT_READING_TIMEOUT_MS);
    expect(patient).toMatchObject({ cached: false, components: { cpu: BASE_READINGS.cpu!.toUpperCase() } });
    expect(cache.read()?.cpu).toBe(BASE_READINGS.cpu);
  });

  it('never caches a reading in which something timed out, nor an empty one', async () => {
    const { cache } = cacheIn();
    const starved: FingerprintReadings = { machineId: BASE_READINGS.machineId, timedOut: ['diskLayout'] };
    await fingerprintProvider({ read: () => starved, cache })();
    expect(cache.read()).toBeUndefined();
    await fingerprintProvider({ read: () => ({}), cache })();
    expect(cache.read()).toBeUndefined();
    await fingerprintProvider({
      read: () => {
        throw new Error('no hardware access');
      },
      cache,
    })();
    expect(cache.read()).toBeUndefined();
  });

  it('refuses an entry of another boot, or one whose MACs are gone (a copy from another machine)', () => {
    const { cacheDir, cache } = cacheIn();
    cache.write(BASE_READINGS);
    expect(cache.read()).toMatchObject({ machineId: BASE_READINGS.machineId });
    const rebooted = bootFingerprintCache({
      dir: cacheDir,
      boot: () => ({ id: 'another-boot' }),
      macs: () => BASE_READINGS.macs!,
    });
    expect(rebooted.read()).toBeUndefined();
    const elsewhere = bootFingerprintCache({ dir: cacheDir, boot: () => BOOT, macs: () => ['3C:A9:F4:12:34:56'] });
    expect(elsewhere.read()).toBeUndefined();
    // Boot times (macOS, Windows) tolerate a few seconds of clock adjustment, not another boot.
    const byTime = (bootTime: number) =>
      bootFingerprintCache({ dir: cacheDir, boot: () => ({ bootTime }), macs: () => BASE_READINGS.macs! });
    byTime(1_700_000_000).write(BASE_READINGS);
    expect(byTime(1_700_000_002).read()).toBeDefined();
    expect(byTime(1_700_000_600).read()).toBeUndefined();
  });

  it.skipIf(process.platform === 'win32')(
    'trusts only a private folder and a plain file of this user; garbage is a miss',
    () => {
      const { cacheDir, cache } = cacheIn();
      cache.write(BASE_READINGS);
      const file = join(cacheDir, 'fingerprint-boot-cache-v2.json');
      chmodSync(cacheDir, 0o755);
      expect(cache.read()).toBeUndefined();
      chmodSync(cacheDir, 0o700);
      expect(cache.read()).toBeDefined();
      writeFileSync(file, '{"v":2,"payload":"{}","mac":"x"}');
      expect(cache.read()).toBeUndefined();
      writeFileSync(file, 'not json');
      expect(cache.read()).toBeUndefined();
      // A symlink planted in place of the folder is never followed.
      const { dir: other, cleanup } = tempDir('licensor-fp-cache-');
      cleanups.push(cleanup);
      const real = join(other, 'real');
      mkdirSync(real, { mode: 0o700 });
      bootFingerprintCache({ dir: real, boot: () => BOOT, macs: () => BASE_READINGS.macs! }).write(BASE_READINGS);
      symlinkSync(real, join(other, 'link'));
      expect(
        bootFingerprintCache({ dir: join(other, 'link'), boot: () => BOOT, macs: () => BASE_READINGS.macs! }).read(),
      ).toBeUndefined();
    },
  );

  it('an entry does not authenticate on another machine, in another account, or once edited', () => {
    const { cacheDir } = cacheIn();
    const on = (machineKey: string) =>
      bootFingerprintCache({
        dir: cacheDir,
        boot: () => BOOT,
        macs: () => BASE_READINGS.macs!,
        machineKey: () => machineKey,
      });
    on('machine-a').write(BASE_READINGS);
    expect(on('machine-a').read()).toMatchObject({ cpu: BASE_READINGS.cpu });
    // Copied to machine B (with B's boot id written in, so the boot check alone would pass): refused.
    expect(on('machine-b').read()).toBeUndefined();
    // Edited in place: another CPU, or another boot id, under the original MAC.
    const file = join(cacheDir, 'fingerprint-boot-cache-v2.json');
    const entry = JSON.parse(readFileSync(file, 'utf8')) as { payload: string; mac: string };
    const edited = (payload: string) => writeFileSync(file, JSON.stringify({ ...entry, payload }), { mode: 0o600 });
    edited(entry.payload.replace(BASE_READINGS.cpu!, 'Other CPU'));
    expect(on('machine-a').read()).toBeUndefined();
    edited(entry.payload);
    expect(on('machine-a').read()).toBeDefined();
  });

  it('live readings answer for their components: the cache never holds nor lends the machine id or the MACs', async () => {
    const { cache } = cacheIn();
    const live = () => ({
      readings: { machineId: 'a1b2c3d4'.repeat(4), macs: ['02:fc:00:00:00:01'], virtualSignals: ['docker'] },
      owns: ['machineId' as const, 'macs' as const],
    });
    const read = vi.fn(async (_timeoutMs: number) => ({ ...BASE_READINGS }));
    await fingerprintProvider({ read, cache, live })();
    const stored = cache.read();
    expect(stored).toMatchObject({ cpu: BASE_READINGS.cpu, diskSerials: BASE_READINGS.diskSerials });
    expect(stored).not.toHaveProperty('machineId');
    expect(stored).not.toHaveProperty('macs');
    // A planted entry for this boot and machine that claims another machine's id and MACs lends neither.
    cache.write({ ...BASE_READINGS, virtualSignals: ['hypervisor:KVM'] });
    const fp = await fingerprintProvider({ read, cache, live })();
    expect(read).toHaveBeenCalledTimes(1);
    expect(fp).toMatchObject({
      cached: true,
      components: {
        machineId: 'A1B2C3D4'.repeat(4),
        macs: ['02:FC:00:00:00:01'],
        cpu: BASE_READINGS.cpu!.toUpperCase(),
      },
      virtual: { signals: ['hypervisor:KVM', 'docker'] },
    });
  });

  it('lives in the per-user runtime folder, never in the data folder', () => {
    expect(defaultFingerprintCacheDir({ XDG_RUNTIME_DIR: '/run/user/1000' }, 'linux')).toBe('/run/user/1000/licensor');
    expect(defaultFingerprintCacheDir({ XDG_RUNTIME_DIR: 'relative' }, 'linux')).toMatch(/licensor-/);
    expect(defaultFingerprintCacheDir({}, 'darwin')).toMatch(/licensor-/);
  });
});

describe('defaultDataDir', () => {
  it('follows each platform convention', () => {
    expect(
      defaultDataDir('My App', {
        platform: 'win32',
        env: { APPDATA: 'C:\\Users\\al\\AppData\\Roaming' },
        home: 'C:\\Users\\al',
      }),
    ).toBe('C:\\Users\\al\\AppData\\Roaming\\My App\\licensor');
    expect(defaultDataDir('MyApp', { platform: 'darwin', env: {}, home: '/Users/al' })).toBe(
      '/Users/al/Library/Application Support/MyApp/licensor',
    );
    expect(defaultDataDir('myapp', { platform: 'linux', env: { XDG_CONFIG_HOME: '/cfg' }, home: '/home/al' })).toBe(
      '/cfg/myapp/licensor',
    );
    expect(defaultDataDir('myapp', { platform: 'linux', env: { XDG_CONFIG_HOME: 'relative' }, home: '/home/al' })).toBe(
      '/home/al/.config/myapp/licensor',
    );
  });

  it('refuses app names that would escape the folder', () => {
    for (const bad of ['', '../etc', 'a/b', 'a\\b', '..', '.hidden']) {
      expect(() => defaultDataDir(bad, { platform: 'linux', env: {}, home: '/h' })).toThrow(/appName/);
    }
  });
});

describe('messages (renderer-safe)', () => {
  it('has an English and a Chinese text for every license code', () => {
    for (const code of LICENSE_CODES) {
      for (const lang of ['en', 'zh'] as const) {
        const t = statusText(code, lang);
        expect(t.title, `${code}/${lang}`).not.toMatch(/unexpected|意外/);
        if (code !== 'VALID') expect(t.action.length, `${code}/${lang}`).toBeGreaterThan(0);
      }
    }
    expect(describeStatus('FROZEN', 'zh')).toMatch(/冻结/);
    expect(describeStatus('SERVER_UNREACHABLE')).toMatch(/internet connection/);
    expect(describeStatus('SOMETHING_NEW')).toMatch(/unexpected/);
  });

  it('checks license codes while they are typed', () => {
    const code = generateLicenseCode();
    expect(licenseCodeHint(code.toLowerCase().replace(/-/g, ' '))).toMatchObject({
      normalized: code,
      kind: 'lsr',
      plausible: true,
    });
    const last = code.at(-1) === '0' ? '1' : '0';
    expect(licenseCodeHint(code.slice(0, -1) + last)).toMatchObject({
      kind: 'lsr',
      plausible: false,
      hint: expect.stringMatching(/typo/),
    });
    expect(licenseCodeHint(' lsr-0000-0000 ')).toMatchObject({
      plausible: false,
      kind: 'unknown',
      hint: expect.stringMatching(/LSR-XXXXX/),
    });
    expect(licenseCodeHint('pltestcode0001')).toMatchObject({
      normalized: 'PLTESTCODE0001',
      kind: 'marketplace',
      plausible: true,
    });
    expect(licenseCodeHint('', 'zh').hint).toMatch(/授权码/);
    expect(licenseCodeHint('custom-code-42')).toMatchObject({ plausible: true, hint: undefined });
  });

  it('imports nothing from node: (directly or through its imports)', () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const files = [join(here, 'messages.ts'), resolve(here, '../../shared/src/licenseCode.ts')];
    for (const f of files) {
      const imports = [...readFileSync(f, 'utf8').matchAll(/^import\s+(type\s+)?[^;]*?from\s+'([^']+)'/gms)];
      for (const [, typeOnly, spec] of imports) {
        if (typeOnly) continue; // erased at compile time
        expect(spec, f).not.toMatch(/^node:|^(fs|os|path|crypto)$/);
        if (spec!.startsWith('@licensor/shared')) expect(spec).toBe('@licensor/shared/licenseCode');
      }
    }
  });
});
