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

/** Signs `"LICENSOR-<DOMAIN>-V1\n" + data` with an Ed25519 private key; returns base64url. */
export function domainSign(domain: SignatureDomain, data: string | Uint8Array, privateKey: KeyObject): string {
  if (!isEd25519(privateKey, ['private'])) {
    throw new LicensorError('INVALID_INPUT', 'domainSign needs an Ed25519 private KeyObject');
  }
  const bytes = signedBytes(domain, data);
  if (!bytes) throw new LicensorError('INVALID_INPUT', 'Unknown signature domain or data type', { domain });
  return sign(null, bytes, privateKey).toString('base64url');
}

/** True only for a canonical base64url Ed25519 signature over the domain-prefixed data; never throws. */
export function domainVerify(
  domain: SignatureDomain,
  data: string | Uint8Array,
  signatureB64url: string,
  publicKey: KeyObject,
): boolean {
  try {
    if (typeof signatureB64url !== 'string' || signatureB64url.length !== ED25519_SIGNATURE_B64URL_LENGTH) return false;
    if (!isEd25519(publicKey, ['public', 'private'])) return false;
    const signature = decodeBase64Strict(signatureB64url, 'base64url');
    const bytes = signedBytes(domain, data);
    if (signature?.length !== 64 || !bytes) return false;
    return verify(null, bytes, publicKey, signature);
  } catch {
    return false;
  }
}
