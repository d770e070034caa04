/**
 * Local license state: one JSON file per product in the data folder, written atomically, readable only by
 * the user, and tamper-evident.
 *
 * Tamper evidence. The state body is MACed with a random 32-byte state key K. K is stored only "wrapped"
 * under key-encryption keys derived from this machine: for every pair of fingerprint components (a, b) and
 * their values, KEK = HMAC(install salt, product ‖ a=value ‖ b=value), and the file keeps
 * locator(KEK) → K ⊕ PRF(KEK). Opening the state needs two components that still read the same, which is
 * the same tolerance the License file's default all-but-one fingerprint rule gives: a replaced disk does not
 * lock the user out, a state copied to another machine (or an edited one) is detected → STATE_TAMPERED.
 * Machines with fewer than two readable components wrap K under what they have (weaker, and reported).
 *
 * Threat model, honestly: this raises the bar against casual edits (rolling back the high-water mark,
 * swapping in an older License file) and copying; it is not DRM. Everything needed to recompute K is on the
 * machine, so a determined local user with this source code can forge a state. Deleting the state file
 * loses the activation (and its high-water mark); the License file's own serverTime still bounds a clock
 * rollback after a re-import.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import {
  chmodSync,
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import {
  COMPONENT_NAMES,
  canonicalize,
  entitlementSummarySchema,
  LicensorError,
  signedRevocationListSchema,
} from '@licensor/shared';
import { z } from 'zod';
import type { MachineFingerprint } from './fingerprint';

/** Optional OS-backed secret storage (e.g. Electron's safeStorage) for the device private key. */
export interface SecretStore {
  get(name: string): Promise<string | undefined> | string | undefined;
  set(name: string, value: string): Promise<void> | void;
  delete?(name: string): Promise<void> | void;
}

const deviceKeySchema = z.object({
  /** base64url SPKI DER of the Ed25519 public key (what the server knows). */
  publicKey: z.string().min(40).max(200),
  /** AES-256-GCM sealed PKCS#8 DER (iv ‖ tag ‖ ciphertext, base64url); absent when kept in the secret store. */
  sealed: z.string().optional(),
  inSecretStore: z.boolean().optional(),
  createdAt: z.number(),
});
export type DeviceKeyRecord = z.infer<typeof deviceKeySchema>;

const verdictSchema = z.object({ code: z.string(), message: z.string(), at: z.number() });
export type Verdict = z.infer<typeof verdictSchema>;

export const stateBodySchema = z.object({
  v: z.literal(1),
  productId: z.string(),
  /** Trusted-time high-water mark (ms): max of local times seen, License serverTime, server response times. */
  highWater: z.number(),
  serverUrl: z.string().optional(),
  activationId: z.string().optional(),
  /** The name this device was activated under (label, else host name), as other devices see it in seat lists. */
  deviceLabel: z.string().optional(),
  /** SHA-256 of the normalised license code, to recognise a re-activation with the same code. */
  codeHash: z.string().optional(),
  license: z.string().optional(),
  device: deviceKeySchema.optional(),
  /** Device key of an offline activation request that has not been answered yet. */
  pendingDevice: deviceKeySchema.optional(),
  checkInIntervalSeconds: z.number().optional(),
  lastCheckInAt: z.number().optional(),
  lastCheckInAttemptAt: z.number().optional(),
  /** The server's last verdict when it locked the license without sending a file (e.g. REVOKED). */
  verdict: verdictSchema.optional(),
  /**
   * The latest signed verdict record from the server (verified before it is stored): locks every file of this
   * activation issued at or before it, however that file comes back (re-import, restored state, re-read).
   */
  verdictRecord: z
    .string()
    .max(16 * 1024)
    .optional(),
  entitlement: entitlementSummarySchema.optional(),
  /** Bumped at every save and mirrored in the anti-rollback anchors (see anchor.ts); absent = 0. */
  generation: z.number().int().nonnegative().optional(),
  /** Components the state key is wrapped under (kept by the store: see `StateStore.#wrappingFor`). */
  wrappedUnder: z.array(z.string().max(32)).max(16).optional(),
  /** The newest root-signed list of revoked signing keys seen from the server (never replaced by an older one). */
  revokedKeys: signedRevocationListSchema.optional(),
});
export type StateBody = z.infer<typeof stateBodySchema>;

/** Exported for zodLite.test.ts (the status bundle parses every state file with it). */
export const envelopeSchema = z.object({
  v: z.literal(1),
  format: z.literal('licensor-client-state'),
  product: z.string(),
  keys: z.record(z.string(), z.string()),
  body: z.unknown(),
  mac: z.string(),
});

export type LoadResult =
  | { kind: 'none' }
  | { kind: 'ok'; body: StateBody }
  | { kind: 'tampered'; reason: 'salt-missing' | 'unreadable' | 'other-machine' | 'modified' };

const SALT_FILE = 'install-salt';
const VALUES_PER_COMPONENT = 4;

export function stateFileName(productId: string): string {
  const slug = productId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64);
  // Different ids must never share a file, even when their slugs coincide.
  return slug === productId
    ? `state-${slug}.json`
    : `state-${slug}-${createHash('sha256').update(productId).digest('hex').slice(0, 8)}.json`;
}

/** Names of the components a fingerprint has a value for. */
function componentsOf(fp: MachineFingerprint): string[] {
  return COMPONENT_NAMES.filter((name) => {
    const v = fp.components[name];
    return Array.isArray(v) ? v.length > 0 : v !== undefined;
  });
}

/** Wrapped keys a state may carry: a full wrap of six components with four values each is 240. */
const MAX_WRAPPED_KEYS = 480;

/** Machine tokens the state key is wrapped under: component pairs, or singles for a machine with fewer. */
export function machineTokens(fp: MachineFingerprint): string[] {
  const lists: [string, string[]][] = [];
  for (const name of COMPONENT_NAMES) {
    const v = fp.components[name];
    const values = (Array.isArray(v) ? v : v === undefined ? [] : [v]).slice(0, VALUES_PER_COMPONENT);
    if (values.length > 0) lists.push([name, values]);
  }
  const tokens: string[] = [];
  if (lists.length >= 2) {
    for (let i = 0; i < lists.length; i++) {
      for (let j = i + 1; j < lists.length; j++) {
        const [a, av] = lists[i]!;
        const [b, bv] = lists[j]!;
        for (const x of av) for (const y of bv) tokens.push(`${a}=${x}\0${b}=${y}`);
      }
    }
  } else if (lists.length === 1) {
    const [a, av] = lists[0]!;
    for (const x of av) tokens.push(`${a}=${x}`);
  } else {
    tokens.push('no-components');
  }
  return tokens;
}

const b64u = (b: Buffer) => b.toString('base64url');

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Whether a process of this id runs (EPERM: it does, under another OS account). */
function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Where a write of `path` puts its bytes first: `<path>.<pid>.<8 hex>.tmp` (removeStaleTemps reads the pid back). */
const tempPathFor = (path: string) => `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
const TEMP_SUFFIX = /^(\d+)\.[0-9a-f]{8}\.tmp$/;

/** A new file (0600) holding `data`, synced to disk; fails with EEXIST if the name is taken. */
function writeNewFileSynced(path: string, data: string | Buffer): void {
  const fd = openSync(path, 'wx', 0o600);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A write takes milliseconds: a temporary file older than this is no write's in progress. */
const STALE_TEMP_MS = 60_000;

/**
 * Removes the temporary files of earlier writes of `path` (`<path>.<pid>.<hex>.tmp`) that no write owns any more: a
 * process killed mid-write leaves one behind (its id no longer runs), and this process's own are over (its writes
 * are synchronous). One of a running process, of any OS account, is left alone, and so is any file younger than a
 * minute (a writer this process cannot see: a worker thread of its own, another PID namespace, another machine on a
 * shared folder).
 */
function removeStaleTemps(path: string): void {
  const dir = dirname(path);
  const prefix = `${basename(path)}.`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = name.startsWith(prefix) ? Number(TEMP_SUFFIX.exec(name.slice(prefix.length))?.[1]) : 0;
    if (!pid || (pid !== process.pid && processRuns(pid))) continue;
    try {
      if (Date.now() - statSync(join(dir, name)).mtimeMs < STALE_TEMP_MS) continue;
      unlinkSync(join(dir, name));
    } catch {
      /* gone already, or not ours to remove */
    }
  }
}

/** write temp (0600) + fsync + rename (+ fsync of the folder where supported): readers see old or new, never half. */
export function writeFileAtomic(path: string, data: string | Buffer): void {
  removeStaleTemps(path);
  const tmp = tempPathFor(path);
  writeNewFileSynced(tmp, data);
  for (let attempt = 0; ; attempt++) {
    try {
      renameSync(tmp, path);
      break;
    } catch (err) {
      // Windows: a virus scanner or indexer may hold the target open for a moment.
      const code = (err as NodeJS.ErrnoException).code;
      if (attempt < 5 && (code === 'EPERM' || code === 'EBUSY' || code === 'EACCES')) {
        sleepSync(20 * (attempt + 1));
        continue;
      }
      try {
        unlinkSync(tmp);
      } catch {
        /* already gone */
      }
      throw err;
    }
  }
  fsyncDir(dirname(path));
}

/** Makes a rename or link in `dir` durable (where supported). */
function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Directories cannot be opened for fsync on Windows; NTFS journals the rename itself.
  }
}

function storageError(message: string, err: unknown): LicensorError {
  return new LicensorError(
    'STORAGE_UNAVAILABLE',
    `${message}: ${(err as Error)?.message ?? err}. Check the permissions and free space of the data folder.`,
    undefined,
    { cause: err },
  );
}

export interface StateStoreOptions {
  dataDir: string;
  productId: string;
  secretStore?: SecretStore;
}

/**
 * Reads and writes one product's state. Holds the state key in memory after a successful load so later
 * writes keep the same key; reloads when another process (the CLI, a second window) changed the file.
 */
export class StateStore {
  readonly dataDir: string;
  readonly path: string;
  readonly productId: string;
  readonly #secretStore: SecretStore | undefined;
  #key: Buffer | undefined;
  #stamp: string | undefined;
  /** The wrapped keys and their components as last read or written with `#key`. */
  #wrapping: { keys: Record<string, string>; components: string[] } | undefined;

  constructor(opts: StateStoreOptions) {
    this.dataDir = opts.dataDir;
    this.productId = opts.productId;
    this.path = join(opts.dataDir, stateFileName(opts.productId));
    this.#secretStore = opts.secretStore;
  }

  get #saltPath(): string {
    return join(this.dataDir, SALT_FILE);
  }

  /** True when the file changed since this store last read or wrote it. */
  changedOnDisk(): boolean {
    return this.#currentStamp() !== this.#stamp;
  }

  #currentStamp(): string | undefined {
    try {
      const s = statSync(this.path, { bigint: true });
      return `${s.ino}:${s.size}:${s.mtimeNs}`;
    } catch {
      return undefined;
    }
  }

  /** The salt file as read: `salt` when it holds one, `malformed` when it reads but does not (missing or unreadable: neither). */
  #saltFile(): { salt?: Buffer; malformed: boolean } {
    let hex: string;
    try {
      hex = readFileSync(this.#saltPath, 'utf8').trim();
    } catch {
      return { malformed: false };
    }
    return /^[0-9a-f]{64}$/.test(hex) ? { salt: Buffer.from(hex, 'hex'), malformed: false } : { malformed: true };
  }

  #readSalt(): Buffer | undefined {
    return this.#saltFile().salt;
  }

  #ensureDir(): void {
    try {
      mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
      if (process.platform !== 'win32') chmodSync(this.dataDir, 0o700);
    } catch (err) {
      throw storageError(`Cannot create the data folder ${this.dataDir}`, err);
    }
  }

  #ensureSalt(): Buffer {
    const existing = this.#readSalt();
    if (existing) return existing;
    this.#ensureDir();
    // Written in full and synced under a temporary name, then linked into place (which fails if another process
    // created it meanwhile: theirs is kept), so a process killed or a power cut mid-write never leaves a partial salt.
    removeStaleTemps(this.#saltPath);
    const tmp = tempPathFor(this.#saltPath);
    const text = `${randomBytes(32).toString('hex')}\n`;
    try {
      writeNewFileSynced(tmp, text);
      try {
        linkSync(tmp, this.#saltPath);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // A file system without hard links (FAT, some network shares): create it in place, as before.
        if (code !== 'EEXIST') {
          try {
            writeNewFileSynced(this.#saltPath, text);
          } catch (again) {
            if ((again as NodeJS.ErrnoException).code !== 'EEXIST') throw again;
          }
        }
        // A salt is there but malformed (cut short under an earlier version, or emptied): nothing can have been
        // sealed under it, so it is replaced; before, every later save failed until someone deleted it by hand.
        // One this process cannot read (another OS account's, EACCES) is left alone: it may be in use.
        if (this.#saltFile().malformed) renameSync(tmp, this.#saltPath);
      }
      fsyncDir(this.dataDir);
    } catch (err) {
      throw storageError('Cannot write the install salt', err);
    } finally {
      try {
        unlinkSync(tmp);
      } catch {
        /* renamed into place */
      }
    }
    const salt = this.#readSalt();
    if (!salt) throw new LicensorError('STORAGE_UNAVAILABLE', `The install salt ${this.#saltPath} is unreadable`);
    return salt;
  }

  /** Names this install (not secret, stable while the install salt lives) for its anti-rollback anchors. */
  installId(): string | undefined {
    const salt = this.#readSalt();
    return salt ? createHmac('sha256', salt).update(`licensor-install-id\0${this.productId}`).digest('hex') : undefined;
  }

  #kek(salt: Buffer, token: string): Buffer {
    return createHmac('sha256', salt).update(`licensor-state-v1\0${this.productId}\0${token}`).digest();
  }

  /** Covers the body and the wrapped keys, so no byte of the file can change unnoticed. */
  #macOf(key: Buffer, keys: Record<string, string>, body: unknown): string {
    const macKey = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'licensor-state-mac', 32));
    return b64u(
      createHmac('sha256', macKey)
        .update(canonicalize({ product: this.productId, keys, body }))
        .digest(),
    );
  }

  load(fp: MachineFingerprint): LoadResult {
    let text: string;
    const stamp = this.#currentStamp();
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#stamp = undefined;
        return { kind: 'none' };
      }
      throw storageError(`Cannot read ${this.path}`, err);
    }
    this.#stamp = stamp;
    return this.open(text, fp);
  }

  /** Authenticates state file contents for this machine (load without the I/O). */
  open(text: string, fp: MachineFingerprint): LoadResult {
    const salt = this.#readSalt();
    if (!salt) return { kind: 'tampered', reason: 'salt-missing' };
    let envelope: z.infer<typeof envelopeSchema>;
    try {
      envelope = envelopeSchema.parse(JSON.parse(text));
    } catch {
      return { kind: 'tampered', reason: 'unreadable' };
    }
    if (envelope.product !== this.productId) return { kind: 'tampered', reason: 'modified' };
    let key: Buffer | undefined;
    for (const token of machineTokens(fp)) {
      const kek = this.#kek(salt, token);
      const wrapped = envelope.keys[b64u(createHmac('sha256', kek).update('locator').digest().subarray(0, 12))];
      if (!wrapped) continue;
      const w = Buffer.from(wrapped, 'base64url');
      if (w.length !== 32) continue;
      const pad = createHmac('sha256', kek).update('wrap').digest();
      const candidate = Buffer.alloc(32);
      for (let i = 0; i < 32; i++) candidate[i] = w[i]! ^ pad[i]!;
      key = candidate;
      break;
    }
    if (!key) return { kind: 'tampered', reason: 'other-machine' };
    let expected: string;
    try {
      expected = this.#macOf(key, envelope.keys, envelope.body);
    } catch {
      return { kind: 'tampered', reason: 'unreadable' };
    }
    const a = Buffer.from(expected);
    const b = Buffer.from(envelope.mac);
    if (a.length !== b.length || !timingSafeEqual(a, b)) return { kind: 'tampered', reason: 'modified' };
    const body = stateBodySchema.safeParse(envelope.body);
    if (!body.success || body.data.productId !== this.productId) return { kind: 'tampered', reason: 'modified' };
    this.#key = key;
    // States written before `wrappedUnder` existed: the reading that opened it is the best knowledge there is.
    this.#wrapping = { keys: envelope.keys, components: body.data.wrappedUnder ?? componentsOf(fp) };
    return { kind: 'ok', body: body.data };
  }

  /** Writes the state, wrapping the state key under this machine's current components. */
  save(body: StateBody, fp: MachineFingerprint): void {
    const salt = this.#ensureSalt();
    this.#ensureDir();
    const key = this.#stateKey();
    const wrapping = this.#wrappingFor(salt, key, fp);
    const keys = wrapping.keys;
    const checked = stateBodySchema.parse({ ...body, wrappedUnder: wrapping.components });
    const envelope = {
      v: 1,
      format: 'licensor-client-state',
      product: this.productId,
      keys,
      body: checked,
      mac: this.#macOf(key, keys, checked),
    };
    try {
      writeFileAtomic(this.path, `${JSON.stringify(envelope, null, 1)}\n`);
    } catch (err) {
      throw storageError(`Cannot write ${this.path}`, err);
    }
    this.#stamp = this.#currentStamp();
    this.#wrapping = wrapping;
  }

  /** `key` wrapped under each machine token of `fp`, by locator. */
  #wrapKey(salt: Buffer, key: Buffer, fp: MachineFingerprint): Record<string, string> {
    const keys: Record<string, string> = {};
    for (const token of machineTokens(fp)) {
      const kek = this.#kek(salt, token);
      const pad = createHmac('sha256', kek).update('wrap').digest();
      const wrapped = Buffer.alloc(32);
      for (let i = 0; i < 32; i++) wrapped[i] = key[i]! ^ pad[i]!;
      keys[b64u(createHmac('sha256', kek).update('locator').digest().subarray(0, 12))] = b64u(wrapped);
    }
    return keys;
  }

  /**
   * The wrapped keys to write. A reading that has every component the state is wrapped under replaces the
   * wrapping (so a changed disk migrates). A reading that lacks one (a query that timed out on a busy machine,
   * a device that did not answer) never narrows it: its keys are added to the existing ones, which all stay,
   * so the next start opens the state with any pair it could open before. Issue 13: a save under load used to
   * re-wrap under the starved reading, and the next start said "created on another machine".
   */
  #wrappingFor(
    salt: Buffer,
    key: Buffer,
    fp: MachineFingerprint,
  ): { keys: Record<string, string>; components: string[] } {
    const current = componentsOf(fp);
    const fresh = this.#wrapKey(salt, key, fp);
    const previous = this.#wrapping;
    if (!previous || previous.components.every((name) => current.includes(name))) {
      return { keys: fresh, components: current };
    }
    const union = { ...previous.keys, ...fresh };
    const components = COMPONENT_NAMES.filter((name) => previous.components.includes(name) || current.includes(name));
    return Object.keys(union).length <= MAX_WRAPPED_KEYS ? { keys: union, components } : previous;
  }

  /**
   * The generation the state file on disk claims, unauthenticated (0 if none): read before `reset()` deletes a
   * state this machine cannot open or has not loaded. It only ever raises the next state's generation, which
   * weakens nothing: a copy put back is still older than the anchors.
   */
  generationOnDisk(): number {
    try {
      const generation = JSON.parse(readFileSync(this.path, 'utf8'))?.body?.generation;
      return Number.isSafeInteger(generation) && generation > 0 && generation < 2 ** 40 ? generation : 0;
    } catch {
      return 0;
    }
  }

  /** Forgets the state (tampered or deactivated); the next save starts with a fresh state key. */
  reset(): void {
    try {
      unlinkSync(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw storageError(`Cannot delete ${this.path}`, err);
    }
    this.#key = undefined;
    this.#stamp = undefined;
    this.#wrapping = undefined;
  }

  #stateKey(): Buffer {
    if (!this.#key) this.#key = randomBytes(32);
    return this.#key;
  }

  #secretName(publicKey: string): string {
    return `licensor:${this.productId}:device-key:${publicKey.slice(-16)}`;
  }

  /** A new Ed25519 device key: sealed into the state, or handed to the secret store when there is one. */
  async createDeviceKey(now: number): Promise<{ record: DeviceKeyRecord; privateKey: KeyObject }> {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const spki = b64u(publicKey.export({ type: 'spki', format: 'der' }));
    const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
    if (this.#secretStore) {
      try {
        await this.#secretStore.set(this.#secretName(spki), b64u(pkcs8));
      } catch (err) {
        throw storageError('The secret store refused the device key', err);
      }
      return { record: { publicKey: spki, inSecretStore: true, createdAt: now }, privateKey };
    }
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#sealKey(), iv);
    cipher.setAAD(Buffer.from(`${this.productId}\0${spki}`));
    const ct = Buffer.concat([cipher.update(pkcs8), cipher.final()]);
    return {
      record: { publicKey: spki, sealed: b64u(Buffer.concat([iv, cipher.getAuthTag(), ct])), createdAt: now },
      privateKey,
    };
  }

  /** The private half of a stored device key; KEY_NOT_FOUND when it is gone or does not match. */
  async openDeviceKey(record: DeviceKeyRecord): Promise<KeyObject> {
    let der: Buffer | undefined;
    if (record.inSecretStore) {
      const value = this.#secretStore ? await this.#secretStore.get(this.#secretName(record.publicKey)) : undefined;
      der = value ? Buffer.from(value, 'base64url') : undefined;
    } else if (record.sealed) {
      try {
        const raw = Buffer.from(record.sealed, 'base64url');
        const decipher = createDecipheriv('aes-256-gcm', this.#sealKey(), raw.subarray(0, 12));
        decipher.setAAD(Buffer.from(`${this.productId}\0${record.publicKey}`));
        decipher.setAuthTag(raw.subarray(12, 28));
        der = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
      } catch {
        der = undefined;
      }
    }
    if (der) {
      try {
        const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
        const spki = b64u(createPublicKey(key).export({ type: 'spki', format: 'der' }));
        if (spki === record.publicKey && key.asymmetricKeyType === 'ed25519') return key;
      } catch {
        /* fall through */
      }
    }
    throw new LicensorError(
      'KEY_NOT_FOUND',
      'The device key of this activation is missing or unreadable. Activate again online to create a new one.',
    );
  }

  async deleteDeviceKey(record: DeviceKeyRecord | undefined): Promise<void> {
    if (record?.inSecretStore && this.#secretStore?.delete) {
      try {
        await this.#secretStore.delete(this.#secretName(record.publicKey));
      } catch {
        // A key left in the OS store is harmless once the server forgot the activation.
      }
    }
  }

  #sealKey(): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#stateKey(), Buffer.alloc(0), 'licensor-device-key', 32));
  }
}
