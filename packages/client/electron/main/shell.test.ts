import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRootCertificate } from '@licensor/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fingerprintFromReadings } from '../../src';
import { CHANNELS, type Result } from '../shared/api';
import { fakeElectron } from '../test/fakes';
import { parseShellConfig } from './config';
import { type ElectronMain, languageOf, startShell } from './shell';

const fp = fingerprintFromReadings({ machineId: 'a'.repeat(32), baseboardSerial: 'BOARD-1', diskSerials: ['DISK-1'] });
const config = parseShellConfig({
  productId: 'OFFI0001',
  rootCertificatePath: './root.pem',
  serverUrl: 'https://license.example.com',
  appName: 'Demo',
});
let root: string;
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'licensor-shell-'));
  root ??= createRootCertificate({ commonName: 'Shell Test Root' }).certificatePem;
  writeFileSync(join(dir, 'index.html'), '<!doctype html>');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function electronMain(f: ReturnType<typeof fakeElectron>, platform = 'linux'): ElectronMain {
  const e = f.electron;
  return {
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
    platform,
  } as unknown as ElectronMain;
}

describe('startShell', () => {
  it('refuses to start without a pinned root', async () => {
    const f = fakeElectron({ userData: dir });
    await expect(
      startShell(electronMain(f), { config, roots: [], rendererDir: dir, preloadPath: 'p' }),
    ).rejects.toThrow(/no pinned root certificate/);
    expect(f.record.windows).toEqual([]);
  });

  it('wires protocol, session rules, IPC and tray, and opens the activation window without a license', async () => {
    const f = fakeElectron({ userData: dir, locale: 'zh-CN' });
    const shell = await startShell(electronMain(f), {
      config,
      roots: [root],
      rendererDir: dir,
      preloadPath: '/x/preload.cjs',
      manager: { fingerprint: () => fp },
    });
    try {
      expect(shell.decision).toBe('license');
      expect(shell.secretStoreMode).toBe('library'); // basic_text on Linux does not count
      expect(shell.manager.dataDir).toBe(join(dir, 'licensor'));
      expect(f.record.windows.map((w) => w.urls)).toEqual([['app://licensor/index.html']]);
      expect(f.record.windows[0]!.options).toMatchObject({
        webPreferences: { sandbox: true, contextIsolation: true, nodeIntegration: false, preload: '/x/preload.cjs' },
      });
      // Renderer network requests are cancelled; our protocol is served.
      const decide = (url: string) => {
        let cancel: boolean | undefined;
        f.record.beforeRequest!({ url }, (r) => {
          cancel = r.cancel;
        });
        return cancel;
      };
      expect(decide('https://license.example.com/api/v1/keys')).toBe(true);
      expect(decide('app://licensor/index.html')).toBe(false);
      const res = await f.record.protocols.get('app')!({ url: 'app://licensor/index.html', method: 'GET' });
      expect(res.status).toBe(200);
      let granted: boolean | undefined;
      f.record.permissionRequest!({}, 'media', (g) => {
        granted = g;
      });
      expect(granted).toBe(false);
      // IPC answers our page and refuses others.
      const status = f.record.ipc.get(CHANNELS.status)!;
      const mine = (await status({
        senderFrame: { url: 'app://licensor/index.html', parent: null },
        sender: { id: 1 },
      })) as Result<{ code: string }>;
      expect(mine.ok && mine.value.code).toBe('NO_LICENSE');
      const theirs = (await status({
        senderFrame: { url: 'https://evil.example/', parent: null },
        sender: { id: 9 },
      })) as Result<unknown>;
      expect(!theirs.ok && theirs.error.code).toBe('FORBIDDEN');
      // Tray in the system language.
      expect(f.record.trayTooltips.at(-1)).toBe('Demo — 此设备尚未激活。');
    } finally {
      await shell.stop();
    }
    expect(f.record.ipc.size).toBe(0);
  });

  it.each([
    ['packaged', true],
    ['development', false],
  ])('%s build: developer tools, devtools:// and the default menu only in development', async (_kind, packaged) => {
    for (const platform of ['linux', 'win32', 'darwin']) {
      const f = fakeElectron({ userData: dir, packaged });
      const shell = await startShell(electronMain(f, platform), {
        config,
        roots: [root],
        rendererDir: dir,
        preloadPath: '/x/preload.cjs',
        manager: { fingerprint: () => fp },
      });
      try {
        expect(f.record.windows[0]!.options).toMatchObject({ webPreferences: { devTools: !packaged } });
        const macMenu = [{ role: 'appMenu' }, { role: 'editMenu' }];
        expect(f.record.applicationMenus).toEqual(packaged ? [platform === 'darwin' ? macMenu : null] : []);
        let cancel: boolean | undefined;
        f.record.beforeRequest!({ url: 'devtools://devtools/bundled/devtools_app.html' }, (r) => {
          cancel = r.cancel;
        });
        expect(cancel).toBe(packaged);
        // Web contents the shell did not create (a library's, the devtools' own) get the same rule.
        const events: string[] = [];
        const contents = {
          on: (event: string) => events.push(event),
          setWindowOpenHandler: () => undefined,
        };
        f.record.appEvents.get('web-contents-created')!({}, contents);
        expect(events.includes('devtools-opened')).toBe(packaged);
      } finally {
        await shell.stop();
      }
    }
  });

  it('reads the system language', () => {
    expect(languageOf('zh-CN')).toBe('zh');
    expect(languageOf('zh-Hant-TW')).toBe('zh');
    expect(languageOf('en-GB')).toBe('en');
  });
});
