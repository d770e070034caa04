/**
 * The composition root of the main process. Everything Electron provides comes in through `ElectronMain`
 * (main/index.ts passes the real module; tests pass fakes), so the whole start-up — protocol, session rules,
 * secret store, manager, windows, IPC, gate, tray, auto check-in — runs under plain Node in tests.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { LicensorError } from '@licensor/shared';
import { LicenseManager, type LicenseManagerOptions } from '../../src';
import type { Language } from '../../src/messages';
import { CHANNELS, type LicenseView } from '../shared/api';
import type { ShellConfig } from './config';
import type {
  BrowserWindowLike,
  BrowserWindowOptionsLike,
  DialogLike,
  IpcMainLike,
  MenuItemOptionsLike,
  PermissionSessionLike,
  SafeStorageLike,
  TrayLike,
  WebContentsLike,
} from './electronTypes';
import { LicenseGate } from './gate';
import { type IpcLog, registerIpc } from './ipc';
import { LicenseService, type OfflineFiles, type ShellManager } from './licenseService';
import { chooseSecretStore, type SecretStoreMode } from './secretStore';
import {
  APP_SCHEME,
  applicationMenuTemplate,
  appProtocolHandler,
  denyAllPermissions,
  developerPolicy,
  hardenWebContents,
  isAllowedRequestUrl,
} from './security';
import { TrayController } from './tray';
import { WindowManager } from './windows';

/** The largest License file accepted from disk (real ones are a few kilobytes). */
export const MAX_LICENSE_FILE_BYTES = 256 * 1024;

export interface ElectronMain {
  app: {
    whenReady(): Promise<unknown>;
    getPath(name: 'userData'): string;
    getLocale(): string;
    getVersion(): string;
    /** True for an installed build; developer tools and the default menu exist only when false. */
    readonly isPackaged: boolean;
    quit(): void;
    on(event: 'web-contents-created', listener: (event: unknown, contents: WebContentsLike) => void): unknown;
    on(event: 'window-all-closed' | 'before-quit', listener: () => void): unknown;
  };
  protocol: {
    handle(scheme: string, handler: (request: { url: string; method: string }) => Promise<Response>): void;
  };
  session: {
    defaultSession: PermissionSessionLike & {
      webRequest: {
        onBeforeRequest(
          listener: (details: { url: string }, callback: (response: { cancel?: boolean }) => void) => void,
        ): void;
      };
    };
  };
  ipcMain: IpcMainLike;
  createWindow(options: BrowserWindowOptionsLike): BrowserWindowLike;
  dialog: DialogLike;
  safeStorage?: SafeStorageLike;
  /** safeStorage.getSelectedStorageBackend() on Linux. */
  linuxStorageBackend?: () => string;
  /** Tray support is optional (some Linux desktops have none). */
  createTray?: () => TrayLike;
  buildMenu?: (template: MenuItemOptionsLike[]) => unknown;
  /** Menu.setApplicationMenu: null removes the menu. */
  setApplicationMenu?: (menu: unknown) => void;
  /** process.platform (injectable so tests cover the macOS menu). */
  platform?: string;
}

export interface ShellOptions {
  config: ShellConfig;
  /** Pinned root certificate PEMs (from the generated main/pinnedRoot.ts). */
  roots: readonly string[];
  /** Folder holding the bundled pages (index.html, renderer.js, app/…). */
  rendererDir: string;
  preloadPath: string;
  /** Overrides for tests: data folder, fingerprint source, clock, fetch. */
  manager?: Partial<LicenseManagerOptions>;
  log?: IpcLog & { info(message: string, detail?: Record<string, unknown>): void };
}

export interface RunningShell {
  manager: LicenseManager;
  windows: WindowManager;
  gate: LicenseGate;
  service: LicenseService;
  secretStoreMode: SecretStoreMode;
  decision: 'app' | 'license';
  stop(): Promise<void>;
}

export function languageOf(locale: string): Language {
  return locale.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

const LICENSE_FILTERS = [
  { name: 'License file', extensions: ['lic', 'license', 'txt'] },
  { name: 'All files', extensions: ['*'] },
];

/** The offline path's files through native dialogs; sizes bounded before anything is parsed. */
export function dialogFiles(dialog: DialogLike): OfflineFiles {
  return {
    async saveRequest(text, suggestedName) {
      const r = await dialog.showSaveDialog({
        title: 'Save activation request',
        defaultPath: suggestedName,
        filters: [{ name: 'Activation request', extensions: ['licreq'] }],
      });
      if (r.canceled || !r.filePath) return { saved: false, fileName: null };
      await writeFile(r.filePath, text, { encoding: 'utf8', mode: 0o600 });
      return { saved: true, fileName: r.filePath.split(/[\\/]/).pop() ?? null };
    },
    async openLicenseFile() {
      const r = await dialog.showOpenDialog({
        title: 'Import License file',
        properties: ['openFile'],
        filters: LICENSE_FILTERS,
      });
      const path = r.filePaths[0];
      if (r.canceled || !path) return null;
      const data = await readFile(path);
      if (data.length > MAX_LICENSE_FILE_BYTES) {
        throw new LicensorError(
          'FILE_TOO_LARGE',
          'This file is too large to be a License file. Pick the file you received.',
        );
      }
      return data.toString('utf8');
    },
  };
}

/**
 * Call after `app.whenReady()`. Registers the app protocol and the session rules, builds the manager (with the
 * safeStorage secret store when available), installs IPC, opens the right window and starts auto check-in.
 */
export async function startShell(electron: ElectronMain, opts: ShellOptions): Promise<RunningShell> {
  const { config, log } = opts;
  if (opts.roots.length === 0) {
    throw new Error(
      'This build has no pinned root certificate. Set rootCertificatePath in electron/licensor.config.ts and run the electron build.',
    );
  }
  const developer = developerPolicy(electron.app.isPackaged);
  // Before any window exists: a packaged build never shows Electron's default menu (reload, developer tools).
  const menu = applicationMenuTemplate(electron.platform ?? process.platform, developer);
  if (menu !== undefined) {
    if (!electron.setApplicationMenu) throw new Error('The shell needs Menu.setApplicationMenu to remove the menu.');
    electron.setApplicationMenu(menu === null ? null : (electron.buildMenu?.(menu) ?? null));
  }
  const session = electron.session.defaultSession;
  denyAllPermissions(session);
  // Renderers load nothing from the network: licensing talks to the server from main (Node's fetch).
  session.webRequest.onBeforeRequest((details, callback) =>
    callback({ cancel: !isAllowedRequestUrl(details.url, developer) }),
  );
  electron.protocol.handle(APP_SCHEME, appProtocolHandler(opts.rendererDir));
  const onBlocked = (what: string, url: string) => log?.warn(`blocked ${what}`, { url: url.slice(0, 200) });
  // Also covers web contents we did not create (devtools, anything a library opens).
  electron.app.on('web-contents-created', (_event, contents) => hardenWebContents(contents, onBlocked, developer));

  const dataDir = opts.manager?.dataDir ?? join(electron.app.getPath('userData'), 'licensor');
  const secret = await chooseSecretStore(
    electron.safeStorage,
    join(dataDir, 'secrets'),
    electron.linuxStorageBackend?.(),
  );
  log?.info('device key storage', { mode: secret.mode });
  const deviceName = hostname();
  const manager = new LicenseManager({
    productId: config.productId,
    roots: [...opts.roots],
    serverUrl: config.serverUrl,
    dataDir,
    appVersion: electron.app.getVersion(),
    ...(secret.store ? { secretStore: secret.store } : {}),
    ...opts.manager,
  });
  const shellManager: ShellManager = manager;
  const service = new LicenseService({
    manager: shellManager,
    files: dialogFiles(electron.dialog),
    deviceName,
    productId: config.productId,
    productName: config.appName,
  });
  const windows = new WindowManager({
    createWindow: (o) => electron.createWindow(o),
    preloadPath: opts.preloadPath,
    appName: config.appName,
    appEntry: config.appEntry,
    developer,
    onBlocked,
  });

  const lang = languageOf(electron.app.getLocale());
  let tray: TrayController | undefined;
  const gate = new LicenseGate({
    manager: shellManager,
    windows,
    toView: (s) => service.view(s),
    onStatus: (view: LicenseView) => {
      windows.broadcast(CHANNELS.statusChanged, view);
      tray?.update(view);
    },
  });
  const unregister = registerIpc(
    electron.ipcMain,
    { service, openApp: () => gate.openApp(), openLicenseWindow: async () => Boolean(await windows.showLicense()) },
    log,
  );

  if (electron.createTray && electron.buildMenu) {
    tray = new TrayController({
      tray: electron.createTray(),
      buildMenu: electron.buildMenu,
      lang,
      appName: config.appName,
      actions: {
        openLicense: () => void windows.showLicense(),
        openApp: () => void gate.openApp(),
        checkIn: () => void manager.checkIn().catch(() => undefined),
        quit: () => electron.app.quit(),
      },
    });
  }

  const decision = await gate.start();
  const first = manager.status;
  if (first) tray?.update(service.view(first));
  manager.startAutoCheckIn();

  return {
    manager,
    windows,
    gate,
    service,
    secretStoreMode: secret.mode,
    decision,
    stop: async () => {
      gate.stop();
      unregister();
      tray?.destroy();
      await manager.stop();
    },
  };
}
