import { describe, expect, it } from 'vitest';
import { CHANNELS } from '../shared/api';
import { buildApi } from './api';

function fakeIpc() {
  const invoked: unknown[][] = [];
  const listeners = new Map<string, Set<(event: unknown, ...args: unknown[]) => void>>();
  return {
    invoked,
    listeners,
    ipc: {
      invoke: async (channel: string, ...args: unknown[]) => {
        invoked.push([channel, ...args]);
        return { ok: true, value: channel };
      },
      on: (channel: string, l: (event: unknown, ...args: unknown[]) => void) => {
        if (!listeners.has(channel)) listeners.set(channel, new Set());
        listeners.get(channel)!.add(l);
      },
      removeListener: (channel: string, l: (event: unknown, ...args: unknown[]) => void) => {
        listeners.get(channel)?.delete(l);
      },
    },
  };
}

describe('preload API', () => {
  it('maps each method to its own channel with its own arguments', async () => {
    const f = fakeIpc();
    const api = buildApi(f.ipc);
    await api.status();
    await api.activate('PL123');
    await api.checkIn();
    await api.deactivate();
    await api.createOfflineRequest('PL123');
    await api.importLicenseFile();
    await api.listDevices('PL123');
    await api.releaseDevice('PL123', 'act_1');
    await api.openApp();
    await api.openLicenseWindow();
    expect(f.invoked).toEqual([
      [CHANNELS.status],
      [CHANNELS.activate, 'PL123'],
      [CHANNELS.checkIn],
      [CHANNELS.deactivate],
      [CHANNELS.createOfflineRequest, 'PL123'],
      [CHANNELS.importLicenseFile],
      [CHANNELS.listDevices, 'PL123'],
      [CHANNELS.releaseDevice, 'PL123', 'act_1'],
      [CHANNELS.openApp],
      [CHANNELS.openLicenseWindow],
    ]);
  });

  it('exposes only the named methods, frozen: no send, no invoke, no ipcRenderer', () => {
    const api = buildApi(fakeIpc().ipc);
    expect(Object.keys(api).sort()).toEqual(
      [
        'activate',
        'checkIn',
        'createOfflineRequest',
        'deactivate',
        'importLicenseFile',
        'listDevices',
        'onStatusChange',
        'openApp',
        'openLicenseWindow',
        'releaseDevice',
        'status',
      ].sort(),
    );
    expect(Object.isFrozen(api)).toBe(true);
    expect(() => {
      (api as unknown as Record<string, unknown>).send = () => undefined;
    }).toThrow();
  });

  it('passes arguments as strings only (objects cannot smuggle getters or prototypes)', async () => {
    const f = fakeIpc();
    const api = buildApi(f.ipc);
    await api.activate({ toString: () => 'PL9' } as unknown as string);
    expect(f.invoked).toEqual([[CHANNELS.activate, 'PL9']]);
  });

  it('hands status listeners the view only (never the IPC event), and unsubscribes', () => {
    const f = fakeIpc();
    const api = buildApi(f.ipc);
    const got: unknown[][] = [];
    const off = api.onStatusChange((...args) => got.push(args));
    for (const l of f.listeners.get(CHANNELS.statusChanged)!) l({ sender: 'secret' }, { code: 'VALID' });
    expect(got).toEqual([[{ code: 'VALID' }]]);
    off();
    expect(f.listeners.get(CHANNELS.statusChanged)!.size).toBe(0);
    expect(() => api.onStatusChange('nope' as never)).toThrow(TypeError);
  });
});
