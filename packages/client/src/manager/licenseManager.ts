/**
 * LicenseManager: what an app calls at start-up and on a timer. Offline verification first (pinned roots,
 * fingerprint, clock, grace); online activation, check-in and deactivation when there is a server.
 * Each public operation takes the lock of the shared state (state.ts) and runs one workflow module.
 */
import { type DevicesResponse, LicensorError } from '@licensor/shared';
import { normalizeServerUrl } from '../api';
import { defaultDataDir } from '../dataDir';
import type { LicenseStatus } from '../evaluate';
import type { MachineFingerprint } from '../fingerprint';
import {
  activateLocked,
  deactivateLocked,
  listSeatDevicesLocked,
  releaseSeatDeviceLocked,
  resetLocked,
} from './activation';
import { startAutoCheckIn, stopAutoCheckIn } from './autoCheckIn';
import { checkInFailed, checkInLocked } from './checkIn';
import { featureValue, hasFeature } from './features';
import { importLocked, offlineRequestLocked } from './offline';
import { ManagerState } from './state';
import type {
  ActivateOptions,
  AutoCheckInOptions,
  CheckInResult,
  LicenseManagerEvents,
  LicenseManagerOptions,
} from './types';
import { verifyLocked } from './verify';

export class LicenseManager {
  readonly productId: string;
  readonly dataDir: string;
  readonly #s: ManagerState;

  constructor(opts: LicenseManagerOptions) {
    if (!opts || typeof opts.productId !== 'string' || opts.productId.length === 0 || opts.productId.length > 64) {
      throw new LicensorError('INVALID_INPUT', 'productId is required (1–64 characters)');
    }
    if (!Array.isArray(opts.roots) || opts.roots.length === 0) {
      throw new LicensorError(
        'INVALID_INPUT',
        'roots is required: pass the pinned root certificate PEM shipped with the app',
      );
    }
    if (!opts.dataDir && !opts.appName) {
      throw new LicensorError('INVALID_INPUT', 'Pass dataDir, or appName to use the per-user default data folder');
    }
    this.productId = opts.productId;
    this.dataDir = opts.dataDir ?? defaultDataDir(opts.appName!);
    this.#s = new ManagerState(
      { ...opts, serverUrl: opts.serverUrl ? normalizeServerUrl(opts.serverUrl) : undefined },
      this.dataDir,
    );
  }

  /** The last status computed (undefined before the first verify). */
  get status(): LicenseStatus | undefined {
    return this.#s.last;
  }

  /**
   * Whether the verified License grants a feature: the license is valid and the feature is on (`true`, or a
   * number above 0). Offline: it reads the last verification (call verify() or activate() first).
   */
  hasFeature(name: string): boolean {
    return hasFeature(this.#s.last, name);
  }

  /** A feature's value in the verified License (`true` or a limit such as 20); undefined when absent or not valid. */
  featureValue(name: string): true | number | undefined {
    return featureValue(this.#s.last, name);
  }

  on<E extends keyof LicenseManagerEvents>(event: E, listener: (...args: LicenseManagerEvents[E]) => void): this {
    this.#s.events.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<E extends keyof LicenseManagerEvents>(event: E, listener: (...args: LicenseManagerEvents[E]) => void): this {
    this.#s.events.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** This machine's fingerprint (collected once per manager). */
  fingerprint(): Promise<MachineFingerprint> {
    return this.#s.fingerprint();
  }

  /** Verifies the stored License offline. Never needs the network; never throws for license problems. */
  verify(): Promise<LicenseStatus> {
    return this.#s.exclusive(() => verifyLocked(this.#s));
  }

  /** Activates this device online with a license code and stores the verified License file. */
  activate(code: string, opts: ActivateOptions = {}): Promise<LicenseStatus> {
    return this.#s.exclusive(() => activateLocked(this.#s, code, opts));
  }

  /**
   * Reports to the server and applies its answer; on failure the stored file keeps working within its limits.
   * Never throws: every failure (no activation, untrusted local data, no server configured, network, storage)
   * comes back as `{ online: false, status, error }` with the offline status the app should act on.
   */
  checkIn(): Promise<CheckInResult> {
    return this.#s.exclusive(async () => {
      let result: CheckInResult;
      try {
        result = await checkInLocked(this.#s);
      } catch (err) {
        result = await checkInFailed(this.#s, err);
      }
      this.#s.events.emit('check-in', result);
      return result;
    });
  }

  /** Frees this device's seat on the server, then forgets the local License and device key. */
  deactivate(): Promise<void> {
    return this.#s.exclusive(() => deactivateLocked(this.#s));
  }

  /** An activation request file for a machine without network access (answered by an operator). */
  createOfflineRequest(code: string, opts: ActivateOptions = {}): Promise<string> {
    return this.#s.exclusive(() => offlineRequestLocked(this.#s, code, opts));
  }

  /** Verifies a License file against this device and stores it (offline activation, marketplace-delivered files). */
  importLicenseFile(text: string | Uint8Array): Promise<LicenseStatus> {
    return this.#s.exclusive(() => importLocked(this.#s, text));
  }

  /** The devices holding seats of a license code (to free a lost machine's seat). */
  listSeatDevices(code: string): Promise<DevicesResponse> {
    return this.#s.exclusive(() => listSeatDevicesLocked(this.#s, code));
  }

  /** Frees the seat of another device of the same license code; false when it was already free. */
  releaseSeatDevice(code: string, deviceId: string): Promise<boolean> {
    return this.#s.exclusive(() => releaseSeatDeviceLocked(this.#s, code, deviceId));
  }

  /** Forgets the local state (e.g. after STATE_TAMPERED); the next activation starts afresh. */
  reset(): Promise<void> {
    return this.#s.exclusive(() => resetLocked(this.#s));
  }

  /**
   * Verifies now, then keeps the license fresh: checks in when the server's interval has passed (retrying
   * with backoff while offline) and re-verifies offline every `verifyIntervalMs`. Status changes are
   * emitted as 'status' events.
   */
  startAutoCheckIn(opts: AutoCheckInOptions = {}): void {
    startAutoCheckIn(this.#s, opts, { verify: () => this.verify(), checkIn: () => this.checkIn() });
  }

  /** Stops the automatic check-ins and waits for one in progress. */
  async stop(): Promise<void> {
    await stopAutoCheckIn(this.#s);
  }
}
