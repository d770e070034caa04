/**
 * The preload's API object, built from an `ipcRenderer` so it can be tested under Node. Each method invokes
 * one fixed channel with its own arguments; the renderer never names a channel and never sees the
 * IpcRendererEvent (it carries `sender`, a way back into Electron).
 */
import { CHANNELS, type LicenseView, type LicensorApi } from '../shared/api';

export interface IpcRendererLike {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
  removeListener(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
}

export function buildApi(ipc: IpcRendererLike): LicensorApi {
  // biome-ignore lint/suspicious/noExplicitAny: results are typed by LicensorApi; main validates everything.
  const call = (channel: string, ...args: unknown[]): Promise<any> => ipc.invoke(channel, ...args);
  const api: LicensorApi = {
    status: () => call(CHANNELS.status),
    activate: (code) => call(CHANNELS.activate, String(code)),
    checkIn: () => call(CHANNELS.checkIn),
    deactivate: () => call(CHANNELS.deactivate),
    createOfflineRequest: (code) => call(CHANNELS.createOfflineRequest, String(code)),
    importLicenseFile: () => call(CHANNELS.importLicenseFile),
    listDevices: (code) => call(CHANNELS.listDevices, String(code)),
    releaseDevice: (code, deviceId) => call(CHANNELS.releaseDevice, String(code), String(deviceId)),
    openApp: () => call(CHANNELS.openApp),
    openLicenseWindow: () => call(CHANNELS.openLicenseWindow),
    onStatusChange(listener) {
      if (typeof listener !== 'function') throw new TypeError('onStatusChange needs a function');
      const wrapped = (_event: unknown, view: unknown) => listener(view as LicenseView);
      ipc.on(CHANNELS.statusChanged, wrapped);
      return () => {
        ipc.removeListener(CHANNELS.statusChanged, wrapped);
      };
    },
  };
  return Object.freeze(api);
}
