/**
 * Fakes shared by the main-process tests: a LicenseManager stand-in with scripted answers, and statuses in
 * the shape the real manager returns. (Test-only module: nothing in the shell imports it.)
 */
import { EventEmitter } from 'node:events';
import { LicensorError } from '@licensor/shared';
import type { CheckInResult, LicenseStatus } from '../../src';
import type { ShellManager } from '../main/licenseService';

export function validStatus(overrides: Partial<LicenseStatus> = {}): LicenseStatus {
  return {
    valid: true,
    code: 'VALID',
    message: 'The license is valid.',
    license: {
      id: 'act_1',
      entitlementId: 'ent_1',
      family: 'A',
      product: 'OFFI0001',
      edition: 'pro',
      features: {},
      seats: 3,
      status: 'active',
      issuedAt: '2026-01-01T00:00:00.000Z',
      notBefore: '2026-01-01T00:00:00.000Z',
      expiresAt: '2027-01-01T00:00:00.000Z',
      refreshBy: '2026-01-15T00:00:00.000Z',
      graceUntil: '2026-01-22T00:00:00.000Z',
      serverTime: '2026-01-01T00:00:00.000Z',
      test: false,
      signingKeyId: 'k1',
      binding: 'components',
      deviceKeyBound: true,
    },
    detail: { activationId: 'act_1', lastCheckInAt: '2026-01-01T00:00:00.000Z', daysLeft: 365 },
    checkedAt: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

export function noLicense(): LicenseStatus {
  return {
    valid: false,
    code: 'NO_LICENSE',
    message: 'This device is not activated.',
    license: null,
    detail: {},
    checkedAt: '2026-01-01T00:00:00.000Z',
  };
}

/** A manager whose answers a test sets; records every call with its arguments. */
export class FakeManager {
  readonly calls: Array<[string, ...unknown[]]> = [];
  readonly events = new EventEmitter();
  current: LicenseStatus = noLicense();
  activateResult: LicenseStatus | LicensorError = validStatus();
  checkInResult: CheckInResult = { online: true, status: validStatus() };
  devices = {
    seats: 1,
    devices: [
      {
        id: 'act_other',
        label: 'office-pc',
        hostname: 'office',
        platform: 'win32',
        lastSeenAt: '2026-01-01T00:00:00.000Z',
        firstSeenAt: '2025-01-01T00:00:00.000Z',
      },
    ],
    transfers: { used: 0, limit: 3, periodDays: 30 },
  };

  get status(): LicenseStatus | undefined {
    return this.current;
  }

  async verify() {
    this.calls.push(['verify']);
    return this.current;
  }

  async activate(code: string) {
    this.calls.push(['activate', code]);
    if (this.activateResult instanceof Error) throw this.activateResult;
    this.publish(this.activateResult);
    return this.activateResult;
  }

  async checkIn() {
    this.calls.push(['checkIn']);
    return this.checkInResult;
  }

  async deactivate() {
    this.calls.push(['deactivate']);
    this.publish(noLicense());
  }

  async createOfflineRequest(code: string) {
    this.calls.push(['createOfflineRequest', code]);
    return `-----BEGIN LICENSOR ACTIVATION REQUEST-----\n${code}\n-----END LICENSOR ACTIVATION REQUEST-----\n`;
  }

  async importLicenseFile(text: string | Uint8Array) {
    this.calls.push(['importLicenseFile', text]);
    if (text === 'bad') throw new LicensorError('FILE_SIGNATURE_INVALID', 'License file not imported');
    this.publish(validStatus());
    return this.current;
  }

  async listSeatDevices(code: string) {
    this.calls.push(['listSeatDevices', code]);
    return this.devices;
  }

  async releaseSeatDevice(code: string, id: string) {
    this.calls.push(['releaseSeatDevice', code, id]);
    this.devices = { ...this.devices, devices: this.devices.devices.filter((d) => d.id !== id) };
  }

  on(event: string, listener: (...args: never[]) => void) {
    this.events.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off(event: string, listener: (...args: never[]) => void) {
    this.events.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  publish(status: LicenseStatus) {
    const prev = this.current;
    this.current = status;
    this.events.emit('status', status, prev);
  }

  /** Typed as the shell sees it. */
  asManager(): ShellManager {
    return this as unknown as ShellManager;
  }
}

/** A fake of the Electron main-process module: records what the shell does with it. */
export function fakeElectron(opts: { userData: string; locale?: string; packaged?: boolean }) {
  const record = {
    schemes: [] as unknown[],
    protocols: new Map<string, (req: { url: string; method: string }) => Promise<Response>>(),
    ipc: new Map<string, (event: unknown, ...args: unknown[]) => unknown>(),
    windows: [] as Array<{ options: unknown; urls: string[]; sent: unknown[][] }>,
    appEvents: new Map<string, (...args: unknown[]) => void>(),
    beforeRequest: undefined as undefined | ((d: { url: string }, cb: (r: { cancel?: boolean }) => void) => void),
    permissionRequest: undefined as undefined | ((c: unknown, p: string, cb: (g: boolean) => void) => void),
    errors: [] as string[],
    trayTooltips: [] as string[],
    /** Every Menu.setApplicationMenu argument. */
    applicationMenus: [] as unknown[],
    quit: 0,
  };
  let ready: () => void = () => undefined;
  const whenReady = new Promise<void>((resolve) => {
    ready = resolve;
  });
  class BrowserWindow {
    readonly record = { options: undefined as unknown, urls: [] as string[], sent: [] as unknown[][] };
    readonly webContents = {
      id: 1,
      on: () => this.webContents,
      setWindowOpenHandler: () => undefined,
      send: (...args: unknown[]) => this.record.sent.push(args),
      isDestroyed: () => false,
      closeDevTools: () => undefined,
    };
    constructor(options: unknown) {
      this.record.options = options;
      record.windows.push(this.record);
    }
    async loadURL(url: string) {
      this.record.urls.push(url);
    }
    show() {}
    focus() {}
    close() {}
    isDestroyed() {
      return false;
    }
    once() {
      return this;
    }
    on() {
      return this;
    }
  }
  const electron = {
    app: {
      whenReady: () => whenReady,
      getPath: () => opts.userData,
      getLocale: () => opts.locale ?? 'en-US',
      getVersion: () => '1.2.3',
      isPackaged: opts.packaged ?? true,
      quit: () => {
        record.quit++;
      },
      requestSingleInstanceLock: () => true,
      on: (event: string, listener: (...args: unknown[]) => void) => {
        record.appEvents.set(event, listener);
      },
    },
    protocol: {
      registerSchemesAsPrivileged: (schemes: unknown[]) => record.schemes.push(...schemes),
      handle: (scheme: string, handler: (req: { url: string; method: string }) => Promise<Response>) =>
        record.protocols.set(scheme, handler),
    },
    session: {
      defaultSession: {
        setPermissionRequestHandler: (h: typeof record.permissionRequest) => {
          record.permissionRequest = h;
        },
        setPermissionCheckHandler: () => undefined,
        webRequest: {
          onBeforeRequest: (h: typeof record.beforeRequest) => {
            record.beforeRequest = h;
          },
        },
      },
    },
    ipcMain: {
      handle: (channel: string, listener: (event: unknown, ...args: unknown[]) => unknown) =>
        record.ipc.set(channel, listener),
      removeHandler: (channel: string) => record.ipc.delete(channel),
    },
    BrowserWindow,
    dialog: {
      showSaveDialog: async () => ({ canceled: true }),
      showOpenDialog: async () => ({ canceled: true, filePaths: [] }),
      showErrorBox: (title: string, message: string) => record.errors.push(`${title}: ${message}`),
    },
    safeStorage: {
      isEncryptionAvailable: () => false,
      encryptString: () => Buffer.alloc(0),
      decryptString: () => '',
      getSelectedStorageBackend: () => 'basic_text',
    },
    Tray: class {
      setToolTip(t: string) {
        record.trayTooltips.push(t);
      }
      setContextMenu() {}
      destroy() {}
    },
    Menu: {
      buildFromTemplate: (t: unknown) => t,
      setApplicationMenu: (menu: unknown) => record.applicationMenus.push(menu),
    },
    nativeImage: { createFromPath: (p: string) => p },
  };
  return { electron, record, ready: () => ready() };
}
