/**
 * The device fingerprint: raw hardware/OS readings, normalised and kept on the machine; per-product keyed
 * hashes are what leaves it. Collection is injectable (`FingerprintSource`) so tests and unusual hosts
 * (containers report empty serials) never depend on the real hardware.
 */
import { existsSync, readFileSync } from 'node:fs';
import {
  COMPONENT_NAMES,
  type ComponentName,
  formatKooGalleryFingerprint,
  type HashedComponents,
  hashComponents,
  kooGalleryFromRaw,
  normalizeComponents,
  type RawComponents,
} from '@licensor/shared';

/** What a source reads. Anything it cannot read is left out, never invented. */
export interface FingerprintReadings extends RawComponents {
  /** Hints that this is a virtual machine or a container, e.g. `hypervisor:KVM`, `docker`, `cgroup:kubepods`. */
  virtualSignals?: string[];
  /** Readings that did not answer in time (so their components may be missing only for now). */
  timedOut?: string[];
}

export type FingerprintSource = () => Promise<FingerprintReadings> | FingerprintReadings;

export interface MachineFingerprint {
  /** Normalised raw readings. They stay on this machine; only keyed hashes are sent. */
  components: RawComponents;
  /** Components with at least one value. */
  usableComponents: number;
  /** False when fewer than two components could be read: matching is then weak (the server's policy decides). */
  sufficient: boolean;
  missing: ComponentName[];
  /** KooGallery form `MAC|disk|board|CPU` (spec 8.3), for products bound through `getLicenseAsync`. */
  koogallery: string;
  virtual: { detected: boolean; signals: string[] };
  /** Readings that timed out (e.g. `diskLayout` on a busy machine); a patient re-read may complete them. */
  timedOut: string[];
  collectedAt: string;
  durationMs: number;
}

/** Builds the fingerprint from readings (normalising them); exposed for sources written by the embedding app. */
export function fingerprintFromReadings(readings: FingerprintReadings, durationMs = 0): MachineFingerprint {
  const components = normalizeComponents(readings ?? {});
  const present = COMPONENT_NAMES.filter((name) => {
    const v = components[name];
    return Array.isArray(v) ? v.length > 0 : v !== undefined;
  });
  const signals = [...new Set((readings?.virtualSignals ?? []).filter((s) => typeof s === 'string' && s !== ''))];
  return {
    components,
    usableComponents: present.length,
    sufficient: present.length >= 2,
    missing: COMPONENT_NAMES.filter((name) => !present.includes(name)),
    koogallery: formatKooGalleryFingerprint(kooGalleryFromRaw(components)),
    virtual: { detected: signals.length > 0, signals },
    timedOut: [...(readings?.timedOut ?? [])],
    collectedAt: new Date().toISOString(),
    durationMs,
  };
}

const hashedCache = new WeakMap<MachineFingerprint, Map<string, HashedComponents>>();

/** Per-product keyed hashes of the fingerprint (memoised: verification calls this on every check). */
export function hashedFingerprint(fp: MachineFingerprint, productId: string): HashedComponents {
  let byProduct = hashedCache.get(fp);
  if (!byProduct) {
    byProduct = new Map();
    hashedCache.set(fp, byProduct);
  }
  let hashed = byProduct.get(productId);
  if (!hashed) {
    hashed = hashComponents(fp.components, productId);
    byProduct.set(productId, hashed);
  }
  return hashed;
}

/** The subset of the systeminformation API used here (so tests can pass a fake). */
export interface SystemInformationLike {
  uuid(): Promise<{ os?: string; hardware?: string; macs?: string[] }>;
  system(): Promise<{ uuid?: string; virtual?: boolean; virtualHost?: string; model?: string }>;
  baseboard(): Promise<{ serial?: string }>;
  cpu(): Promise<{ manufacturer?: string; brand?: string; family?: string; model?: string; stepping?: string }>;
  diskLayout(): Promise<{ serialNum?: string; interfaceType?: string; type?: string }[]>;
  networkInterfaces(): Promise<unknown>;
}

export interface SystemInformationSourceOptions {
  /** Defaults to the `systeminformation` package (loaded on first use). */
  si?: SystemInformationLike;
  /** Each reading gets this long (default 800 ms); a slow one is left out rather than delaying start-up. */
  timeoutMs?: number;
  /** File probes for container detection (injectable for tests). */
  exists?: (path: string) => boolean;
  readText?: (path: string) => string | undefined;
}

export const DEFAULT_READING_TIMEOUT_MS = 800;

/** Resolves to undefined when the call fails or takes longer than `ms` (the call itself keeps running). */
function settle<T>(call: () => Promise<T>, ms: number, onTimeout: () => void): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      onTimeout();
      resolve(undefined);
    }, ms);
    timer.unref?.();
    let promise: Promise<T>;
    try {
      promise = Promise.resolve(call());
    } catch {
      promise = Promise.reject(new Error('reading failed'));
    }
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      () => {
        clearTimeout(timer);
        resolve(undefined);
      },
    );
  });
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);

// Interfaces that come and go or are shared between machines: bridges, tunnels, container and hypervisor NICs.
const VIRTUAL_IFACE =
  /^(docker|veth|br-|virbr|vmnet|vboxnet|tun|tap|utun|awdl|llw|bridge|zt|tailscale|wg|cni|flannel|cali|kube)/i;

function physicalMacs(ifaces: unknown): string[] {
  if (!Array.isArray(ifaces)) return [];
  const out: string[] = [];
  for (const i of ifaces as Record<string, unknown>[]) {
    if (!i || i.internal === true || i.virtual === true) continue;
    const name = String(i.iface ?? '');
    if (VIRTUAL_IFACE.test(name) || i.type === 'virtual') continue;
    const mac = str(i.mac);
    if (mac) out.push(mac);
  }
  return out;
}

function containerSignals(exists: (p: string) => boolean, readText: (p: string) => string | undefined): string[] {
  const signals: string[] = [];
  if (exists('/.dockerenv')) signals.push('docker');
  if (exists('/run/.containerenv')) signals.push('podman');
  const cgroup = readText('/proc/1/cgroup');
  const hit = cgroup?.match(/docker|kubepods|containerd|libpod|lxc/);
  if (hit) signals.push(`cgroup:${hit[0]}`);
  return signals;
}

const safeExists = (p: string) => {
  try {
    return existsSync(p);
  } catch {
    return false;
  }
};
const safeRead = (p: string) => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
};

/**
 * Reads the machine with systeminformation: OS machine id, SMBIOS UUID, baseboard serial, CPU, fixed-disk
 * serials, MACs of physical NICs, plus VM/container signals. All calls run in parallel with a timeout each.
 *
 * The CPU component is `vendor brand (family/model/stepping)`: systeminformation does not expose the x86
 * CPUID (`ProcessorId`) that KooGallery's desktop client puts in its fingerprint, so for files bound to a
 * KooGallery string the CPU field may differ; the default all-but-one rule tolerates that. An app that can
 * read the CPUID natively can wrap this source and set `cpu` itself.
 */
export function systemInformationSource(opts: SystemInformationSourceOptions = {}): FingerprintSource {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_READING_TIMEOUT_MS;
  return async () => {
    // Loaded lazily: it is a large module that offline verification with a cached fingerprint never needs.
    const si: SystemInformationLike = opts.si ?? ((await import('systeminformation')).default as SystemInformationLike);
    const timedOut: string[] = [];
    const read = <T>(name: string, call: () => Promise<T>) => settle(call, timeoutMs, () => timedOut.push(name));
    const [uuid, system, board, cpu, disks, nets] = await Promise.all([
      read('uuid', () => si.uuid()),
      read('system', () => si.system()),
      read('baseboard', () => si.baseboard()),
      read('cpu', () => si.cpu()),
      read('diskLayout', () => si.diskLayout()),
      read('networkInterfaces', () => si.networkInterfaces()),
    ]);
    const readings: FingerprintReadings = {};
    if (timedOut.length > 0) readings.timedOut = timedOut;
    const machineId = str(uuid?.os);
    if (machineId) readings.machineId = machineId;
    const hardwareUuid = str(uuid?.hardware) ?? str(system?.uuid);
    if (hardwareUuid) readings.hardwareUuid = hardwareUuid;
    const boardSerial = str(board?.serial);
    if (boardSerial) readings.baseboardSerial = boardSerial;
    const brand = [str(cpu?.manufacturer), str(cpu?.brand)].filter(Boolean).join(' ');
    if (brand) {
      const fms = [cpu?.family, cpu?.model, cpu?.stepping].map(str);
      readings.cpu = fms.every(Boolean) ? `${brand} (${fms.join('/')})` : brand;
    }
    // USB drives come and go; they would only add noise.
    const serials = (Array.isArray(disks) ? disks : [])
      .filter((d) => d && !/usb/i.test(String(d.interfaceType ?? '')))
      .map((d) => str(d.serialNum))
      .filter((s): s is string => s !== undefined);
    if (serials.length > 0) readings.diskSerials = serials;
    const macs = physicalMacs(nets);
    if (macs.length > 0) readings.macs = macs;
    else if (uuid?.macs?.length) readings.macs = uuid.macs.filter((m): m is string => typeof m === 'string');

    const signals = containerSignals(opts.exists ?? safeExists, opts.readText ?? safeRead);
    if (system?.virtual) signals.unshift(`hypervisor:${str(system.virtualHost) ?? 'unknown'}`);
    if (signals.length > 0) readings.virtualSignals = signals;
    return readings;
  };
}

/** Per-reading timeout of the patient re-read, used when a first reading timed out and something failed. */
export const PATIENT_READING_TIMEOUT_MS = 5000;

const defaultSources = new Map<number, FingerprintSource>();
const collected = new WeakMap<FingerprintSource, Promise<MachineFingerprint>>();

export interface CollectOptions {
  /** Where readings come from; default: systeminformation. */
  source?: FingerprintSource;
  /** Per-reading timeout of the default source (default 800 ms). */
  timeoutMs?: number;
  /** Read again instead of returning this process's cached result. */
  refresh?: boolean;
}

/**
 * Collects the fingerprint once per process and source (hardware does not change while an app runs, and
 * the readings cost a few hundred milliseconds). A failing source yields an empty fingerprint, which is
 * reported as insufficient rather than thrown.
 */
export function collectFingerprint(opts: CollectOptions = {}): Promise<MachineFingerprint> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_READING_TIMEOUT_MS;
  let source = opts.source ?? defaultSources.get(timeoutMs);
  if (!source) {
    source = systemInformationSource({ timeoutMs });
    defaultSources.set(timeoutMs, source);
  }
  const cached = collected.get(source);
  if (cached && !opts.refresh) return cached;
  const started = performance.now();
  const promise = (async () => {
    let readings: FingerprintReadings = {};
    try {
      readings = (await source()) ?? {};
    } catch {
      readings = {};
    }
    return fingerprintFromReadings(readings, Math.round(performance.now() - started));
  })();
  collected.set(source, promise);
  return promise;
}
