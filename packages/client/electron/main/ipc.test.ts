import { LicensorError } from '@licensor/shared';
import { describe, expect, it } from 'vitest';
import { CHANNELS, type InvokeChannel, type Result } from '../shared/api';
import { FakeManager, validStatus } from '../test/fakes';
import type { InvokeEventLike } from './electronTypes';
import { handlerFor, INVOKE_CHANNELS, type IpcActions, registerIpc } from './ipc';
import { LicenseService, type OfflineFiles } from './licenseService';

const LICENSE_PAGE: InvokeEventLike = {
  senderFrame: { url: 'app://licensor/index.html', parent: null },
  sender: { id: 1 },
};
const APP_PAGE: InvokeEventLike = {
  senderFrame: { url: 'app://licensor/app/index.html', parent: null },
  sender: { id: 2 },
};

function setup() {
  const manager = new FakeManager();
  const files: OfflineFiles = {
    saveRequest: async (_text, name) => ({ saved: true, fileName: name }),
    openLicenseFile: async () => 'license text',
  };
  const service = new LicenseService({
    manager: manager.asManager(),
    files,
    deviceName: 'this-pc',
    productName: 'Demo',
    productId: 'OFFI0001',
  });
  const opened: string[] = [];
  const actions: IpcActions = {
    service,
    openApp: async () => {
      opened.push('app');
      return true;
    },
    openLicenseWindow: async () => {
      opened.push('license');
      return true;
    },
  };
  const warnings: string[] = [];
  const log = { warn: (m: string) => warnings.push(m) };
  const call = (channel: InvokeChannel, event: InvokeEventLike, ...args: unknown[]) =>
    handlerFor(channel, actions, log)(event, ...args) as Promise<Result<unknown>>;
  return { manager, call, opened, warnings };
}

describe('IPC registration', () => {
  it('installs one handler per API method (no generic channel) and removes them all', () => {
    const handled = new Map<string, unknown>();
    const ipcMain = {
      handle: (channel: string, listener: unknown) => {
        expect(handled.has(channel)).toBe(false);
        handled.set(channel, listener);
      },
      removeHandler: (channel: string) => handled.delete(channel),
    };
    const { manager } = setup();
    const service = new LicenseService({
      manager: manager.asManager(),
      files: { saveRequest: async () => ({ saved: false, fileName: null }), openLicenseFile: async () => null },
      deviceName: 'x',
      productName: 'Demo',
      productId: 'p',
    });
    const unregister = registerIpc(ipcMain, {
      service,
      openApp: async () => true,
      openLicenseWindow: async () => true,
    });
    expect([...handled.keys()].sort()).toEqual(
      Object.values(CHANNELS)
        .filter((c) => c !== CHANNELS.statusChanged)
        .sort(),
    );
    expect(INVOKE_CHANNELS).toHaveLength(handled.size);
    unregister();
    expect(handled.size).toBe(0);
  });
});

describe('sender validation', () => {
  const untrusted: Array<[string, InvokeEventLike]> = [
    ['a remote page', { senderFrame: { url: 'https://evil.example/', parent: null }, sender: { id: 3 } }],
    ['a file:// page', { senderFrame: { url: 'file:///home/u/index.html', parent: null }, sender: { id: 3 } }],
    [
      'an iframe inside our page',
      {
        senderFrame: { url: 'app://licensor/index.html', parent: { url: 'app://licensor/index.html', parent: null } },
        sender: { id: 1 },
      },
    ],
    ['a destroyed frame', { senderFrame: null, sender: { id: 1 } }],
  ];

  it.each(untrusted)('refuses every channel from %s, without calling the manager', async (_what, event) => {
    const { manager, call, warnings } = setup();
    for (const channel of INVOKE_CHANNELS) {
      const r = await call(channel, event, 'LSR-00000-00000-00000-00000', 'act_x');
      expect(r.ok, channel).toBe(false);
      if (!r.ok) expect(r.error.code).toBe('FORBIDDEN');
    }
    expect(manager.calls).toEqual([]);
    expect(warnings).toHaveLength(INVOKE_CHANNELS.length);
  });

  it('lets the application page read the status and open the license window, but not change the license', async () => {
    const { manager, call, opened } = setup();
    expect((await call(CHANNELS.status, APP_PAGE)).ok).toBe(true);
    expect(await call(CHANNELS.openLicenseWindow, APP_PAGE)).toEqual({ ok: true, value: true });
    expect(opened).toEqual(['license']);
    for (const channel of [CHANNELS.activate, CHANNELS.deactivate, CHANNELS.checkIn, CHANNELS.releaseDevice] as const) {
      const r = await call(channel, APP_PAGE, 'PL123', 'act_other');
      expect(r.ok ? 'ok' : r.error.code, channel).toBe('FORBIDDEN');
    }
    expect(manager.calls).toEqual([['verify']]);
  });
});

describe('argument validation', () => {
  it.each([
    ['a number', [42]],
    ['an object', [{ code: 'PL1' }]],
    ['nothing', []],
    ['an empty code', ['']],
    ['only spaces', ['   \n ']],
    ['a code that is too long', ['X'.repeat(65)]],
    ['a huge string', ['X'.repeat(100_000)]],
    ['an extra argument', ['PL123', 'extra']],
  ])('refuses activate with %s', async (_what, args) => {
    const { manager, call } = setup();
    const r = await call(CHANNELS.activate, LICENSE_PAGE, ...args);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('INVALID_INPUT');
      expect(r.error.message.length).toBeGreaterThan(5);
    }
    expect(manager.calls).toEqual([]);
  });

  it('says what is wrong with the code, and what the argument count is', async () => {
    const { call } = setup();
    const empty = await call(CHANNELS.activate, LICENSE_PAGE, ' ');
    expect(!empty.ok && empty.error.message).toBe('Enter the license code from your order');
    const extra = await call(CHANNELS.status, LICENSE_PAGE, 'unexpected');
    expect(!extra.ok && extra.error.message).toBe('licensor:status takes no arguments');
  });

  it.each([['../../etc'], ['a b'], [''], ['x'.repeat(129)], [7]])(
    'refuses releaseDevice with device id %j',
    async (id) => {
      const { manager, call } = setup();
      const r = await call(CHANNELS.releaseDevice, LICENSE_PAGE, 'PL123', id);
      expect(!r.ok && r.error.code).toBe('INVALID_INPUT');
      expect(manager.calls).toEqual([]);
    },
  );

  it('passes valid arguments on with whitespace removed from the code', async () => {
    const { manager, call } = setup();
    const r = await call(CHANNELS.activate, LICENSE_PAGE, ' LSR-ABCDE -FGHJK\n-MNPQR-STVWX ');
    expect(r.ok).toBe(true);
    expect(manager.calls).toEqual([['activate', 'LSR-ABCDE-FGHJK-MNPQR-STVWX']]);
    await call(CHANNELS.releaseDevice, LICENSE_PAGE, 'PL123', 'act_other');
    expect(manager.calls.slice(1)).toEqual([
      ['releaseSeatDevice', 'PL123', 'act_other'],
      ['listSeatDevices', 'PL123'],
    ]);
  });
});

describe('results', () => {
  it('returns failures as values with their code and seats-full devices', async () => {
    const { manager, call } = setup();
    manager.activateResult = new LicensorError('TOO_MANY_DEVICES', 'All 1 seat of this license are in use.', {
      seats: 1,
      devices: [
        { id: 'act_other', label: 'office-pc', hostname: null, platform: 'win32', lastSeenAt: '2026-01-01T00:00:00Z' },
      ],
    });
    const r = await call(CHANNELS.activate, LICENSE_PAGE, 'PL123');
    expect(r).toEqual({
      ok: false,
      error: {
        code: 'TOO_MANY_DEVICES',
        message: 'All 1 seat of this license are in use.',
        retryable: false,
        seats: 1,
        devices: [
          {
            id: 'act_other',
            label: 'office-pc',
            hostname: null,
            platform: 'win32',
            lastSeenAt: '2026-01-01T00:00:00Z',
            current: false,
          },
        ],
      },
    });
  });

  it('turns a failing window action into INTERNAL without its message', async () => {
    const { manager } = setup();
    const service = new LicenseService({
      manager: manager.asManager(),
      files: { saveRequest: async () => ({ saved: false, fileName: null }), openLicenseFile: async () => null },
      deviceName: 'x',
      productName: 'Demo',
      productId: 'p',
    });
    const handler = handlerFor(CHANNELS.openApp, {
      service,
      openApp: async () => {
        throw new Error('/secret/path exploded');
      },
      openLicenseWindow: async () => true,
    });
    const r = (await handler(LICENSE_PAGE)) as Result<unknown>;
    expect(r).toEqual({
      ok: false,
      error: { code: 'INTERNAL', message: 'The operation failed unexpectedly. Try again.', retryable: true },
    });
  });

  it('gives the renderer display fields only', async () => {
    const { manager, call } = setup();
    manager.current = validStatus();
    const r = await call(CHANNELS.status, LICENSE_PAGE);
    expect(r.ok).toBe(true);
    const text = JSON.stringify(r);
    for (const secret of ['signingKeyId', 'entitlementId', 'binding', 'deviceKeyBound', 'serverTime']) {
      expect(text).not.toContain(secret);
    }
  });
});
