import { createHash, generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Config,
  createApp,
  createLogger,
  type EntitlementRow,
  KeyStore,
  type LicensorApp,
  type Storage,
  testConfig,
} from '@licensor/server';
import {
  encodeOfflineRequest,
  generateLicenseCode,
  type HashedComponents,
  offlineRequestSchema,
  signDeviceRequest,
} from '@licensor/shared';
import { openMemoryTestDatabase, openTestDatabase, type TestDatabase, testBackend } from './server';

/** Test helpers for the activation API: simulated devices and seeded licenses. Not used at run time. */

export interface TestDevice {
  privateKey: KeyObject;
  /** base64url SPKI DER, as the client sends it. */
  publicKey: string;
  components: HashedComponents;
}

const h = (s: string) => createHash('sha256').update(s).digest('base64url');

/** A device with its own Ed25519 key and six distinct fingerprint components. */
export function newDevice(seed: string = randomUUID()): TestDevice {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKey,
    publicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64url'),
    components: {
      machineId: [h(`${seed}:machine`)],
      hardwareUuid: [h(`${seed}:uuid`)],
      baseboardSerial: [h(`${seed}:board`)],
      cpu: [h(`${seed}:cpu`)],
      diskSerials: [h(`${seed}:disk`)],
      macs: [h(`${seed}:mac`)],
    },
  };
}

/** The same machine after a hardware change: `changed` components get new values, and a new key (lost state). */
export function alteredDevice(device: TestDevice, changed: (keyof HashedComponents)[]): TestDevice {
  const next = newDevice();
  const components = { ...device.components };
  for (const name of changed) components[name] = [h(`${randomUUID()}:${name}`)];
  return { ...next, components };
}

export function activationBody(device: TestDevice, code: string, extra: Record<string, unknown> = {}) {
  return {
    code,
    fingerprint: { components: device.components },
    devicePublicKey: device.publicKey,
    device: { hostname: `host-${device.publicKey.slice(-6)}`, platform: 'linux', label: 'Test machine' },
    ...extra,
  };
}

/** Writes the offline request file a device without network would hand its operator (`licensor offline-response`). */
export function writeOfflineRequest(file: string, device: TestDevice, code: string): void {
  const request = offlineRequestSchema.parse({
    ...activationBody(device, code),
    v: 1,
    createdAt: new Date().toISOString(),
    nonce: '0123456789abcdef',
  });
  writeFileSync(file, encodeOfflineRequest(request, device.privateKey));
}

export interface SeedOptions {
  family?: EntitlementRow['family'];
  code?: string | null;
  id?: string;
  productId?: string | null;
  seats?: number;
  status?: EntitlementRow['status'];
  expiresAt?: string | null;
  policy?: Record<string, unknown> | null;
}

/** Inserts an entitlement as the marketplace handlers would have created it. */
export async function seedEntitlement(db: Storage, opts: SeedOptions = {}): Promise<EntitlementRow> {
  const now = new Date().toISOString();
  const family = opts.family ?? 'A';
  const id =
    opts.id ?? (family === 'B' ? (opts.code ?? `PL${randomUUID().replace(/-/g, '').toUpperCase()}`) : randomUUID());
  const code =
    opts.code !== undefined ? opts.code : family === 'C' ? null : family === 'B' ? id : generateLicenseCode();
  await db.run(
    `INSERT INTO entitlements (id, family, code, order_id, product_id, seats, starts_at, expires_at, status, policy, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      id,
      family,
      code,
      `CS${randomUUID().slice(0, 8)}`,
      opts.productId === undefined ? 'prod-1' : opts.productId,
      opts.seats ?? 1,
      now,
      opts.expiresAt === undefined ? new Date(Date.now() + 365 * 86_400_000).toISOString() : opts.expiresAt,
      opts.status ?? 'active',
      opts.policy ? JSON.stringify(opts.policy) : null,
      now,
      now,
    ],
  );
  return (await db.first<EntitlementRow>('SELECT * FROM entitlements WHERE id = ?', [id]))!;
}

/** Headers of a device-signed request (and a fresh request nonce for the response signature). */
export function deviceHeaders(
  device: TestDevice,
  activationId: string,
  method: string,
  path: string,
  body: string,
  opts: { nonce?: string; now?: number } = {},
): Record<string, string> {
  return {
    'licensor-device-signature': signDeviceRequest({
      activationId,
      method,
      path,
      body,
      privateKey: device.privateKey,
      nonce: opts.nonce,
      now: opts.now,
    }),
    'content-type': 'application/json',
  };
}

let sharedKeys: KeyStore | undefined;

/** One key store per test process: a root, a signing key and its decryption per test would only cost time. */
function testKeys(): KeyStore {
  sharedKeys ??= KeyStore.open(mkdtempSync(join(tmpdir(), 'licensor-keys-')), 'test-passphrase').store;
  return sharedKeys;
}

export interface LicensingTestApp {
  licensor: LicensorApp;
  db: TestDatabase;
  keys: KeyStore;
  config: Config;
  close(): Promise<void>;
}

/**
 * The real app (createApp) with an optional fake marketplace and clock. The database is in memory unless
 * `file` is set (a WAL file with synchronous=FULL, as in production: slower, but exercises group commit), or
 * under LICENSOR_TEST_BACKEND=postgres a database of the run (server.ts openTestDatabase).
 */
export async function makeApp(
  opts: { fetch?: typeof fetch; now?: () => Date; config?: Partial<Config>; file?: boolean } = {},
): Promise<LicensingTestApp> {
  const dir = mkdtempSync(join(tmpdir(), 'licensor-lic-'));
  const config = testConfig({ dataDir: dir, ...opts.config });
  const db =
    opts.file || testBackend() === 'postgres'
      ? await openTestDatabase(join(dir, 'licensor.db'))
      : openMemoryTestDatabase();
  const keys = testKeys();
  const licensor = await createApp({ config, db, keys, log: createLogger('silent'), fetch: opts.fetch, now: opts.now });
  return {
    licensor,
    db,
    keys,
    config,
    close: async () => {
      await licensor.stop();
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
