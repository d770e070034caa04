import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BASE_READINGS, licenseFor, machine, PRODUCT, pki } from '@licensor/testkit/client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { hashedFingerprint, LicenseManager, type MachineFingerprint } from '../../src';
import { fingerprintFromReadings } from '../../src/fingerprint';
import { fakeElectron } from '../test/fakes';
import { parseShellConfig } from './config';
import { type ElectronMain, startShell } from './shell';

// The shell passes no fingerprint provider: it must get the library default, which re-reads patiently. The
// default provider is replaced here (the real one reads this host's hardware) to see what the shell asks of it.
const reads: boolean[] = [];
const starved = fingerprintFromReadings({ machineId: BASE_READINGS.machineId, timedOut: ['cpu', 'diskLayout'] });
vi.mock('../../src/fingerprint', async (original) => ({
  ...(await original<typeof import('../../src/fingerprint')>()),
  defaultFingerprintProvider:
    () =>
    async (opts: { patient?: boolean } = {}) => {
      reads.push(Boolean(opts.patient));
      return opts.patient ? machine() : starved;
    },
}));

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'licensor-shell-busy-'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html>');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('Electron shell on a busy machine (issue 13 item 1)', () => {
  it('opens the application, not the license window, when the first reading was starved', async () => {
    const full: MachineFingerprint = machine();
    const dataDir = join(dir, 'licensor');
    const setup = new LicenseManager({ productId: PRODUCT, roots: [pki().rootPem], dataDir, fingerprint: () => full });
    const imported = await setup.importLicenseFile(licenseFor(hashedFingerprint(full, PRODUCT), { now: Date.now() }));
    expect(imported.code).toBe('VALID');

    const f = fakeElectron({ userData: dir });
    const e = f.electron;
    const electron = {
      app: e.app,
      protocol: e.protocol,
      session: e.session,
      ipcMain: e.ipcMain,
      dialog: e.dialog,
      safeStorage: e.safeStorage,
      linuxStorageBackend: e.safeStorage.getSelectedStorageBackend,
      createWindow: (o: unknown) => new e.BrowserWindow(o),
      createTray: () => new e.Tray(),
      buildMenu: e.Menu.buildFromTemplate,
      setApplicationMenu: e.Menu.setApplicationMenu,
    } as unknown as ElectronMain;
    const config = parseShellConfig({
      productId: PRODUCT,
      rootCertificatePath: './root.pem',
      serverUrl: 'https://license.example.com',
      appName: 'Demo',
    });
    const shell = await startShell(electron, { config, roots: [pki().rootPem], rendererDir: dir, preloadPath: 'p' });
    try {
      expect(shell.decision).toBe('app');
      expect(reads.slice(0, 2)).toEqual([false, true]);
    } finally {
      await shell.stop();
    }
  });
});
