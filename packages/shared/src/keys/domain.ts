/**
 * Domain-separated detached Ed25519 signatures: every artifact type signs under its own prefix, so a
 * signature made for one (say, an API response) can never be replayed as another (say, a License file).
 */
import { KeyObject, sign, verify } from 'node:crypto';
import { LicensorError } from '../errors';
import { decodeBase64Strict } from './base64';

export const SIGNATURE_DOMAINS = [
  'license',
  'api-response',
  'offline-request',
  'offline-response',
  'device-request',
  'verdict',
  'key-revocations',
] as const;
export type SignatureDomain = (typeof SIGNATURE_DOMAINS)[number];

const PREFIXES = new Map<string, string>(SIGNATURE_DOMAINS.map((d) => [d, `LICENSOR-${d.toUpperCase()}-V1\n`]));
const ED25519_SIGNATURE_B64URL_LENGTH = 86; // 64 bytes

/** The exact bytes signed for `data` in `domain`, or undefined for an unknown domain or data type. */
function signedBytes(domain: unknown, data: unknown): Buffer | undefined {
  const prefix = typeof domain === 'string' ? PREFIXES.get(domain) : undefined;
  if (prefix === undefined) return undefined;
  if (typeof data === 'string') return Buffer.from(prefix + data, 'utf8');
  if (data instanceof Uint8Array) return Buffer.concat([Buffer.from(prefix, 'latin1'), data]);
  return undefined;
}

function isEd25519(key: unknown, types: readonly string[]): key is KeyObject {
  return key instanceof KeyObject && types.includes(key.type) && key.asymmetricKeyType === 'ed25519';
}

function bytesToSign(domain: SignatureDomain, data: string | Uint8Array, privateKey: KeyObject): Buffer {
  if (!isEd25519(privateKey, ['private'])) {
    throw new LicensorError('INVALID_INPUT', 'domainSign needs an Ed25519 private KeyObject');
  }
  const bytes = signedBytes(domain, data);
  if (!bytes) throw new LicensorError('INVALID_INPUT', 'Unknown signature domain or data type', { domain });
  return bytes;
}

/** Signs `"LICENSOR-<DOMAIN>-V1\n" + data` with an Ed25519 private key; returns base64url. */
export function domainSign(domain: SignatureDomain, data: string | Uint8Array, privateKey: KeyObject): string {
  return sign(null, bytesToSign(domain, data, privateKey), privateKey).toString('base64url');
}

/**
 * domainSign on libuv's thread pool: the same signature, but the event loop keeps serving while it is
 * computed (a server signing on every request would otherwise spend a large share of its one thread here).
 */
export function domainSignAsync(
  domain: SignatureDomain,
  data: string | Uint8Array,
  privateKey: KeyObject,
): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = bytesToSign(domain, data, privateKey);
  } catch (err) {
    return Promise.reject(err);
  }
  return new Promise((resolve, reject) => {
    sign(null, bytes, privateKey, (err, signature) => (err ? reject(err) : resolve(signature.toString('base64url'))));
  });
}

/** The signed bytes and the decoded signature, or undefined when the input cannot be a valid signature. */
function verifiable(
  domain: SignatureDomain,
  data: string | Uint8Array,
  signatureB64url: string,
  publicKey: KeyObject,
): { bytes: Buffer; signature: Buffer } | undefined {
  if (typeof signatureB64url !== 'string' || signatureB64url.length !== ED25519_SIGNATURE_B64URL_LENGTH) return;
  if (!isEd25519(publicKey, ['public', 'private'])) return;
  const signature = decodeBase64Strict(signatureB64url, 'base64url');
  const bytes = signedBytes(domain, data);
  if (signature?.length !== 64 || !bytes) return;
  return { bytes, signature };
}

/** True only for a canonical base64url Ed25519 signature over the domain-prefixed data; never throws. */
export function domainVerify(
  domain: SignatureDomain,
  data: string | Uint8Array,
  signatureB64url: string,
  publicKey: KeyObject,
): boolean {
  try {
    const v = verifiable(domain, data, signatureB64url, publicKey);
    return v !== undefined && verify(null, v.bytes, publicKey, v.signature);
  } catch {
    return false;
  }
}

/** domainVerify on libuv's thread pool (see domainSignAsync); resolves false for anything invalid, never rejects. */
export function domainVerifyAsync(
  domain: SignatureDomain,
  data: string | Uint8Array,
  signatureB64url: string,
  publicKey: KeyObject,
): Promise<boolean> {
  return new Promise((resolve) => {
    try {
      const v = verifiable(domain, data, signatureB64url, publicKey);
      if (!v) return resolve(false);
      verify(null, v.bytes, publicKey, v.signature, (err, ok) => resolve(!err && ok));
    } catch {
      resolve(false);
    }
  });
}
