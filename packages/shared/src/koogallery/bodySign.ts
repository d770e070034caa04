import { type Bytes, hmacSha256, safeEqual } from './crypto';

/** `Body-Sign` header value for a response body (spec 3.2), in the exact form of Huawei's examples. */
export function bodySignHeader(key: string, body: Bytes): string {
  return `sign_type="HMAC-SHA256", signature= "${hmacSha256(key, body).toString('base64')}"`;
}

// Names and the algorithm are case-sensitive as documented; only whitespace around ',' and '=' is tolerated.
const BODY_SIGN = /^\s*sign_type\s*=\s*"HMAC-SHA256"\s*,\s*signature\s*=\s*"([A-Za-z0-9+/]+={0,2})"\s*$/;

/** The Base64 signature of a `Body-Sign` header value, or null when the header is not in the documented form. */
export function parseBodySignHeader(h: string): string | null {
  return typeof h === 'string' ? (BODY_SIGN.exec(h)?.[1] ?? null) : null;
}

/** Checks a `Body-Sign` header against the exact body bytes. */
export function verifyBodySign(key: string, body: Bytes, header: string | null | undefined): boolean {
  const signature = header ? parseBodySignHeader(header) : null;
  return signature !== null && safeEqual(hmacSha256(key, body).toString('base64'), signature);
}
