/**
 * The device fingerprint: raw hardware/OS readings, normalised and kept on the machine; per-product keyed
 * hashes are what leaves it. Collection is injectable (`FingerprintSource`) so tests and unusual hosts
 * (containers report empty serials) never depend on the real hardware.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname, networkInterfaces, tmpdir, uptime } from 'node:os';
import { isAbsolute, join } from 'node:path';
import {
  COMPONENT_NAMES,
  type ComponentName,
  formatKooGalleryFingerprint,
  type HashedComponents,
  hashComponents,
  kooGalleryFromRaw,
  normalizeComponents,
  normalizeMac,
  type RawComponents,
} from '@licensor/shared';
import { z } from 'zod';
import { linuxNetworkInterfaces, linuxUuid } from './fingerprintLinux';
import { recordSpan } from './timing';

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
  /**
   * True when the readings came from this boot's fingerprint cache rather than from the hardware: the manager
   * then reads the hardware before any negative verdict, so the cache can only make the honest path faster.
   */
  cached?: boolean;
}

/** Builds the fingerprint from readings (normalising them); exposed for sources written by the embedding app. */
export function fingerprintFromReadings(
  readings: FingerprintReadings,
  durationMs = 0,
  cached = false,
): MachineFingerprint {
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
    cached,
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
  /**
   * Shares queries between reads of one provider: a later (patient) read joins a query that is still running
   * instead of starting it again (which, on a busy machine, only adds load), and reuses one that finished in
   * the last 30 s. Failed queries are asked again.
   */
  calls?: SharedCalls;
}

/** Queries of systeminformation by name, with when they settled (see `SystemInformationSourceOptions.calls`). */
export type SharedCalls = Map<string, { promise: Promise<unknown>; settledAt?: number }>;

const REUSE_SETTLED_MS = 30_000;

function sharedCall<T>(calls: SharedCalls | undefined, name: string, call: () => Promise<T>): Promise<T> {
  if (!calls) return call();
  const known = calls.get(name);
  if (known && (known.settledAt === undefined || performance.now() - known.settledAt < REUSE_SETTLED_MS)) {
    return known.promise as Promise<T>;
  }
  const entry: { promise: Promise<unknown>; settledAt?: number } = { promise: Promise.resolve().then(call) };
  entry.promise.then(
    () => {
      entry.settledAt = performance.now();
    },
    () => {
      if (calls.get(name) === entry) calls.delete(name);
    },
  );
  calls.set(name, entry);
  return entry.promise as Promise<T>;
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

/** What the fingerprint takes from each systeminformation query (also what a partial read fills in). */
interface QueryResults {
  uuid?: Awaited<ReturnType<SystemInformationLike['uuid']>>;
  system?: Awaited<ReturnType<SystemInformationLike['system']>>;
  baseboard?: Awaited<ReturnType<SystemInformationLike['baseboard']>>;
  cpu?: Awaited<ReturnType<SystemInformationLike['cpu']>>;
  diskLayout?: Awaited<ReturnType<SystemInformationLike['diskLayout']>>;
  networkInterfaces?: unknown;
}

/** The components of a set of query answers (one place for the rules, whichever queries ran). */
function readingsFrom(r: QueryResults, signals: string[]): FingerprintReadings {
  const { uuid, system, baseboard: board, cpu, diskLayout: disks, networkInterfaces: nets } = r;
  const readings: FingerprintReadings = {};
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
  const all = [...(system?.virtual ? [`hypervisor:${str(system.virtualHost) ?? 'unknown'}`] : []), ...signals];
  if (all.length > 0) readings.virtualSignals = all;
  return readings;
}

/**
 * The default `SystemInformationLike`: systeminformation itself, loaded on the first query that needs it; on
 * Linux `uuid()` and `networkInterfaces()` are answered from the same files and kernel call directly
 * (fingerprintLinux.ts), without the shells systeminformation spawns for them.
 */
function defaultSystemInformation(): SystemInformationLike {
  let loaded: Promise<SystemInformationLike> | undefined;
  const load = () =>
    (loaded ??= (async () => {
      const started = performance.now();
      const si = (await import('systeminformation')).default as SystemInformationLike;
      recordSpan('load systeminformation', started);
      return si;
    })());
  const si: SystemInformationLike = {
    uuid: async () => (await load()).uuid(),
    system: async () => (await load()).system(),
    baseboard: async () => (await load()).baseboard(),
    cpu: async () => (await load()).cpu(),
    diskLayout: async () => (await load()).diskLayout(),
    networkInterfaces: async () => (await load()).networkInterfaces(),
  };
  if (process.platform === 'linux') {
    si.uuid = async () => linuxUuid();
    si.networkInterfaces = async () => linuxNetworkInterfaces();
  }
  return si;
}

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
  // Loaded lazily: it is a large module that offline verification with a cached fingerprint never needs.
  const si = opts.si ?? defaultSystemInformation();
  return async () => {
    const timedOut: string[] = [];
    const read = <T>(name: string, call: () => Promise<T>) => {
      const started = performance.now();
      return settle(
        () => sharedCall(opts.calls, name, call),
        timeoutMs,
        () => timedOut.push(name),
      ).finally(() => recordSpan(`fingerprint: ${name}()`, started));
    };
    const [uuid, system, baseboard, cpu, diskLayout, networkInterfaces] = await Promise.all([
      read('uuid', () => si.uuid()),
      read('system', () => si.system()),
      read('baseboard', () => si.baseboard()),
      read('cpu', () => si.cpu()),
      read('diskLayout', () => si.diskLayout()),
      read('networkInterfaces', () => si.networkInterfaces()),
    ]);
    const readings = readingsFrom(
      { uuid, system, baseboard, cpu, diskLayout, networkInterfaces },
      containerSignals(opts.exists ?? safeExists, opts.readText ?? safeRead),
    );
    if (timedOut.length > 0) readings.timedOut = timedOut;
    return readings;
  };
}

/** Readings taken live at every start (cheap enough), and the components they answer for. */
export interface LiveReadings {
  readings: FingerprintReadings;
  /** Components that always come from `readings` (even when absent there), never from the boot cache. */
  owns: ComponentName[];
}

/**
 * On Linux: the machine id, the SMBIOS UUID where this user may read it, and the MACs, straight from files and
 * the kernel (about a millisecond). They are read at every start and the boot cache never answers for them, so a
 * cache entry (copied, stale or forged) cannot lend this machine another machine's id or network cards.
 */
export function linuxLiveReadings(): LiveReadings {
  const uuid = linuxUuid();
  const readings = readingsFrom({ uuid, networkInterfaces: linuxNetworkInterfaces() }, []);
  const owns: ComponentName[] = ['machineId', 'macs'];
  if (readings.hardwareUuid) owns.push('hardwareUuid');
  return { readings, owns };
}

/**
 * Per-reading timeout of the patient re-read, made before concluding "another machine" or "fingerprint changed"
 * when a first reading timed out (or came from the cache). Long on purpose: on a machine loaded far beyond its
 * cores, a query that spawns processes can take many seconds, and a false verdict locks a paying user out.
 */
export const PATIENT_READING_TIMEOUT_MS = 20_000;

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

// ---- the default provider: a boot-scoped cache in front of the hardware, and patient re-reads ----------------

/** Which boot this is: Linux's random per-boot id, elsewhere the boot time in seconds (from the uptime). */
export interface BootIdentity {
  id?: string;
  bootTime?: number;
}

/** Clock adjustments and rounding move a computed boot time a little; more than this is another boot. */
const BOOT_TIME_TOLERANCE_S = 3;

export function currentBoot(): BootIdentity {
  if (process.platform === 'linux') {
    const id = safeRead('/proc/sys/kernel/random/boot_id')?.trim();
    if (id && /^[0-9a-f-]{36}$/i.test(id)) return { id: id.toLowerCase() };
  }
  return { bootTime: Math.round(Date.now() / 1000 - uptime()) };
}

function sameBoot(a: BootIdentity, b: BootIdentity): boolean {
  if (a.id !== undefined || b.id !== undefined) return a.id === b.id;
  return (
    a.bootTime !== undefined && b.bootTime !== undefined && Math.abs(a.bootTime - b.bootTime) <= BOOT_TIME_TOLERANCE_S
  );
}

/** Normalised MACs of the interfaces the OS reports right now (no child processes: Node asks the kernel). */
export function liveMacs(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) {
      const mac = normalizeMac(i.mac);
      if (mac) out.push(mac);
    }
  }
  return out;
}

/** Where the readings of one boot are kept between processes. */
export interface FingerprintCache {
  /** This boot's readings, or undefined (no entry, another boot, a NIC gone, anything unexpected). */
  read(): FingerprintReadings | undefined;
  write(readings: FingerprintReadings): void;
}

export interface BootFingerprintCacheOptions {
  /** Default: `defaultFingerprintCacheDir()`. */
  dir?: string;
  /** Default: `currentBoot()`. */
  boot?: () => BootIdentity;
  /** Default: `liveMacs()`. */
  macs?: () => string[];
  /**
   * What ties an entry to this machine besides the boot (part of the entry's MAC key). Default: the OS machine id
   * on Linux (`/var/lib/dbus/machine-id`, else `/etc/machine-id`), else the host name.
   */
  machineKey?: () => string;
}

/** The default `machineKey`: the OS machine id on Linux (what systeminformation reads too), else the host name. */
export function defaultMachineKey(): string {
  if (process.platform === 'linux') {
    const id = (safeRead('/var/lib/dbus/machine-id') ?? safeRead('/etc/machine-id'))?.trim();
    if (id) return id.toLowerCase();
  }
  return hostname();
}

/**
 * A per-user, per-boot folder that does not travel with the data folder: `$XDG_RUNTIME_DIR/licensor` on Linux
 * (a tmpfs emptied at logout and boot), else `<tmpdir>/licensor-<uid>` (per-user on Windows and macOS).
 */
export function defaultFingerprintCacheDir(
  env: Record<string, string | undefined> = process.env,
  platform: NodeJS.Platform = process.platform,
): string {
  const runtime = env.XDG_RUNTIME_DIR;
  if (platform === 'linux' && runtime && isAbsolute(runtime)) return join(runtime, 'licensor');
  return join(tmpdir(), `licensor-${typeof process.getuid === 'function' ? process.getuid() : 'user'}`);
}

const CACHE_FILE = 'fingerprint-boot-cache-v2.json';
const CACHE_MAX_BYTES = 64 * 1024;
const cachedText = z.string().max(512);
/** Exported for zodLite.test.ts (the status bundle parses the boot cache with these). */
export const cacheFileSchema = z
  .object({ v: z.literal(2), payload: z.string().max(CACHE_MAX_BYTES), mac: z.string() })
  .strict();
export const cachePayloadSchema = z
  .object({
    boot: z.object({ id: z.string().max(64).optional(), bootTime: z.number().optional() }).strict(),
    readings: z
      .object({
        machineId: cachedText.optional(),
        hardwareUuid: cachedText.optional(),
        baseboardSerial: cachedText.optional(),
        cpu: cachedText.optional(),
        diskSerials: z.array(cachedText).max(64).optional(),
        macs: z.array(cachedText).max(64).optional(),
        virtualSignals: z.array(cachedText).max(16).optional(),
      })
      .strict(),
  })
  .strict();

/** Owned by this user and closed to everyone else (POSIX); a symlink or a foreign file is never trusted. */
function privateEntry(path: string, kind: 'dir' | 'file'): boolean {
  try {
    const st = lstatSync(path);
    if (st.isSymbolicLink() || (kind === 'dir' ? !st.isDirectory() : !st.isFile())) return false;
    if (typeof process.getuid === 'function' && (st.uid !== process.getuid() || (st.mode & 0o077) !== 0)) return false;
    return kind === 'dir' || st.size <= CACHE_MAX_BYTES;
  } catch {
    return false;
  }
}

/**
 * The MAC key of an entry: this boot (the random boot id on Linux, else the boot time as written), this machine
 * (`machineKey`) and this user. An entry carried to another machine, another boot or another account no longer
 * authenticates, and an edited one (a boot id or a serial changed in the JSON) does not either.
 */
function cacheKey(boot: BootIdentity, machineKey: string): Buffer {
  const uid = typeof process.getuid === 'function' ? process.getuid() : -1;
  return createHash('sha256')
    .update(`licensor fingerprint boot cache v2\0${boot.id ?? ''}\0${boot.bootTime ?? ''}\0${machineKey}\0${uid}`)
    .digest();
}

/**
 * The readings of this boot, kept so that later processes skip the slow hardware queries. An entry is used
 * only for the same boot (boot id / boot time), by the same user (a private folder, checked), on the same
 * machine (its MAC is keyed by boot, machine id and user), while every MAC it holds is still present; it is a
 * hint, never evidence: the manager reads the hardware again before any negative verdict. On Linux the provider
 * never takes the machine id or the MACs from it (they are read live at every start). See the README's threat
 * model for what it cannot stop.
 */
export function bootFingerprintCache(opts: BootFingerprintCacheOptions = {}): FingerprintCache {
  const dir = opts.dir ?? defaultFingerprintCacheDir();
  const file = join(dir, CACHE_FILE);
  const boot = opts.boot ?? currentBoot;
  const macs = opts.macs ?? liveMacs;
  const machineKey = opts.machineKey ?? defaultMachineKey;
  const macOf = (payload: string, b: BootIdentity) =>
    createHmac('sha256', cacheKey(b, machineKey())).update(payload).digest('base64url');
  return {
    read() {
      if (!privateEntry(dir, 'dir') || !privateEntry(file, 'file')) return undefined;
      let entry: z.infer<typeof cacheFileSchema>;
      let payload: z.infer<typeof cachePayloadSchema>;
      try {
        entry = cacheFileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
        payload = cachePayloadSchema.parse(JSON.parse(entry.payload));
      } catch {
        return undefined;
      }
      const now = boot();
      if (!sameBoot(payload.boot, now)) return undefined;
      const expected = Buffer.from(macOf(entry.payload, payload.boot));
      const given = Buffer.from(entry.mac);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
      const readings = payload.readings;
      const cachedMacs = (readings.macs ?? []).map(normalizeMac).filter((m): m is string => m !== null);
      if (cachedMacs.length > 0) {
        const present = new Set(macs());
        if (!cachedMacs.every((m) => present.has(m))) return undefined;
      }
      return readings;
    },
    write(readings) {
      const { timedOut: _partial, ...complete } = readings;
      const b = boot();
      const payload = JSON.stringify(cachePayloadSchema.parse({ boot: b, readings: complete }));
      const entry = { v: 2, payload, mac: macOf(payload, b) };
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      if (!privateEntry(dir, 'dir')) return;
      const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
      try {
        writeFileSync(tmp, JSON.stringify(entry), { mode: 0o600, flag: 'wx' });
        renameSync(tmp, file);
      } catch (err) {
        try {
          unlinkSync(tmp);
        } catch {
          /* never created */
        }
        throw err;
      }
    },
  };
}

export type FingerprintProvider = (opts?: { patient?: boolean }) => Promise<MachineFingerprint>;

export interface FingerprintProviderOptions {
  /** Reads the hardware with the given per-reading timeout; default: systeminformation. */
  read?: (timeoutMs: number) => Promise<FingerprintReadings> | FingerprintReadings;
  /** Default: `bootFingerprintCache()`; false reads the hardware every time. */
  cache?: FingerprintCache | false;
  /**
   * Readings taken live even when the cache answers, and never cached. Default: `linuxLiveReadings` on Linux
   * when `read` is the default one; none otherwise (everything `read` returns may then come from the cache).
   */
  live?: (() => LiveReadings) | false;
}

/** The cached readings with the live ones in place of every component the live readings answer for. */
function withLive(cached: FingerprintReadings, live: LiveReadings | undefined): FingerprintReadings {
  if (!live) return cached;
  const merged: FingerprintReadings = { ...cached };
  for (const name of live.owns) delete merged[name];
  const { virtualSignals, ...components } = live.readings;
  Object.assign(merged, components);
  const signals = [...new Set([...(cached.virtualSignals ?? []), ...(virtualSignals ?? [])])];
  if (signals.length > 0) merged.virtualSignals = signals;
  return merged;
}

/** What goes into the cache: the readings without the components read live at every start. */
function withoutLive(readings: FingerprintReadings, live: LiveReadings | undefined): FingerprintReadings {
  const kept: FingerprintReadings = { ...readings };
  for (const name of live?.owns ?? []) delete kept[name];
  return kept;
}

/**
 * What `LicenseManager` (and so the Electron shell) and the CLI use by default. The first call returns this
 * boot's cached readings when there are any (on Linux completed by the machine id, SMBIOS UUID and MACs read
 * live), else reads the hardware (800 ms per reading) and caches a reading in which nothing timed out.
 * `{ patient: true }` always reads the hardware, with 20 s per reading (joining the queries of the first read
 * that are still running), and never from the cache: that is the re-read the manager makes before concluding
 * "another machine" or "fingerprint changed".
 */
export function fingerprintProvider(opts: FingerprintProviderOptions = {}): FingerprintProvider {
  const calls: SharedCalls = new Map();
  const read = opts.read ?? ((timeoutMs: number) => systemInformationSource({ timeoutMs, calls })());
  const cache = opts.cache === false ? undefined : (opts.cache ?? bootFingerprintCache());
  const liveSource =
    opts.live === false
      ? undefined
      : (opts.live ?? (opts.read === undefined && process.platform === 'linux' ? linuxLiveReadings : undefined));
  const readLive = (): LiveReadings | undefined => {
    try {
      return liveSource?.();
    } catch {
      return undefined;
    }
  };
  let current: Promise<MachineFingerprint> | undefined;
  const fromHardware = async (timeoutMs: number): Promise<MachineFingerprint> => {
    const started = performance.now();
    let readings: FingerprintReadings = {};
    try {
      readings = (await read(timeoutMs)) ?? {};
    } catch {
      readings = {};
    }
    const fp = fingerprintFromReadings(readings, Math.round(performance.now() - started));
    // A starved reading would make every later process as starved as this one: only complete ones are kept.
    if (cache && fp.timedOut.length === 0 && fp.usableComponents > 0) {
      try {
        cache.write(withoutLive(readings, readLive()));
      } catch {
        // A read-only or full temporary folder only costs speed.
      }
    }
    return fp;
  };
  return ({ patient = false } = {}) => {
    if (patient) {
      current = fromHardware(PATIENT_READING_TIMEOUT_MS);
      return current;
    }
    current ??= (async () => {
      const started = performance.now();
      let hit: FingerprintReadings | undefined;
      try {
        hit = cache?.read();
      } catch {
        hit = undefined;
      }
      if (hit) {
        const readings = withLive(hit, readLive());
        return fingerprintFromReadings(readings, Math.round(performance.now() - started), true);
      }
      return fromHardware(DEFAULT_READING_TIMEOUT_MS);
    })();
    return current;
  };
}

let sharedProvider: FingerprintProvider | undefined;

/** The process-wide default provider (hardware does not change while an app runs). */
export function defaultFingerprintProvider(): FingerprintProvider {
  sharedProvider ??= fingerprintProvider();
  return sharedProvider;
}
