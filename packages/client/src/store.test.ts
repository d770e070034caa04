import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BASE_READINGS, clock, licenseFor, machine, PRODUCT, pki, tempDir } from '@licensor/testkit/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  bootFingerprintCache,
  fingerprintFromReadings,
  fingerprintProvider,
  hashedFingerprint,
  type MachineFingerprint,
  PATIENT_READING_TIMEOUT_MS,
} from './fingerprint';
import { LicenseManager } from './manager';
import { stateFileName } from './store';

const T0 = Date.UTC(2025, 5, 1, 12);
const MINUTE = 60_000;

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A License imported with every component readable; returns a factory of managers with a given reading. */
async function installed() {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const c = clock(T0);
  const manager = (fp: MachineFingerprint) =>
    new LicenseManager({ productId: PRODUCT, roots: [pki().rootPem], dataDir: dir, fingerprint: () => fp, now: c });
  const full = machine();
  const imported = await manager(full).importLicenseFile(licenseFor(hashedFingerprint(full, PRODUCT), { now: T0 }));
  expect(imported.code).toBe('VALID');
  const wrappedKeys = () => Object.keys(JSON.parse(readFileSync(join(dir, stateFileName(PRODUCT)), 'utf8')).keys);
  return { clock: c, manager, full, wrappedKeys };
}

/** Only some readings answered (no timeout recorded: e.g. a query that failed under load). */
const partial = (names: (keyof typeof BASE_READINGS)[]) =>
  fingerprintFromReadings(Object.fromEntries(names.map((n) => [n, BASE_READINGS[n]])));

describe('state key wrapping (issue 13 item 1)', () => {
  it('a save under a partial reading never narrows what opens the state', async () => {
    const { clock, manager, wrappedKeys } = await installed();
    const keysBefore = wrappedKeys();

    // A busy start: two components answered, enough to open the state; verify then saves the high-water mark.
    clock.advance(5 * MINUTE);
    expect((await manager(partial(['machineId', 'cpu'])).verify()).code).toBe('VALID');
    expect(wrappedKeys().sort()).toEqual(keysBefore.sort());

    // The next busy start gets two other components: the state must still open.
    clock.advance(5 * MINUTE);
    expect((await manager(partial(['diskSerials', 'macs'])).verify()).code).toBe('VALID');
    clock.advance(5 * MINUTE);
    expect((await manager(partial(['hardwareUuid', 'baseboardSerial'])).verify()).code).toBe('VALID');
  });

  it('a complete reading with a changed component re-wraps, so the change is carried forward', async () => {
    const { clock, manager, wrappedKeys } = await installed();
    const keysBefore = wrappedKeys();
    const newDisk = machine({ diskSerials: ['NEW-DISK-0001'] });
    clock.advance(5 * MINUTE);
    expect((await manager(newDisk).verify()).code).toBe('VALID');
    const keysAfter = wrappedKeys();
    expect(keysAfter).not.toEqual(keysBefore);
    // The new disk now opens the state with one other component; the old disk no longer does.
    clock.advance(5 * MINUTE);
    const newDiskReading = fingerprintFromReadings({
      diskSerials: ['NEW-DISK-0001'],
      macs: BASE_READINGS.macs,
      cpu: BASE_READINGS.cpu,
    });
    expect((await manager(newDiskReading).verify()).code).toBe('VALID');
    clock.advance(5 * MINUTE);
    expect((await manager(partial(['diskSerials', 'macs'])).verify()).code).toBe('STATE_TAMPERED');
  });

  it('a partial reading that adds a new value keeps every old key and adds its own', async () => {
    const { clock, manager, wrappedKeys } = await installed();
    const keysBefore = wrappedKeys();
    // The disk query failed, and a new NIC appeared: the state opens through other pairs.
    const reading = fingerprintFromReadings({
      ...BASE_READINGS,
      diskSerials: [],
      macs: [...BASE_READINGS.macs!, 'A4:83:E7:00:00:01'],
    });
    clock.advance(5 * MINUTE);
    expect((await manager(reading).verify()).code).toBe('VALID');
    const keysAfter = wrappedKeys();
    expect(keysAfter).toEqual(expect.arrayContaining(keysBefore));
    expect(keysAfter.length).toBeGreaterThan(keysBefore.length);
    // The old disk still opens it with any one other component.
    clock.advance(5 * MINUTE);
    expect((await manager(partial(['diskSerials', 'cpu'])).verify()).code).toBe('VALID');
  });
});

describe('patient re-read before a negative verdict', () => {
  it('also when a reading came back empty without timing out (a query that failed under load)', async () => {
    const { manager, clock } = await installed();
    let patientReads = 0;
    const m = new LicenseManager({
      productId: PRODUCT,
      roots: [pki().rootPem],
      dataDir: manager(machine()).dataDir,
      now: clock,
      fingerprint: ({ patient }) => {
        if (!patient) return partial(['machineId']);
        patientReads++;
        return machine();
      },
    });
    expect((await m.verify()).code).toBe('VALID');
    expect(patientReads).toBe(1);
  });
});

describe('the per-boot fingerprint cache is a hint, never evidence', () => {
  it('cached readings that do not open the state or match the License are re-read before any verdict', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const full = machine();
    const setup = new LicenseManager({
      productId: PRODUCT,
      roots: [pki().rootPem],
      dataDir: dir,
      fingerprint: () => full,
    });
    await setup.importLicenseFile(licenseFor(hashedFingerprint(full, PRODUCT), { now: Date.now() }));
    // A stale or planted entry for this boot: same MACs, everything else different.
    const cache = bootFingerprintCache({
      dir: join(dir, 'cache'),
      boot: () => ({ id: 'boot-1' }),
      macs: () => BASE_READINGS.macs!,
    });
    cache.write({ machineId: 'ab'.repeat(16), cpu: 'Other CPU', diskSerials: ['OTHER'], macs: BASE_READINGS.macs });
    const read = vi.fn(async (_timeoutMs: number) => ({ ...BASE_READINGS }));
    const manager = new LicenseManager({
      productId: PRODUCT,
      roots: [pki().rootPem],
      dataDir: dir,
      fingerprint: fingerprintProvider({ read, cache }),
    });
    expect((await manager.verify()).code).toBe('VALID');
    expect(read).toHaveBeenCalledExactlyOnceWith(PATIENT_READING_TIMEOUT_MS);
    expect((await manager.fingerprint()).cached).toBe(false);
  });
  it('a planted boot cache does not let another machine pass as the licensed one (machine id and MACs are live)', async () => {
    // Machine A activated; its data folder is copied to machine B, where the attacker plants a boot cache entry
    // holding A's readings, authenticated for B (the worst case: they know the format and the key derivation).
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const a = machine();
    const setup = new LicenseManager({
      productId: PRODUCT,
      roots: [pki().rootPem],
      dataDir: dir,
      fingerprint: () => a,
    });
    await setup.importLicenseFile(licenseFor(hashedFingerprint(a, PRODUCT), { now: Date.now() }));
    const b = {
      machineId: '9f0e1d2c3b4a59687766554433221100',
      hardwareUuid: '1B2C3D4E-0000-1111-2222-333344445555',
      baseboardSerial: 'B-BOARD-7',
      cpu: BASE_READINGS.cpu,
      diskSerials: ['B-DISK-1'],
      macs: ['52:54:00:12:34:56'],
    };
    const cache = bootFingerprintCache({ dir: join(dir, 'cache'), boot: () => ({ id: 'boot-b' }), macs: () => b.macs });
    cache.write({ ...BASE_READINGS, macs: undefined });
    const read = vi.fn(async (_timeoutMs: number) => ({ ...b }));
    const live = () => ({
      readings: { machineId: b.machineId, macs: b.macs },
      owns: ['machineId' as const, 'macs' as const],
    });
    const onB = new LicenseManager({
      productId: PRODUCT,
      roots: [pki().rootPem],
      dataDir: dir,
      fingerprint: fingerprintProvider({ read, cache, live }),
    });
    const status = await onB.verify();
    expect(status.valid).toBe(false);
    expect(['FINGERPRINT_MISMATCH', 'STATE_TAMPERED']).toContain(status.code);
    // Without the live readings the same entry lends every component, and B passes as A: what this guards against.
    const lent = new LicenseManager({
      productId: PRODUCT,
      roots: [pki().rootPem],
      dataDir: dir,
      fingerprint: fingerprintProvider({ read, cache, live: false }),
    });
    cache.write({ ...BASE_READINGS, macs: undefined, machineId: BASE_READINGS.machineId });
    expect((await lent.verify()).code).toBe('VALID');
  });
});
