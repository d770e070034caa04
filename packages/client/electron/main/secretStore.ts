/**
 * The LicenseManager's `secretStore` hook on Electron's safeStorage: the device private key is encrypted with
 * an OS-held key (Keychain on macOS, DPAPI on Windows, libsecret/kwallet on Linux) and the ciphertext kept in
 * `<dataDir>/secrets/`. Choice, in order:
 *   1. the asynchronous API (`isAsyncEncryptionAvailable` / `encryptStringAsync`, recent Electron);
 *   2. the synchronous API (`isEncryptionAvailable` / `encryptString`, older Electron);
 *   3. no secret store: the client library seals the key into its own state file under a machine-bound key
 *      (weaker: everything needed to unseal it is on the machine; see the client README's threat model).
 * On Linux, safeStorage's `basic_text` backend encrypts with a fixed password; it counts as unavailable.
 * A key stored under one mode is not readable under another: if the OS store disappears (e.g. a new user
 * profile), the manager reports KEY_NOT_FOUND and the person activates again, which is the safe outcome.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { SecretStore } from '../../src';
import { writeFileAtomic } from '../../src/store';
import type { SafeStorageLike } from './electronTypes';

export type SecretStoreMode = 'async' | 'sync' | 'library';

export interface SafeStorageSecretStore extends SecretStore {
  readonly mode: Exclude<SecretStoreMode, 'library'>;
}

export interface SecretStoreChoice {
  mode: SecretStoreMode;
  /** Undefined for 'library': the manager then seals the key itself. */
  store: SafeStorageSecretStore | undefined;
}

const MAX_SECRET_FILE = 64 * 1024;

/** One file per secret, named by a hash so secret names never become paths. */
const fileFor = (dir: string, name: string) =>
  join(dir, `${createHash('sha256').update(name).digest('hex').slice(0, 32)}.bin`);

function readSecretFile(path: string): Buffer | undefined {
  try {
    const data = readFileSync(path);
    return data.length > 0 && data.length <= MAX_SECRET_FILE ? data : undefined;
  } catch {
    return undefined;
  }
}

function removeSecretFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

async function asyncAvailable(safeStorage: SafeStorageLike): Promise<boolean> {
  if (!safeStorage.isAsyncEncryptionAvailable || !safeStorage.encryptStringAsync || !safeStorage.decryptStringAsync) {
    return false;
  }
  try {
    return (await safeStorage.isAsyncEncryptionAvailable()) === true;
  } catch {
    return false;
  }
}

function syncAvailable(safeStorage: SafeStorageLike): boolean {
  try {
    return safeStorage.isEncryptionAvailable() === true;
  } catch {
    return false;
  }
}

/**
 * Picks the strongest available mode. Call after Electron's `ready` event (safeStorage needs it).
 * `linuxBackend` is safeStorage.getSelectedStorageBackend() on Linux (undefined elsewhere).
 */
export async function chooseSecretStore(
  safeStorage: SafeStorageLike | undefined,
  dir: string,
  linuxBackend?: string,
): Promise<SecretStoreChoice> {
  if (!safeStorage || linuxBackend === 'basic_text' || linuxBackend === 'unknown') {
    return { mode: 'library', store: undefined };
  }
  if (await asyncAvailable(safeStorage)) {
    const encrypt = safeStorage.encryptStringAsync!.bind(safeStorage);
    const decrypt = safeStorage.decryptStringAsync!.bind(safeStorage);
    const store: SafeStorageSecretStore = {
      mode: 'async',
      async get(name) {
        const path = fileFor(dir, name);
        const data = readSecretFile(path);
        if (!data) return undefined;
        try {
          const { result, shouldReEncrypt } = await decrypt(data);
          // The OS rotated its key: store the secret under the new one while we hold it in clear.
          if (shouldReEncrypt) writeFileAtomic(path, await encrypt(result));
          return result;
        } catch {
          return undefined;
        }
      },
      async set(name, value) {
        ensureDir(dir);
        writeFileAtomic(fileFor(dir, name), await encrypt(value));
      },
      delete(name) {
        removeSecretFile(fileFor(dir, name));
      },
    };
    return { mode: 'async', store };
  }
  if (syncAvailable(safeStorage)) {
    const store: SafeStorageSecretStore = {
      mode: 'sync',
      get(name) {
        const data = readSecretFile(fileFor(dir, name));
        if (!data) return undefined;
        try {
          return safeStorage.decryptString(data);
        } catch {
          return undefined;
        }
      },
      set(name, value) {
        ensureDir(dir);
        writeFileAtomic(fileFor(dir, name), safeStorage.encryptString(value));
      },
      delete(name) {
        removeSecretFile(fileFor(dir, name));
      },
    };
    return { mode: 'sync', store };
  }
  return { mode: 'library', store: undefined };
}
