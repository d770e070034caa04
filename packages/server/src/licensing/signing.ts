import type { KeyObject } from 'node:crypto';
import {
  domainVerifyAsync,
  importDevicePublicKey,
  type LicensePayload,
  signLicenseAsync,
  signResponseAsync,
} from '@licensor/shared';
import type { Signer } from '../keys/keystore';

/**
 * Signing for the activation API: every answer carries a response signature, activations and check-ins a
 * freshly signed License file, and device requests an Ed25519 signature to check — about 200 µs of
 * cryptography per check-in on a 2-core machine. It runs on libuv's thread pool, so the event loop, the one
 * thread every request needs, only prepares bytes and sends answers. (A dedicated signing thread that batched
 * each event-loop turn's jobs measured no faster on 2 cores: the work still shares the same cores.)
 */
export interface ApiSigning {
  /** Whether `sig` is the device key's Ed25519 signature over `message` (domain `device-request`). */
  verifyDevice(spki: string, message: string, sig: string): Promise<boolean>;
  /**
   * Serialises `body` — after putting the License file signed from `license.payload` into `body[license.field]`
   * — and signs it as the answer to the request `nonce` with the current signing key.
   */
  answer(a: Answer): Promise<{ text: string; header: string }>;
}

export interface Answer {
  status: number;
  nonce: string;
  body: Record<string, unknown>;
  license?: { field: string; payload: LicensePayload };
}

// Importing an SPKI key costs more than verifying with it; devices check in with the same key every time.
const DEVICE_KEY_CACHE_SIZE = 10_000;

export function poolSigning(currentSigner: () => Signer): ApiSigning {
  const deviceKeys = new Map<string, KeyObject>();
  const deviceKey = (spki: string): KeyObject => {
    let key = deviceKeys.get(spki);
    if (key) {
      deviceKeys.delete(spki); // refresh recency: Map order makes the first entry the least recently used
    } else {
      key = importDevicePublicKey(spki);
      if (deviceKeys.size >= DEVICE_KEY_CACHE_SIZE) deviceKeys.delete(deviceKeys.keys().next().value!);
    }
    deviceKeys.set(spki, key);
    return key;
  };
  return {
    verifyDevice: (spki, message, sig) => domainVerifyAsync('device-request', message, sig, deviceKey(spki)),
    answer: async ({ status, nonce, body, license }) => {
      const signer = currentSigner();
      if (license) body[license.field] = await signLicenseAsync(license.payload, signer);
      const text = JSON.stringify(body);
      const { keyId, privateKey } = signer;
      return { text, header: await signResponseAsync({ status, nonce, body: text, keyId, privateKey }) };
    },
  };
}
