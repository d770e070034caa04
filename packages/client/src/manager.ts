/**
 * LicenseManager: what an app calls at start-up and on a timer. Offline verification first (pinned roots,
 * fingerprint, clock, grace); online activation, check-in and deactivation when there is a server.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { arch, hostname, platform, release } from 'node:os';
import {
  type ActivateRequest,
  activateRequestSchema,
  activateResponseSchema,
  checkInResponseSchema,
  type DevicesResponse,
  decodeLicenseFile,
  devicePublicKeyHash,
  devicesResponseSchema,
  encodeOfflineRequest,
  LicenseVerifier,
  LicensorError,
  newNonce,
  normalizeLicenseCode,
  offlineRequestSchema,
  type RevocationList,
  type SignedRevocationList,
  toLicensorError,
  type VerdictPayload,
  verifyRevocationList,
} from '@licensor/shared';
import { z } from 'zod';
import { AnchorStore, defaultAnchorDir } from './anchor';
import { ApiClient, normalizeServerUrl } from './api';
import { defaultDataDir } from './dataDir';
import {
  DEFAULT_CLOCK_SKEW_MS,
  DEFAULT_ROLLBACK_TOLERANCE_MS,
  type EvaluateInput,
  type Evaluation,
  evaluateLicense,
  type LicenseStatus,
  LOCKING_VERDICTS,
  makeStatus,
} from './evaluate';
import { defaultFingerprintProvider, hashedFingerprint, type MachineFingerprint } from './fingerprint';
import { type DeviceKeyRecord, type SecretStore, type StateBody, StateStore } from './store';

const HOUR = 3_600_000;
const DEFAULT_CHECK_IN_INTERVAL_S = 24 * 3600;
/** Persist the local high-water mark at most this often (verify may run very frequently). */
const HIGH_WATER_STEP_MS = 60_000;
/** setTimeout's ceiling (~24.8 days); longer delays would fire immediately. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  setTimeout: (cb, ms) => {
    const t = setTimeout(cb, ms);
    // A license timer must never keep a CLI or a closing app alive.
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

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

interface AutoState {
  timer: unknown;
  failures: number;
  inflight: Promise<void> | undefined;
}

const releasedSchema = z.object({ released: z.literal(true) });
const releaseResponseSchema = z.object({ released: z.boolean() });
const b64uSha256 = (s: string) => createHash('sha256').update(s).digest('base64url');

/** The name an activation request registered this device under, for the state. */
function deviceLabelOf(device: ActivateRequest['device']): { deviceLabel?: string } {
  const name = device?.label ?? device?.hostname;
  return name ? { deviceLabel: name } : {};
}

export class LicenseManager {
  readonly productId: string;
  readonly dataDir: string;
  readonly #opts: LicenseManagerOptions;
  readonly #verifier: LicenseVerifier;
  readonly #store: StateStore;
  readonly #now: () => number;
  readonly #timers: Timers;
  readonly #events = new EventEmitter();
  readonly #apis = new Map<string, ApiClient>();
  #fp: MachineFingerprint | undefined;
  #body: StateBody | undefined;
  /** The newest root-signed revoked-key list seen (state or server), by serial. */
  #revocations: { serial: number; signed: SignedRevocationList } | undefined;
  #tampered: string | undefined;
  /** Set when the loaded state is older than this install's anti-rollback anchor. */
  #rolledBack: { state: number; anchor: number } | undefined;
  /** The newest generation any anchor of this install has seen; the next save goes beyond it. */
  #anchorGeneration = 0;
  /** The trusted-time mark recorded with that generation. */
  #anchorHighWater = 0;
  readonly #anchors: AnchorStore;
  #loaded = false;
  #patientReadDone = false;
  #last: LicenseStatus | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #auto: AutoState | undefined;

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
    this.#opts = { ...opts, serverUrl: opts.serverUrl ? normalizeServerUrl(opts.serverUrl) : undefined };
    this.productId = opts.productId;
    this.dataDir = opts.dataDir ?? defaultDataDir(opts.appName!);
    this.#verifier = new LicenseVerifier({ roots: opts.roots, algorithms: opts.algorithms });
    this.#store = new StateStore({ dataDir: this.dataDir, productId: opts.productId, secretStore: opts.secretStore });
    this.#anchors = new AnchorStore({
      productId: opts.productId,
      secretStore: opts.secretStore,
      anchorDir: opts.anchorDir === undefined ? defaultAnchorDir() : opts.anchorDir,
    });
    this.#now = opts.now ?? Date.now;
    this.#timers = opts.timers ?? realTimers;
  }

  /** The last status computed (undefined before the first verify). */
  get status(): LicenseStatus | undefined {
    return this.#last;
  }

  /**
   * Whether the verified License grants a feature: the license is valid and the feature is on (`true`, or a
   * number above 0). Offline: it reads the last verification (call verify() or activate() first).
   */
  hasFeature(name: string): boolean {
    const value = this.featureValue(name);
    return value === true || (typeof value === 'number' && value > 0);
  }

  /** A feature's value in the verified License (`true` or a limit such as 20); undefined when absent or not valid. */
  featureValue(name: string): true | number | undefined {
    const last = this.#last;
    if (!last?.valid || !last.license || !Object.hasOwn(last.license.features, name)) return undefined;
    return last.license.features[name];
  }

  on<E extends keyof LicenseManagerEvents>(event: E, listener: (...args: LicenseManagerEvents[E]) => void): this {
    this.#events.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<E extends keyof LicenseManagerEvents>(event: E, listener: (...args: LicenseManagerEvents[E]) => void): this {
    this.#events.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** This machine's fingerprint (collected once per manager). */
  async fingerprint(): Promise<MachineFingerprint> {
    if (!this.#fp) this.#fp = await this.#provide(false);
    return this.#fp;
  }

  #provide(patient: boolean): Promise<MachineFingerprint> | MachineFingerprint {
    return (this.#opts.fingerprint ?? defaultFingerprintProvider())({ patient });
  }

  /** Verifies the stored License offline. Never needs the network; never throws for license problems. */
  verify(): Promise<LicenseStatus> {
    return this.#exclusive(() => this.#verifyLocked());
  }

  /** Activates this device online with a license code and stores the verified License file. */
  activate(code: string, opts: ActivateOptions = {}): Promise<LicenseStatus> {
    return this.#exclusive(() => this.#activateLocked(code, opts));
  }

  /**
   * Reports to the server and applies its answer; on failure the stored file keeps working within its limits.
   * Never throws: every failure (no activation, untrusted local data, no server configured, network, storage)
   * comes back as `{ online: false, status, error }` with the offline status the app should act on.
   */
  checkIn(): Promise<CheckInResult> {
    return this.#exclusive(async () => {
      let result: CheckInResult;
      try {
        result = await this.#checkInLocked();
      } catch (err) {
        result = await this.#checkInFailed(err);
      }
      this.#events.emit('check-in', result);
      return result;
    });
  }

  /** Frees this device's seat on the server, then forgets the local License and device key. */
  deactivate(): Promise<void> {
    return this.#exclusive(() => this.#deactivateLocked());
  }

  /** An activation request file for a machine without network access (answered by an operator). */
  createOfflineRequest(code: string, opts: ActivateOptions = {}): Promise<string> {
    return this.#exclusive(() => this.#offlineRequestLocked(code, opts));
  }

  /** Verifies a License file against this device and stores it (offline activation, marketplace-delivered files). */
  importLicenseFile(text: string | Uint8Array): Promise<LicenseStatus> {
    return this.#exclusive(() => this.#importLocked(text));
  }

  /** The devices holding seats of a license code (to free a lost machine's seat). */
  listSeatDevices(code: string): Promise<DevicesResponse> {
    return this.#exclusive(async () => {
      await this.#ensureState();
      const { data } = await this.#api().request({
        method: 'POST',
        path: '/api/v1/seats/devices',
        body: { code: this.#normalizeCode(code) },
        schema: devicesResponseSchema,
      });
      return data;
    });
  }

  /** Frees the seat of another device of the same license code; false when it was already free. */
  releaseSeatDevice(code: string, deviceId: string): Promise<boolean> {
    return this.#exclusive(async () => {
      if (typeof deviceId !== 'string' || !/^[A-Za-z0-9_.:-]{1,128}$/.test(deviceId)) {
        throw new LicensorError('INVALID_INPUT', 'deviceId must be an id from the device list');
      }
      await this.#ensureState();
      const { data } = await this.#api().request({
        method: 'POST',
        path: `/api/v1/seats/devices/${encodeURIComponent(deviceId)}/release`,
        body: { code: this.#normalizeCode(code) },
        schema: releaseResponseSchema,
      });
      return data.released;
    });
  }

  /** Forgets the local state (e.g. after STATE_TAMPERED); the next activation starts afresh. */
  reset(): Promise<void> {
    return this.#exclusive(async () => {
      await this.#store.deleteDeviceKey(this.#body?.device);
      this.#store.reset();
      this.#body = undefined;
      this.#tampered = undefined;
      this.#rolledBack = undefined; // the anchor stays: the next state continues beyond its generation
      this.#loaded = true;
      this.#publish(makeStatus('NO_LICENSE', this.#now(), null));
    });
  }

  /**
   * Verifies now, then keeps the license fresh: checks in when the server's interval has passed (retrying
   * with backoff while offline) and re-verifies offline every `verifyIntervalMs`. Status changes are
   * emitted as 'status' events.
   */
  startAutoCheckIn(opts: AutoCheckInOptions = {}): void {
    if (this.#auto) return;
    const verifyEvery = opts.verifyIntervalMs ?? HOUR;
    const retryMin = opts.retryMinMs ?? 5 * 60_000;
    const retryMax = opts.retryMaxMs ?? HOUR;
    const auto: AutoState = { timer: undefined, failures: 0, inflight: undefined };
    this.#auto = auto;
    const schedule = (ms: number) => {
      if (this.#auto !== auto) return;
      auto.timer = this.#timers.setTimeout(tick, Math.max(0, Math.min(ms, MAX_TIMER_MS)));
    };
    const run = async (): Promise<number> => {
      await this.#exclusive(() => this.#ensureState());
      const body = this.#body;
      const canCheckIn = Boolean(body?.activationId && body.device && (body.serverUrl ?? this.#opts.serverUrl));
      if (!canCheckIn) {
        await this.verify();
        return verifyEvery;
      }
      const interval = (body!.checkInIntervalSeconds ?? DEFAULT_CHECK_IN_INTERVAL_S) * 1000;
      const due = (body!.lastCheckInAt ?? 0) + interval;
      if (this.#now() < due) {
        await this.verify();
        return Math.min(verifyEvery, due - this.#now());
      }
      const result = await this.checkIn();
      if (result.online) {
        auto.failures = 0;
        return Math.min(verifyEvery, (this.#body?.checkInIntervalSeconds ?? DEFAULT_CHECK_IN_INTERVAL_S) * 1000);
      }
      auto.failures++;
      return Math.min(retryMax, retryMin * 2 ** (auto.failures - 1));
    };
    const tick = () => {
      auto.timer = undefined;
      auto.inflight = run()
        .catch(() => verifyEvery) // storage trouble: the status was published; try again later
        .then(schedule)
        .finally(() => {
          auto.inflight = undefined;
        });
    };
    schedule(0);
  }

  /** Stops the automatic check-ins and waits for one in progress. */
  async stop(): Promise<void> {
    const auto = this.#auto;
    this.#auto = undefined;
    if (!auto) return;
    if (auto.timer !== undefined) this.#timers.clearTimeout(auto.timer);
    await auto.inflight;
  }

  // ---- internals ---------------------------------------------------------------------------------------

  /** Operations run one at a time so state writes of one manager never interleave. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #ensureState(): Promise<void> {
    const fp = await this.fingerprint();
    if (this.#loaded && !this.#store.changedOnDisk()) return;
    let r = this.#store.load(fp);
    if (r.kind === 'tampered' && r.reason === 'other-machine' && (await this.#readPatiently())) {
      r = this.#store.load(this.#fp!);
    }
    this.#loaded = true;
    this.#body = r.kind === 'ok' ? r.body : undefined;
    this.#tampered = r.kind === 'tampered' ? r.reason : undefined;
    await this.#checkAnchors();
    // Another process writes its state before its anchor: if it saved between our two reads, read both again.
    if (this.#rolledBack && this.#store.changedOnDisk()) {
      const again = this.#store.load(this.#fp!);
      this.#body = again.kind === 'ok' ? again.body : undefined;
      this.#tampered = again.kind === 'tampered' ? again.reason : undefined;
      await this.#checkAnchors();
    }
  }

  /**
   * On a busy machine some readings may have timed out (or failed: systeminformation answers an empty value
   * when a query it spawns fails) at start-up, and cached readings are only a hint; before concluding that this
   * is another machine (or that the fingerprint changed), read the hardware once more with a generous timeout.
   * A complete, live reading that does not match is not read again: it is another machine. True if it re-read.
   */
  async #readPatiently(): Promise<boolean> {
    const fp = this.#fp;
    if (this.#patientReadDone || !fp) return false;
    if (fp.timedOut.length === 0 && !fp.cached && fp.missing.length === 0) return false;
    this.#patientReadDone = true;
    this.#fp = await this.#provide(true);
    return true;
  }

  /** A new state; its trusted-time mark starts at the anchor's, so deleting the state does not reset it. */
  #fresh(): StateBody {
    return { v: 1, productId: this.productId, highWater: Math.max(this.#now(), this.#anchorHighWater) };
  }

  /**
   * Writes the state with the next generation, then the anti-rollback anchors. In that order, so a crash
   * in between leaves a state newer than its anchor (accepted), never the reverse (which would lock out an
   * honest user). A state that was rolled back is only written again on a server's word (`online`).
   */
  async #save(body: StateBody, opts: { online?: boolean } = {}): Promise<void> {
    if (this.#rolledBack && !opts.online) throw this.#rollbackError();
    // The newest revoked-key list seen survives every save: a state is never written with an older one.
    const seen = this.#revocations;
    if (seen && seen.serial > this.#revocationSerial(body.revokedKeys)) body = { ...body, revokedKeys: seen.signed };
    const generation = Math.max(body.generation ?? 0, this.#anchorGeneration) + 1;
    const next: StateBody = { ...body, generation };
    this.#store.save(next, this.#fp!);
    this.#body = next;
    this.#tampered = undefined;
    this.#rolledBack = undefined;
    this.#anchorGeneration = generation;
    this.#anchorHighWater = next.highWater;
    const installId = this.#store.installId();
    if (installId) await this.#anchors.write(installId, { generation, highWater: next.highWater });
  }

  /** Compares the loaded state with this install's anchors (see anchor.ts). */
  async #checkAnchors(): Promise<void> {
    this.#rolledBack = undefined;
    const installId = this.#store.installId();
    const anchor = installId ? await this.#anchors.read(installId) : undefined;
    this.#anchorGeneration = anchor?.generation ?? 0;
    this.#anchorHighWater = anchor?.highWater ?? 0;
    const generation = this.#body?.generation ?? 0;
    if (anchor && this.#body && generation < anchor.generation) {
      this.#rolledBack = { state: generation, anchor: anchor.generation };
    }
  }

  #rollbackExplanation(): string {
    const r = this.#rolledBack!;
    return `The local license data is older than this device's last record of it (version ${r.state} < ${r.anchor}): an earlier copy was put back, for example from a backup`;
  }

  #rollbackError(): LicensorError {
    return new LicensorError(
      'TIME_MODIFIED',
      `${this.#rollbackExplanation()}. Connect to the internet and check in (or activate again); a successful check-in restores the license.`,
      { reason: 'state-rolled-back' },
    );
  }

  #publish(status: LicenseStatus): LicenseStatus {
    const prev = this.#last;
    this.#last = status;
    if (
      !prev ||
      prev.code !== status.code ||
      prev.valid !== status.valid ||
      prev.detail.warning !== status.detail.warning
    ) {
      this.#events.emit('status', status, prev);
    }
    return status;
  }

  /** The serial of a stored list (0 for none, or one that does not verify under the pinned roots). */
  #revocationSerial(signed: SignedRevocationList | undefined): number {
    if (!signed) return 0;
    try {
      return verifyRevocationList(signed, this.#opts.roots).serial;
    } catch {
      return 0;
    }
  }

  /**
   * Takes a revoked-key list from an authentic answer (or the state): verified under the pinned roots, kept only
   * if newer than what this install has seen, then honoured by the License verifier and the API clients.
   */
  #learnRevocations(signed: SignedRevocationList | undefined): void {
    if (!signed || (this.#revocations && this.#revocations.signed.list === signed.list)) return;
    let list: RevocationList;
    try {
      list = verifyRevocationList(signed, this.#opts.roots);
    } catch {
      return; // not from our root: ignored
    }
    if (this.#revocations && list.serial <= this.#revocations.serial) return;
    this.#revocations = { serial: list.serial, signed };
    this.#verifier.setRevokedKeys(list.revoked);
    for (const api of this.#apis.values()) api.setRevokedKeys(list.revoked);
  }

  #evaluate(body: StateBody, license: string, extra: Partial<EvaluateInput> = {}): Evaluation {
    this.#learnRevocations(body.revokedKeys);
    const devicePublicKeys = [body.device?.publicKey, body.pendingDevice?.publicKey].filter(
      (k): k is string => k !== undefined,
    );
    return evaluateLicense({
      verifier: this.#verifier,
      license,
      productId: this.productId,
      fingerprint: this.#fp!,
      devicePublicKeys,
      now: this.#now(),
      highWater: body.highWater,
      verdict: body.verdict,
      verdictRecord: body.verdictRecord,
      skewMs: this.#opts.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS,
      rollbackToleranceMs: this.#opts.rollbackToleranceMs ?? DEFAULT_ROLLBACK_TOLERANCE_MS,
      ...extra,
    });
  }

  async #verifyLocked(): Promise<LicenseStatus> {
    await this.#ensureState();
    const now = this.#now();
    if (this.#tampered) {
      return this.#publish(
        makeStatus('STATE_TAMPERED', now, null, {
          reason: this.#tampered,
          explanation:
            this.#tampered === 'other-machine'
              ? 'The local license data was created on another machine (or too much hardware changed)'
              : this.#tampered === 'salt-missing'
                ? 'The install salt next to the license data is missing'
                : 'The local license data was modified outside the application',
        }),
      );
    }
    const body = this.#body;
    if (body && this.#rolledBack) {
      return this.#publish(
        makeStatus('TIME_MODIFIED', now, null, {
          reason: 'state-rolled-back',
          explanation: `${this.#rollbackExplanation()}. Connect to the internet so the application can check in.`,
          ...(body.activationId ? { activationId: body.activationId } : {}),
        }),
      );
    }
    if (!body?.license) return this.#publish(makeStatus('NO_LICENSE', now, null));
    let { status } = this.#evaluate(body, body.license);
    if (status.code === 'FINGERPRINT_MISMATCH' && (await this.#readPatiently())) {
      ({ status } = this.#evaluate(body, body.license));
    }
    if (body.activationId) status.detail.activationId = body.activationId;
    this.#addDeviceLabel(status, body);
    if (body.lastCheckInAt) status.detail.lastCheckInAt = new Date(body.lastCheckInAt).toISOString();
    // Remember the latest trusted local time, unless the clock is the very thing in doubt.
    if (status.code !== 'TIME_MODIFIED' && now > body.highWater + HIGH_WATER_STEP_MS) {
      try {
        await this.#save({ ...body, highWater: now });
      } catch {
        // Read-only media or a full disk must not turn a valid license invalid; the mark advances next time.
      }
    }
    return this.#publish(status);
  }

  #requireServer(body?: StateBody): string {
    const url = this.#opts.serverUrl ?? body?.serverUrl;
    if (!url) {
      throw new LicensorError('INVALID_INPUT', 'No license server configured: pass serverUrl to the LicenseManager');
    }
    return url;
  }

  #api(body: StateBody | undefined = this.#body): ApiClient {
    const url = this.#requireServer(body);
    let api = this.#apis.get(url);
    if (!api) {
      api = new ApiClient({
        serverUrl: url,
        roots: this.#opts.roots,
        fetch: this.#opts.fetch,
        now: this.#now,
        timeoutMs: this.#opts.requestTimeoutMs,
        onRevocations: (signed) => this.#learnRevocations(signed),
      });
      if (this.#revocations) {
        api.setRevokedKeys(verifyRevocationList(this.#revocations.signed, this.#opts.roots).revoked);
      }
      this.#apis.set(url, api);
    }
    // The stored License's signing certificate usually also signs responses: no /keys round trip needed.
    if (body?.license) {
      try {
        api.trustChain(decodeLicenseFile(body.license).envelope.x5c);
      } catch {
        /* a broken stored file is reported by verify; /keys still works */
      }
    }
    return api;
  }

  #normalizeCode(code: string): string {
    const normalized = typeof code === 'string' ? normalizeLicenseCode(code) : '';
    if (normalized.length === 0 || normalized.length > 64) {
      throw new LicensorError('INVALID_INPUT', 'Enter the license code from your order (1–64 characters)');
    }
    return normalized;
  }

  /** The device's registered name on a status of an activation (what the license window shows as this device). */
  #addDeviceLabel(status: LicenseStatus, body: StateBody): void {
    if (!body.activationId) return;
    const info = this.#deviceInfo();
    const name = body.deviceLabel ?? info?.label ?? info?.hostname;
    if (name) status.detail.deviceLabel = name;
  }

  #deviceInfo(label?: string): ActivateRequest['device'] {
    const d = this.#opts.device ?? {};
    const info: NonNullable<ActivateRequest['device']> = {
      platform: platform(),
      arch: arch(),
      osVersion: release().slice(0, 128),
      virtual: this.#fp?.virtual.detected ?? false,
    };
    const host = d.hostname === null ? undefined : (d.hostname ?? hostname());
    if (host) info.hostname = host.slice(0, 255);
    if (this.#opts.appVersion) info.appVersion = this.#opts.appVersion.slice(0, 64);
    const l = label ?? d.label;
    if (l) info.label = l.slice(0, 128);
    return info;
  }

  #fingerprintSubmission() {
    const fp = this.#fp!;
    const components = hashedFingerprint(fp, this.productId);
    if (Object.keys(components).length === 0) {
      throw new LicensorError(
        'INVALID_INPUT',
        'No hardware component of this machine could be read, so it cannot be bound to a license. Run the application as a regular desktop user, or ask the vendor for a license file.',
      );
    }
    return this.#opts.sendKooGalleryFingerprint ? { components, koogallery: this.#fp!.koogallery } : { components };
  }

  /** Trusted time after a verified server answer: the old mark survives unless implausibly ahead of it. */
  #trustedAfter(body: StateBody | undefined, ...serverTimes: number[]): number {
    const server = Math.max(this.#now(), ...serverTimes.filter(Number.isFinite));
    const tolerance = this.#opts.rollbackToleranceMs ?? DEFAULT_ROLLBACK_TOLERANCE_MS;
    const old = body?.highWater ?? 0;
    // A mark far beyond authenticated time came from a clock that ran ahead; the server's time wins.
    return old > server + tolerance ? server : Math.max(old, server);
  }

  /**
   * Whether a verdict record from a (signed) check-in answer verifies against the pinned roots, names this
   * activation and product, and is newer than the one stored; anything else is ignored (the unsigned
   * verdict in the same answer still locks the current file).
   */
  #acceptableVerdictRecord(text: string, body: StateBody): boolean {
    let record: VerdictPayload;
    try {
      record = this.#verifier.verifyVerdict(text).payload;
    } catch {
      return false;
    }
    if (record.lid !== body.activationId || record.product !== this.productId) return false;
    if (body.verdictRecord) {
      try {
        const stored = this.#verifier.verifyVerdict(body.verdictRecord).payload;
        if (Date.parse(stored.issuedAt) > Date.parse(record.issuedAt)) return false;
      } catch {
        /* a stored record that no longer verifies is replaced */
      }
    }
    return true;
  }

  async #activateLocked(code: string, opts: ActivateOptions): Promise<LicenseStatus> {
    await this.#ensureState();
    const normalized = this.#normalizeCode(code);
    const prev = this.#tampered ? undefined : this.#body;
    const serverUrl = this.#requireServer(prev);
    const codeHash = b64uSha256(normalized);
    const now = this.#now();

    // Re-activating with the same code keeps the device key, so the server sees the same device.
    let device: DeviceKeyRecord | undefined;
    let privateKey: KeyObject | undefined;
    if (prev?.device && prev.codeHash === codeHash && prev.serverUrl === serverUrl) {
      try {
        privateKey = await this.#store.openDeviceKey(prev.device);
        device = prev.device;
      } catch {
        device = undefined;
      }
    }
    if (!device || !privateKey) ({ record: device, privateKey } = await this.#store.createDeviceKey(now));

    const request = activateRequestSchema.safeParse({
      code: normalized,
      productId: this.productId,
      fingerprint: this.#fingerprintSubmission(),
      device: this.#deviceInfo(opts.label),
      devicePublicKey: device.publicKey,
      ...(opts.user ? { user: opts.user } : {}),
    });
    if (!request.success) {
      throw new LicensorError('INVALID_INPUT', `Invalid activation request: ${request.error.issues[0]?.message}`, {
        issues: request.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`),
      });
    }
    const { data, serverTs } = await this.#api(prev).request({
      method: 'POST',
      path: '/api/v1/activations',
      body: request.data,
      schema: activateResponseSchema,
    });
    const body: StateBody = {
      v: 1,
      productId: this.productId,
      highWater: this.#trustedAfter(prev, serverTs, Date.parse(data.serverTime)),
      serverUrl,
      activationId: data.activationId,
      codeHash,
      ...deviceLabelOf(request.data.device),
      license: data.license,
      device,
      checkInIntervalSeconds: data.checkInIntervalSeconds,
      lastCheckInAt: now,
      entitlement: data.entitlement,
    };
    if (prev?.pendingDevice) body.pendingDevice = prev.pendingDevice;
    // Harmless for the newer file just issued, and it keeps locking the older ones.
    if (prev?.verdictRecord) body.verdictRecord = prev.verdictRecord;
    // Never store a file this machine would reject: the user would be locked out at the next start.
    const { status } = this.#evaluate(body, data.license, { verdict: undefined });
    if (!status.valid) {
      throw new LicensorError(
        status.code,
        `The server issued a License file that does not verify here: ${status.message}`,
        {
          ...status.detail,
        },
      );
    }
    status.detail.activationId = data.activationId;
    this.#addDeviceLabel(status, body);
    status.detail.lastCheckInAt = new Date(now).toISOString();
    if (prev?.device && prev.device.publicKey !== device.publicKey) await this.#store.deleteDeviceKey(prev.device);
    await this.#save(body, { online: true });
    return this.#publish(status);
  }

  /** A check-in that did not reach a server verdict: the offline status, and why. */
  async #checkInFailed(err: unknown): Promise<CheckInResult> {
    const e = toLicensorError(err, 'Check-in failed');
    const error = { code: e.code, message: e.message, retryable: e.retryable };
    try {
      return { online: false, status: await this.#verifyLocked(), error };
    } catch {
      // The local data cannot even be read (e.g. STORAGE_UNAVAILABLE): no status can be trusted.
      const status = makeStatus('NO_LICENSE', this.#now(), null, { reason: e.code, explanation: e.message });
      return { online: false, status: this.#publish(status), error };
    }
  }

  async #checkInLocked(): Promise<CheckInResult> {
    await this.#ensureState();
    const body = this.#tampered ? undefined : this.#body;
    if (!body?.activationId || !body.device) {
      throw new LicensorError(
        this.#tampered ? 'STATE_TAMPERED' : 'NO_LICENSE',
        this.#tampered
          ? 'The local license data cannot be trusted; activate again online'
          : body?.license
            ? 'This License file was imported without an online activation, so there is nothing to check in; activate online to have it refreshed'
            : 'This device has no online activation to check in; activate it first',
      );
    }
    const now = this.#now();
    const failed = async (err: unknown): Promise<CheckInResult> => {
      const e = toLicensorError(err, 'Check-in failed');
      try {
        await this.#save({ ...this.#body!, lastCheckInAttemptAt: now });
      } catch {
        /* the attempt time is only informative */
      }
      const status = await this.#verifyLocked();
      return { online: false, status, error: { code: e.code, message: e.message, retryable: e.retryable } };
    };

    let privateKey: KeyObject;
    try {
      privateKey = await this.#store.openDeviceKey(body.device);
    } catch (err) {
      return failed(err);
    }
    const fingerprint = { components: hashedFingerprint(this.#fp!, this.productId) };
    let response: Awaited<ReturnType<ApiClient['request']>> & { data: z.infer<typeof checkInResponseSchema> };
    try {
      response = await this.#api(body).request({
        method: 'POST',
        path: `/api/v1/activations/${encodeURIComponent(body.activationId)}/check-in`,
        body: {
          ...(this.#opts.appVersion ? { appVersion: this.#opts.appVersion.slice(0, 64) } : {}),
          ...(Object.keys(fingerprint.components).length > 0 ? { fingerprint } : {}),
        },
        device: { activationId: body.activationId, privateKey },
        schema: checkInResponseSchema,
      });
    } catch (err) {
      const e = toLicensorError(err, 'Check-in failed');
      // The server refused the activation itself (revoked, released, seat freed): that is its verdict.
      if (LOCKING_VERDICTS.has(e.code)) {
        await this.#save(
          {
            ...body,
            verdict: { code: e.code, message: e.message, at: Math.max(now, body.highWater) },
            lastCheckInAttemptAt: now,
          },
          { online: true },
        );
        const status = await this.#verifyLocked();
        return { online: true, status, serverStatus: e.code, serverMessage: e.message };
      }
      return failed(e);
    }

    const { data, serverTs } = response;
    const serverTime = Date.parse(data.serverTime);
    const next: StateBody = {
      ...body,
      highWater: this.#trustedAfter(body, serverTs, serverTime),
      lastCheckInAt: now,
      lastCheckInAttemptAt: now,
      checkInIntervalSeconds: data.checkInIntervalSeconds,
    };
    if (data.entitlement) next.entitlement = data.entitlement;
    let fileProblem: LicenseStatus | undefined;
    if (data.license) {
      const { status } = this.#evaluate(next, data.license, { verdict: undefined });
      if (['FILE_SIGNATURE_INVALID', 'PRODUCT_MISMATCH', 'FINGERPRINT_MISMATCH'].includes(status.code)) {
        fileProblem = status; // keep the old file rather than store one this machine rejects
      } else {
        next.license = data.license;
      }
    }
    if (data.status === 'VALID') delete next.verdict;
    else if (LOCKING_VERDICTS.has(data.status)) {
      next.verdict = { code: data.status, message: data.message, at: Math.max(next.highWater, serverTime) };
    }
    // Kept after a VALID answer too: it only locks files issued before it, and a re-import could bring one back.
    if (data.verdict && this.#acceptableVerdictRecord(data.verdict, next)) next.verdictRecord = data.verdict;
    await this.#save(next, { online: true });
    const status = await this.#verifyLocked();
    const result: CheckInResult = { online: true, status, serverStatus: data.status, serverMessage: data.message };
    if (fileProblem) {
      result.error = {
        code: 'RESPONSE_INVALID',
        message: `The server sent a License file that does not verify here (${fileProblem.code}); the previous file was kept`,
        retryable: false,
      };
    }
    return result;
  }

  async #deactivateLocked(): Promise<void> {
    await this.#ensureState();
    const body = this.#tampered ? undefined : this.#body;
    if (!body?.activationId || !body.device) {
      throw new LicensorError('NO_LICENSE', 'This device has no online activation to deactivate');
    }
    const privateKey = await this.#store.openDeviceKey(body.device);
    try {
      await this.#api(body).request({
        method: 'DELETE',
        path: `/api/v1/activations/${encodeURIComponent(body.activationId)}`,
        device: { activationId: body.activationId, privateKey },
        schema: releasedSchema,
      });
    } catch (err) {
      // Already gone on the server (released, freed by an operator): forgetting it locally is what is left.
      if (!(err instanceof LicensorError) || (err.code !== 'NOT_FOUND' && err.code !== 'RELEASED')) throw err;
    }
    await this.#store.deleteDeviceKey(body.device);
    const next: StateBody = { v: 1, productId: this.productId, highWater: Math.max(body.highWater, this.#now()) };
    if (body.pendingDevice) next.pendingDevice = body.pendingDevice;
    await this.#save(next, { online: true });
    this.#publish(makeStatus('NO_LICENSE', this.#now(), null));
  }

  async #offlineRequestLocked(code: string, opts: ActivateOptions): Promise<string> {
    await this.#ensureState();
    const base = (!this.#tampered && this.#body) || this.#fresh();
    const now = this.#now();
    let record = base.pendingDevice;
    let privateKey: KeyObject | undefined;
    if (record) {
      try {
        privateKey = await this.#store.openDeviceKey(record);
      } catch {
        record = undefined;
      }
    }
    if (!record || !privateKey) ({ record, privateKey } = await this.#store.createDeviceKey(now));
    const request = offlineRequestSchema.safeParse({
      v: 1,
      createdAt: new Date(now).toISOString(),
      nonce: newNonce(),
      code: this.#normalizeCode(code),
      productId: this.productId,
      fingerprint: this.#fingerprintSubmission(),
      device: this.#deviceInfo(opts.label),
      devicePublicKey: record.publicKey,
      ...(opts.user ? { user: opts.user } : {}),
    });
    if (!request.success) {
      throw new LicensorError('INVALID_INPUT', `Invalid activation request: ${request.error.issues[0]?.message}`);
    }
    const text = encodeOfflineRequest(request.data, privateKey);
    await this.#save({ ...base, pendingDevice: record });
    return text;
  }

  async #importLocked(input: string | Uint8Array): Promise<LicenseStatus> {
    if (typeof input !== 'string' && !(input instanceof Uint8Array)) {
      throw new LicensorError('INVALID_INPUT', 'Pass the License file contents as text');
    }
    const text = typeof input === 'string' ? input : Buffer.from(input).toString('utf8');
    await this.#ensureState();
    const base = (!this.#tampered && this.#body) || this.#fresh();
    const { status, payload } = this.#evaluate(base, text);
    if (['FILE_SIGNATURE_INVALID', 'PRODUCT_MISMATCH', 'FINGERPRINT_MISMATCH', 'TIME_MODIFIED'].includes(status.code)) {
      throw new LicensorError(status.code, `License file not imported: ${status.message}`, { ...status.detail });
    }
    // The server locked this license after the file was issued: importing it again must not undo that.
    if (status.detail.reason === 'server') {
      throw new LicensorError(
        status.code,
        `License file not imported: the license server locked this license (${status.code}) after this file was issued. ${status.detail.serverMessage ?? status.message} Only a newer file lifts it: check in online once the license is in order again.`,
        { ...status.detail },
      );
    }
    // An older file of the same entitlement would undo a later state (e.g. bring back a frozen license).
    if (base.license && payload) {
      try {
        const current = decodeLicenseFile(base.license).payload;
        if (current.eid === payload.eid && Date.parse(payload.issuedAt) < Date.parse(current.issuedAt)) {
          throw new LicensorError(
            'INVALID_INPUT',
            `This License file (issued ${payload.issuedAt}) is older than the stored one (issued ${current.issuedAt}); use the newest file`,
          );
        }
      } catch (err) {
        if (err instanceof LicensorError && err.code === 'INVALID_INPUT') throw err;
      }
    }
    const next: StateBody = {
      ...base,
      license: text,
      highWater: Math.max(base.highWater, this.#now(), payload ? Date.parse(payload.serverTime) : 0),
    };
    delete next.verdict;
    const boundKey = payload?.deviceKey;
    const matches = (r: DeviceKeyRecord | undefined) =>
      r !== undefined && boundKey !== undefined && devicePublicKeyHash(r.publicKey) === boundKey;
    if (matches(base.pendingDevice)) {
      // The answer to our offline request: its key becomes the activation's key, so later check-ins work.
      if (base.device && base.device.publicKey !== base.pendingDevice!.publicKey)
        await this.#store.deleteDeviceKey(base.device);
      next.device = base.pendingDevice;
      delete next.pendingDevice;
      next.activationId = payload!.lid;
      if (this.#opts.serverUrl && !next.serverUrl) next.serverUrl = this.#opts.serverUrl;
    } else if (matches(base.device)) {
      next.activationId = payload!.lid;
    } else {
      // A file bound to no key of ours (e.g. delivered by KooGallery's client) belongs to no activation here.
      if (base.device) await this.#store.deleteDeviceKey(base.device);
      delete next.device;
      delete next.activationId;
      delete next.codeHash;
      delete next.lastCheckInAt;
    }
    await this.#save(next);
    if (next.activationId) status.detail.activationId = next.activationId;
    this.#addDeviceLabel(status, next);
    return this.#publish(status);
  }
}
