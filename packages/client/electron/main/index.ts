/**
 * Main-process entry of the bundled shell (dist/main.cjs). The only module that imports 'electron': it adapts
 * the real API to the narrow types in electronTypes.ts (the compiler checks the fit here) and hands over to
 * startShell. Bundled by scripts/build.ts, which also replaces ./pinnedRoot with the generated module.
 */
import { join } from 'node:path';
import {
  app,
  BrowserWindow,
  dialog,
  ipcMain,
  Menu,
  type MenuItemConstructorOptions,
  nativeImage,
  protocol,
  safeStorage,
  session,
  Tray,
} from 'electron';
import licensorConfig from '../licensor.config';
import { parseShellConfig } from './config';
import { PINNED_ROOTS } from './pinnedRoot';
import { APP_SCHEME } from './security';
import { type ElectronMain, type RunningShell, startShell } from './shell';

// Must run before `ready`: app:// is a standard, secure origin (so 'self' in the CSP means app://licensor).
protocol.registerSchemesAsPrivileged([
  { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: false, corsEnabled: false } },
]);

const log = {
  info: (message: string, detail?: Record<string, unknown>) => console.info(`[licensor] ${message}`, detail ?? ''),
  warn: (message: string, detail?: Record<string, unknown>) => console.warn(`[licensor] ${message}`, detail ?? ''),
};

const electronMain: ElectronMain = {
  app,
  protocol,
  session,
  ipcMain,
  dialog,
  safeStorage,
  createWindow: (options) => new BrowserWindow(options),
  ...(process.platform === 'linux' ? { linuxStorageBackend: () => safeStorage.getSelectedStorageBackend() } : {}),
  createTray: () => new Tray(nativeImage.createFromPath(join(__dirname, 'tray.png'))),
  buildMenu: (template) => Menu.buildFromTemplate(template as MenuItemConstructorOptions[]),
  setApplicationMenu: (menu) => Menu.setApplicationMenu(menu as Menu | null),
  platform: process.platform,
};

async function main(): Promise<void> {
  // A second instance would race the first on the license state: focus the first instead.
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return;
  }
  let shell: RunningShell | undefined;
  app.on('second-instance', () => {
    void shell?.windows.showLicense();
  });
  app.on('window-all-closed', () => app.quit());
  app.on('before-quit', () => {
    void shell?.stop();
  });
  await app.whenReady();
  try {
    shell = await startShell(electronMain, {
      config: parseShellConfig(licensorConfig),
      roots: PINNED_ROOTS,
      rendererDir: join(__dirname, 'renderer'),
      preloadPath: join(__dirname, 'preload.cjs'),
      log,
    });
  } catch (err) {
    // Fail closed with a message an end user can pass on to the vendor.
    dialog.showErrorBox('The application cannot start', (err as Error)?.message ?? String(err));
    app.quit();
  }
}

void main();
