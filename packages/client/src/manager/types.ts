// The manager's public option, result and event types (documented in README.md; re-exported by index.ts).
import type { LicenseStatus } from '../evaluate';
import type { MachineFingerprint } from '../fingerprint';
import type { SecretStore } from '../store';

export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface DeviceDescription {
  /** Shown to the license holder when seats are full ("Alice's laptop"). */
  label?: string;
  /** Sent unless set to null (some organisations treat host names as personal data). */
  hostname?: string | null;
}

export interface LicenseManagerOptions {
  /** The product this app is licensed as (must equal the License file's `product`). */
  productId: string;
  /** Pinned root certificate PEM(s) shipped with the app; the only trust anchors. */
  roots: string[];
  /** Licensor server base URL (e.g. https://license.example.com); needed for online operations. */
  serverUrl?: string;
  /** Names the default per-user data folder (see `defaultDataDir`); or pass `dataDir`. */
  appName?: string;
  dataDir?: string;
  /**
   * Keeps the device private key in OS-backed storage (e.g. Electron safeStorage) instead of the state file,
   * and an anti-rollback anchor of the state (its generation and high-water mark).
   */
  secretStore?: SecretStore;
  /**
   * Folder for this user's anti-rollback anchor files, outside the data folder (default: `defaultAnchorDir()`,
   * e.g. `~/.local/state/licensor/anchors`); null keeps none there. A state older than an anchor is refused
   * (`TIME_MODIFIED`, `detail.reason: 'state-rolled-back'`) until an online check-in.
   */
  anchorDir?: string | null;
  /**
   * Fingerprint provider; default: `defaultFingerprintProvider()` (systeminformation behind a per-boot cache).
   * Called again with `{ patient: true }` when readings had timed out (or came from the cache) and the state or
   * the License did not match: it must then read the hardware again, with a longer timeout.
   */
  fingerprint?: (opts: { patient: boolean }) => Promise<MachineFingerprint> | MachineFingerprint;
  /** Clock (ms since epoch); injectable for tests. */
  now?: () => number;
  timers?: Timers;
  fetch?: typeof fetch;
  /** Accepted License signature algorithms (subset of ['EdDSA']). */
  algorithms?: readonly string[];
  /** Allowance for clock differences on validity windows (default 5 min). */
  clockSkewMs?: number;
  /** How far the clock may be behind the trusted high-water mark before TIME_MODIFIED (default 60 min). */
  rollbackToleranceMs?: number;
  requestTimeoutMs?: number;
  appVersion?: string;
  device?: DeviceDescription;
  /** Also send the raw KooGallery fingerprint string at activation (only for products that bind to it). */
  sendKooGalleryFingerprint?: boolean;
}

export interface ActivateOptions {
  /** Named-user licensing: the enterprise user this seat is for. */
  user?: string;
  label?: string;
}

export interface CheckInResult {
  /** Whether the server answered (with any verdict). */
  online: boolean;
  /** The license status after the check-in (what the app should act on). */
  status: LicenseStatus;
  /** The server's verdict and words when it answered. */
  serverStatus?: string;
  serverMessage?: string;
  /** Why the server could not be used; the stored file keeps working until its refresh/grace limit. */
  error?: { code: string; message: string; retryable: boolean };
}

export interface AutoCheckInOptions {
  /** Offline re-verification period, so expiry and grace are noticed while the app runs (default 1 h). */
  verifyIntervalMs?: number;
  /** First retry delay after a failed check-in, doubled per failure (default 5 min). */
  retryMinMs?: number;
  /** Longest retry delay (default 1 h). */
  retryMaxMs?: number;
}

export interface LicenseManagerEvents {
  /** The status changed (code, validity or warning), with the previous status. */
  status: [status: LicenseStatus, previous: LicenseStatus | undefined];
  /** A check-in finished (online or not). */
  'check-in': [result: CheckInResult];
}
