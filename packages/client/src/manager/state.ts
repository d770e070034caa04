/**
 * The state every workflow of a LicenseManager shares: options, the loaded state file and its anchors, the
 * fingerprint, the revoked-key list, the published status, and the lock (`exclusive`) that runs one operation
 * at a time. The workflows (activation, check-in, offline, verification, auto-check-in) are functions over it;
 * those named `…Locked` must run inside `exclusive` (LicenseManager's public methods do that).
 */
import { EventEmitter } from 'node:events';
import { arch, hostname, platform, release } from 'node:os';
import {
  type ActivateRequest,
  decodeLicenseFile,
  LicenseVerifier,
  LicensorError,
  normalizeLicenseCode,
  type RevocationList,
  type SignedRevocationList,
  verifyRevocationList,
} from '@licensor/shared';
import { AnchorStore, defaultAnchorDir } from '../anchor';
import { ApiClient } from '../api';
import {
  DEFAULT_CLOCK_SKEW_MS,
  DEFAULT_ROLLBACK_TOLERANCE_MS,
  type EvaluateInput,
  type Evaluation,
  evaluateLicense,
  type LicenseStatus,
} from '../evaluate';
import { defaultFingerprintProvider, hashedFingerprint, type MachineFingerprint } from '../fingerprint';
import { type StateBody, StateStore } from '../store';
import { markPhase } from '../timing';
import type { LicenseManagerOptions, Timers } from './types';

const realTimers: Timers = {
  setTimeout: (cb, ms) => {
    const t = setTimeout(cb, ms);
    // A license timer must never keep a CLI or a closing app alive.
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface AutoState {
  timer: unknown;
  failures: number;
  inflight: Promise<void> | undefined;
}

export class ManagerState {
  readonly productId: string;
  readonly dataDir: string;
  readonly opts: LicenseManagerOptions;
  readonly verifier: LicenseVerifier;
  readonly store: StateStore;
  readonly now: () => number;
  readonly timers: Timers;
  readonly events = new EventEmitter();
  readonly apis = new Map<string, ApiClient>();
  fp: MachineFingerprint | undefined;
  body: StateBody | undefined;
  /** The newest root-signed revoked-key list seen (state or server), by serial. */
  revocations: { serial: number; signed: SignedRevocationList } | undefined;
  tampered: string | undefined;
  /** Set when the loaded state is older than this install's anti-rollback anchor. */
  rolledBack: { state: number; anchor: number } | undefined;
  /** The newest generation any anchor of this install has seen; the next save goes beyond it. */
  anchorGeneration = 0;
  /** The trusted-time mark recorded with that generation. */
  anchorHighWater = 0;
  /**
   * The highest generation this manager has seen written to the state file (a loaded state, or the one `reset()`
   * deleted). Another OS account sharing the data folder has anchors of its own that may already be there, so a
   * save never goes below it: otherwise that account would read the new state as an older copy put back.
   */
  generationFloor = 0;
  readonly anchors: AnchorStore;
  loaded = false;
  patientReadDone = false;
  last: LicenseStatus | undefined;
  queue: Promise<unknown> = Promise.resolve();
  auto: AutoState | undefined;

  constructor(opts: LicenseManagerOptions, dataDir: string) {
    this.opts = opts;
    this.productId = opts.productId;
    this.dataDir = dataDir;
    this.verifier = new LicenseVerifier({ roots: opts.roots, algorithms: opts.algorithms });
    this.store = new StateStore({ dataDir, productId: opts.productId, secretStore: opts.secretStore });
    this.anchors = new AnchorStore({
      productId: opts.productId,
      secretStore: opts.secretStore,
      anchorDir: opts.anchorDir === undefined ? defaultAnchorDir() : opts.anchorDir,
    });
    this.now = opts.now ?? Date.now;
    this.timers = opts.timers ?? realTimers;
  }

  /** This machine's fingerprint (collected once per manager). */
  async fingerprint(): Promise<MachineFingerprint> {
    if (!this.fp) {
      this.fp = await this.provide(false);
      markPhase(this.fp.cached ? 'fingerprint (boot cache)' : 'fingerprint (hardware)');
    }
    return this.fp;
  }

  provide(patient: boolean): Promise<MachineFingerprint> | MachineFingerprint {
    return (this.opts.fingerprint ?? defaultFingerprintProvider())({ patient });
  }

  /** Operations run one at a time so state writes of one manager never interleave. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  async ensureState(): Promise<void> {
    const fp = await this.fingerprint();
    if (this.loaded && !this.store.changedOnDisk()) return;
    let r = this.store.load(fp);
    if (r.kind === 'tampered' && r.reason === 'other-machine' && (await this.readPatiently())) {
      r = this.store.load(this.fp!);
    }
    markPhase('state read/decrypt');
    this.loaded = true;
    this.body = r.kind === 'ok' ? r.body : undefined;
    this.tampered = r.kind === 'tampered' ? r.reason : undefined;
    this.generationFloor = Math.max(this.generationFloor, this.body?.generation ?? 0);
    // Before anything is asked of a server: answers signed by a key this install has seen revoked are refused
    // also when a check-in is the first call of a process (not only after a verify() has read the state's list).
    this.learnRevocations(this.body?.revokedKeys);
    await this.checkAnchors();
    markPhase('anti-rollback anchors');
    // Another process writes its state before its anchor: if it saved between our two reads, read both again.
    if (this.rolledBack && this.store.changedOnDisk()) {
      const again = this.store.load(this.fp!);
      this.body = again.kind === 'ok' ? again.body : undefined;
      this.tampered = again.kind === 'tampered' ? again.reason : undefined;
      this.generationFloor = Math.max(this.generationFloor, this.body?.generation ?? 0);
      this.learnRevocations(this.body?.revokedKeys);
      await this.checkAnchors();
    }
  }

  /**
   * On a busy machine some readings may have timed out (or failed: systeminformation answers an empty value
   * when a query it spawns fails) at start-up, and cached readings are only a hint; before concluding that this
   * is another machine (or that the fingerprint changed), read the hardware once more with a generous timeout.
   * A complete, live reading that does not match is not read again: it is another machine. True if it re-read.
   */
  async readPatiently(): Promise<boolean> {
    const fp = this.fp;
    if (this.patientReadDone || !fp) return false;
    if (fp.timedOut.length === 0 && !fp.cached && fp.missing.length === 0) return false;
    this.patientReadDone = true;
    this.fp = await this.provide(true);
    return true;
  }

  /** A new state; its trusted-time mark starts at the anchor's, so deleting the state does not reset it. */
  fresh(): StateBody {
    return { v: 1, productId: this.productId, highWater: Math.max(this.now(), this.anchorHighWater) };
  }

  /**
   * Writes the state with the next generation, then the anti-rollback anchors. In that order, so a crash
   * in between leaves a state newer than its anchor (accepted), never the reverse (which would lock out an
   * honest user). A state that was rolled back is only written again on a server's word (`online`).
   */
  async save(body: StateBody, opts: { online?: boolean } = {}): Promise<void> {
    if (this.rolledBack && !opts.online) throw this.rollbackError();
    // The newest revoked-key list seen survives every save: a state is never written with an older one.
    const seen = this.revocations;
    if (seen && seen.serial > this.revocationSerial(body.revokedKeys)) body = { ...body, revokedKeys: seen.signed };
    const generation = Math.max(body.generation ?? 0, this.anchorGeneration, this.generationFloor) + 1;
    const next: StateBody = { ...body, generation };
    this.store.save(next, this.fp!);
    this.body = next;
    this.tampered = undefined;
    this.rolledBack = undefined;
    this.anchorGeneration = generation;
    this.generationFloor = generation;
    this.anchorHighWater = next.highWater;
    const installId = this.store.installId();
    if (installId) await this.anchors.write(installId, { generation, highWater: next.highWater });
  }

  /** Compares the loaded state with this install's anchors (see anchor.ts). */
  async checkAnchors(): Promise<void> {
    this.rolledBack = undefined;
    const installId = this.store.installId();
    const anchor = installId ? await this.anchors.read(installId) : undefined;
    this.anchorGeneration = anchor?.generation ?? 0;
    this.anchorHighWater = anchor?.highWater ?? 0;
    const generation = this.body?.generation ?? 0;
    if (anchor && this.body && generation < anchor.generation) {
      this.rolledBack = { state: generation, anchor: anchor.generation };
    }
  }

  rollbackExplanation(): string {
    const r = this.rolledBack!;
    return `The local license data is older than this device's last record of it (version ${r.state} < ${r.anchor}): an earlier copy was put back, for example from a backup`;
  }

  rollbackError(): LicensorError {
    return new LicensorError(
      'TIME_MODIFIED',
      `${this.rollbackExplanation()}. Connect to the internet and check in (or activate again); a successful check-in restores the license.`,
      { reason: 'state-rolled-back' },
    );
  }

  publish(status: LicenseStatus): LicenseStatus {
    const prev = this.last;
    this.last = status;
    if (
      !prev ||
      prev.code !== status.code ||
      prev.valid !== status.valid ||
      prev.detail.warning !== status.detail.warning
    ) {
      this.events.emit('status', status, prev);
    }
    return status;
  }

  /** The serial of a stored list (0 for none, or one that does not verify under the pinned roots). */
  revocationSerial(signed: SignedRevocationList | undefined): number {
    if (!signed) return 0;
    try {
      return verifyRevocationList(signed, this.opts.roots).serial;
    } catch {
      return 0;
    }
  }

  /**
   * Takes a revoked-key list from an authentic answer (or the state): verified under the pinned roots, kept only
   * if newer than what this install has seen, then honoured by the License verifier and the API clients.
   */
  learnRevocations(signed: SignedRevocationList | undefined): void {
    if (!signed || (this.revocations && this.revocations.signed.list === signed.list)) return;
    let list: RevocationList;
    try {
      list = verifyRevocationList(signed, this.opts.roots);
    } catch {
      return; // not from our root: ignored
    }
    if (this.revocations && list.serial <= this.revocations.serial) return;
    this.revocations = { serial: list.serial, signed };
    this.verifier.setRevokedKeys(list.revoked);
    for (const api of this.apis.values()) api.setRevokedKeys(list.revoked);
  }

  evaluate(body: StateBody, license: string, extra: Partial<EvaluateInput> = {}): Evaluation {
    this.learnRevocations(body.revokedKeys);
    const devicePublicKeys = [body.device?.publicKey, body.pendingDevice?.publicKey].filter(
      (k): k is string => k !== undefined,
    );
    return evaluateLicense({
      verifier: this.verifier,
      license,
      productId: this.productId,
      fingerprint: this.fp!,
      devicePublicKeys,
      now: this.now(),
      highWater: body.highWater,
      verdict: body.verdict,
      verdictRecord: body.verdictRecord,
      skewMs: this.opts.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS,
      rollbackToleranceMs: this.opts.rollbackToleranceMs ?? DEFAULT_ROLLBACK_TOLERANCE_MS,
      ...extra,
    });
  }

  requireServer(body?: StateBody): string {
    const url = this.opts.serverUrl ?? body?.serverUrl;
    if (!url) {
      throw new LicensorError('INVALID_INPUT', 'No license server configured: pass serverUrl to the LicenseManager');
    }
    return url;
  }

  api(body: StateBody | undefined = this.body): ApiClient {
    const url = this.requireServer(body);
    let api = this.apis.get(url);
    if (!api) {
      api = new ApiClient({
        serverUrl: url,
        roots: this.opts.roots,
        fetch: this.opts.fetch,
        now: this.now,
        timeoutMs: this.opts.requestTimeoutMs,
        onRevocations: (signed) => this.learnRevocations(signed),
      });
      if (this.revocations) {
        api.setRevokedKeys(verifyRevocationList(this.revocations.signed, this.opts.roots).revoked);
      }
      this.apis.set(url, api);
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

  normalizeCode(code: string): string {
    const normalized = typeof code === 'string' ? normalizeLicenseCode(code) : '';
    if (normalized.length === 0 || normalized.length > 64) {
      throw new LicensorError('INVALID_INPUT', 'Enter the license code from your order (1–64 characters)');
    }
    return normalized;
  }

  /** The device's registered name on a status of an activation (what the license window shows as this device). */
  addDeviceLabel(status: LicenseStatus, body: StateBody): void {
    if (!body.activationId) return;
    const info = this.deviceInfo();
    const name = body.deviceLabel ?? info?.label ?? info?.hostname;
    if (name) status.detail.deviceLabel = name;
  }

  deviceInfo(label?: string): ActivateRequest['device'] {
    const d = this.opts.device ?? {};
    const info: NonNullable<ActivateRequest['device']> = {
      platform: platform(),
      arch: arch(),
      osVersion: release().slice(0, 128),
      virtual: this.fp?.virtual.detected ?? false,
    };
    const host = d.hostname === null ? undefined : (d.hostname ?? hostname());
    if (host) info.hostname = host.slice(0, 255);
    if (this.opts.appVersion) info.appVersion = this.opts.appVersion.slice(0, 64);
    const l = label ?? d.label;
    if (l) info.label = l.slice(0, 128);
    return info;
  }

  fingerprintSubmission() {
    const fp = this.fp!;
    const components = hashedFingerprint(fp, this.productId);
    if (Object.keys(components).length === 0) {
      throw new LicensorError(
        'INVALID_INPUT',
        'No hardware component of this machine could be read, so it cannot be bound to a license. Run the application as a regular desktop user, or ask the vendor for a license file.',
      );
    }
    return this.opts.sendKooGalleryFingerprint ? { components, koogallery: this.fp!.koogallery } : { components };
  }

  /** Trusted time after a verified server answer: the old mark survives unless implausibly ahead of it. */
  trustedAfter(body: StateBody | undefined, ...serverTimes: number[]): number {
    const server = Math.max(this.now(), ...serverTimes.filter(Number.isFinite));
    const tolerance = this.opts.rollbackToleranceMs ?? DEFAULT_ROLLBACK_TOLERANCE_MS;
    const old = body?.highWater ?? 0;
    // A mark far beyond authenticated time came from a clock that ran ahead; the server's time wins.
    return old > server + tolerance ? server : Math.max(old, server);
  }
}
