/**
 * The contract between the main process, the preload script and the renderer: IPC channel names, the API
 * that the preload exposes as `window.licensor`, and the plain-data views it returns. No Node or Electron
 * imports here: the renderer bundle includes this file.
 */

/** One channel per operation: the preload never forwards arbitrary channels. */
export const CHANNELS = {
  status: 'licensor:status',
  activate: 'licensor:activate',
  checkIn: 'licensor:check-in',
  deactivate: 'licensor:deactivate',
  createOfflineRequest: 'licensor:create-offline-request',
  importLicenseFile: 'licensor:import-license-file',
  listDevices: 'licensor:list-devices',
  releaseDevice: 'licensor:release-device',
  openApp: 'licensor:open-app',
  openLicenseWindow: 'licensor:open-license-window',
  /** main → renderer push (webContents.send), never handled in main. */
  statusChanged: 'licensor:status-changed',
} as const;

export type InvokeChannel = Exclude<(typeof CHANNELS)[keyof typeof CHANNELS], typeof CHANNELS.statusChanged>;

/** The license as the renderer sees it: display fields only (no file text, keys or raw fingerprints). */
export interface LicenseView {
  valid: boolean;
  /** Stable status code (VALID, NO_LICENSE, EXPIRED, FROZEN, …): the renderer localises it. */
  code: string;
  /** The library's English sentence, shown as detail under the localised text. */
  message: string;
  license: {
    id: string;
    product: string;
    edition: string | null;
    sku: string | null;
    /** The features signed in the License (the catalogue's, for its edition/SKU): name → on or a limit. */
    features: Record<string, true | number>;
    seats: number;
    status: string;
    expiresAt: string | null;
    refreshBy: string | null;
    graceUntil: string | null;
    test: boolean;
  } | null;
  /** The product as people know it (the application's name), for the status view. */
  productName: string;
  /** `name`: the name this device is registered under (its label, else its host name). */
  device: { activationId: string | null; name: string };
  lastCheckInAt: string | null;
  graceDaysLeft: number | null;
  daysLeft: number | null;
  warning: string | null;
  /** The server's own words for a locking verdict (FROZEN, REVOKED…), when it gave some. */
  serverMessage: string | null;
  checkedAt: string;
}

export interface DeviceView {
  id: string;
  label: string | null;
  hostname: string | null;
  platform: string | null;
  lastSeenAt: string;
  current: boolean;
}

export interface DevicesView {
  seats: number;
  devices: DeviceView[];
  transfers: { used: number; limit: number; periodDays: number };
}

export interface ErrorView {
  /** A shared Licensor code (TOO_MANY_DEVICES, NOT_FOUND, SERVER_UNREACHABLE, …). */
  code: string;
  message: string;
  /** The devices holding the seats, on TOO_MANY_DEVICES. */
  devices?: DeviceView[];
  seats?: number;
  retryable: boolean;
}

/** Every call resolves (IPC would flatten a thrown error into a string): failures are values. */
export type Result<T> = { ok: true; value: T } | { ok: false; error: ErrorView };

export interface OfflineRequestSaved {
  /** False when the person cancelled the save dialog. */
  saved: boolean;
  fileName: string | null;
}

/** What `window.licensor` offers. Every method validates in main; the renderer gets no other access. */
export interface LicensorApi {
  status(): Promise<Result<LicenseView>>;
  activate(code: string): Promise<Result<LicenseView>>;
  checkIn(): Promise<Result<LicenseView>>;
  deactivate(): Promise<Result<LicenseView>>;
  /** Writes an activation request for `code` to a file the person picks (main shows the dialog). */
  createOfflineRequest(code: string): Promise<Result<OfflineRequestSaved>>;
  /** Reads a License file the person picks and stores it if it verifies; null value when cancelled. */
  importLicenseFile(): Promise<Result<LicenseView | null>>;
  listDevices(code: string): Promise<Result<DevicesView>>;
  releaseDevice(code: string, deviceId: string): Promise<Result<DevicesView>>;
  /** Opens the application window (only while the license is valid) and closes the license window. */
  openApp(): Promise<Result<boolean>>;
  openLicenseWindow(): Promise<Result<boolean>>;
  /** Subscribes to status changes; returns the unsubscribe function. */
  onStatusChange(listener: (view: LicenseView) => void): () => void;
}

declare global {
  interface Window {
    licensor: LicensorApi;
  }
}
