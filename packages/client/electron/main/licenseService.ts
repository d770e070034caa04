/**
 * What the IPC handlers call: the LicenseManager's operations turned into plain-data results for the renderer.
 * Nothing that crosses to the renderer carries License text, keys or raw fingerprints, and every failure
 * becomes an `ErrorView` with a stable code (IPC would flatten a thrown error into a bare string).
 */
import { type DevicesResponse, isLicensorCode, LicensorError, toLicensorError } from '@licensor/shared';
import type { LicenseManager, LicenseStatus } from '../../src';
import type { DevicesView, DeviceView, ErrorView, LicenseView, OfflineRequestSaved, Result } from '../shared/api';

/** The manager operations the shell uses (a Pick, so tests can pass a fake and the real class fits). */
export type ShellManager = Pick<
  LicenseManager,
  | 'verify'
  | 'activate'
  | 'checkIn'
  | 'deactivate'
  | 'createOfflineRequest'
  | 'importLicenseFile'
  | 'listSeatDevices'
  | 'releaseSeatDevice'
  | 'on'
  | 'off'
  | 'status'
>;

/** File access for the offline path: dialogs in Electron, temporary files in tests. */
export interface OfflineFiles {
  /** Lets the person choose where to save the request; false when cancelled. */
  saveRequest(text: string, suggestedName: string): Promise<{ saved: boolean; fileName: string | null }>;
  /** Lets the person choose a License file; its text, or null when cancelled. */
  openLicenseFile(): Promise<string | null>;
}

export interface LicenseServiceOptions {
  manager: ShellManager;
  files: OfflineFiles;
  /** Shown as "this device" when the status does not name it (the host name the activation reports). */
  deviceName: string;
  productId: string;
  /** The product's name for people (the application's name); the status view shows it with the edition. */
  productName: string;
}

const ok = <T>(value: T): Result<T> => ({ ok: true, value });

function deviceView(d: DevicesResponse['devices'][number]): DeviceView {
  return {
    id: d.id,
    label: d.label,
    hostname: d.hostname,
    platform: d.platform,
    lastSeenAt: d.lastSeenAt,
    current: d.current === true,
  };
}

function devicesView(r: DevicesResponse): DevicesView {
  return { seats: r.seats, devices: r.devices.map(deviceView), transfers: { ...r.transfers } };
}

/** Devices listed in a TOO_MANY_DEVICES refusal, kept only when they have the expected shape. */
function refusalDevices(detail: unknown): DeviceView[] | undefined {
  const list = (detail as { devices?: unknown } | undefined)?.devices;
  if (!Array.isArray(list)) return undefined;
  const out: DeviceView[] = [];
  for (const d of list.slice(0, 100)) {
    if (!d || typeof d !== 'object') continue;
    const o = d as Record<string, unknown>;
    if (typeof o.id !== 'string' || typeof o.lastSeenAt !== 'string') continue;
    const str = (v: unknown) => (typeof v === 'string' ? v : null);
    out.push({
      id: o.id,
      label: str(o.label),
      hostname: str(o.hostname),
      platform: str(o.platform),
      lastSeenAt: o.lastSeenAt,
      current: o.current === true,
    });
  }
  return out;
}

/** Any failure as a renderer-safe error: known codes keep their message, unknown failures say nothing internal. */
export function toErrorView(err: unknown): ErrorView {
  const e = toLicensorError(err, 'The operation failed unexpectedly. Try again; if it persists, contact the vendor.');
  const view: ErrorView = { code: e.code, message: e.message, retryable: e.retryable };
  if (e.code === 'TOO_MANY_DEVICES') {
    const devices = refusalDevices(e.detail);
    if (devices) view.devices = devices;
    const seats = (e.detail as { seats?: unknown } | undefined)?.seats;
    if (typeof seats === 'number') view.seats = seats;
  }
  return view;
}

export function toLicenseView(status: LicenseStatus, deviceName: string, productName: string): LicenseView {
  const l = status.license;
  const d = status.detail;
  return {
    valid: status.valid,
    code: status.code,
    message: status.message,
    license: l
      ? {
          id: l.id,
          product: l.product,
          edition: l.edition ?? null,
          sku: l.sku ?? null,
          features: { ...l.features },
          seats: l.seats,
          status: l.status,
          expiresAt: l.expiresAt,
          refreshBy: l.refreshBy,
          graceUntil: l.graceUntil,
          test: l.test,
        }
      : null,
    productName,
    device: { activationId: d.activationId ?? null, name: d.deviceLabel ?? deviceName },
    lastCheckInAt: d.lastCheckInAt ?? null,
    graceDaysLeft: d.graceDaysLeft ?? null,
    daysLeft: d.daysLeft ?? null,
    warning: d.warning ?? null,
    serverMessage: d.serverMessage ?? null,
    checkedAt: status.checkedAt,
  };
}

/** A file name for the request: product and date, nothing personal. */
export function offlineRequestFileName(productId: string, now: Date): string {
  const safe = productId.replace(/[^A-Za-z0-9._-]/g, '_');
  return `${safe}-activation-request-${now.toISOString().slice(0, 10)}.licreq`;
}

export class LicenseService {
  readonly #o: LicenseServiceOptions;

  constructor(opts: LicenseServiceOptions) {
    this.#o = opts;
  }

  view(status: LicenseStatus): LicenseView {
    return toLicenseView(status, this.#o.deviceName, this.#o.productName);
  }

  async #run<T>(fn: () => Promise<T>): Promise<Result<T>> {
    try {
      return ok(await fn());
    } catch (err) {
      return { ok: false, error: toErrorView(err) };
    }
  }

  /** The current status, verified offline (cheap: the manager caches the verifier and fingerprint). */
  status(): Promise<Result<LicenseView>> {
    return this.#run(async () => this.view(await this.#o.manager.verify()));
  }

  activate(code: string): Promise<Result<LicenseView>> {
    return this.#run(async () => this.view(await this.#o.manager.activate(code)));
  }

  /** Checks in; a server that cannot be reached is an error here, even though the license keeps working. */
  checkIn(): Promise<Result<LicenseView>> {
    return this.#run(async () => {
      const r = await this.#o.manager.checkIn();
      if (!r.online && r.error) {
        throw new LicensorError(isLicensorCode(r.error.code) ? r.error.code : 'SERVER_UNREACHABLE', r.error.message);
      }
      return this.view(r.status);
    });
  }

  deactivate(): Promise<Result<LicenseView>> {
    return this.#run(async () => {
      await this.#o.manager.deactivate();
      return this.view(await this.#o.manager.verify());
    });
  }

  createOfflineRequest(code: string): Promise<Result<OfflineRequestSaved>> {
    return this.#run(async () => {
      const text = await this.#o.manager.createOfflineRequest(code);
      const r = await this.#o.files.saveRequest(text, offlineRequestFileName(this.#o.productId, new Date()));
      return { saved: r.saved, fileName: r.fileName };
    });
  }

  importLicenseFile(): Promise<Result<LicenseView | null>> {
    return this.#run(async () => {
      const text = await this.#o.files.openLicenseFile();
      if (text === null) return null;
      return this.view(await this.#o.manager.importLicenseFile(text));
    });
  }

  listDevices(code: string): Promise<Result<DevicesView>> {
    return this.#run(async () => devicesView(await this.#o.manager.listSeatDevices(code)));
  }

  /** Frees the seat, then lists the devices again so the renderer shows what is left. */
  releaseDevice(code: string, deviceId: string): Promise<Result<DevicesView>> {
    return this.#run(async () => {
      await this.#o.manager.releaseSeatDevice(code, deviceId);
      return devicesView(await this.#o.manager.listSeatDevices(code));
    });
  }
}
