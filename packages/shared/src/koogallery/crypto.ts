import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export type Bytes = string | Uint8Array;

/** HMAC-SHA256 over the concatenation of `data` (strings as UTF-8, bytes as they are). */
export function hmacSha256(key: string, ...data: Bytes[]): Buffer {
  const h = createHmac('sha256', Buffer.from(key, 'utf8'));
  for (const d of data) h.update(d);
  return h.digest();
}

export const sha256Hex = (data: Bytes): string => createHash('sha256').update(data).digest('hex');

/** Constant-time string comparison; a length difference is not secret (the expected length is public). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Code-point order (UTF-8 byte order), as Go's `sort.Strings`; equals Java's `String.compareTo` for ASCII. */
export function byCodePoint(a: string, b: string): number {
  // UTF-16 code units below the surrogates (U+D800) order like UTF-8 bytes: compare units up to the first
  // difference without encoding anything (scheme A sorts every request's parameter names). A difference at a
  // surrogate or above, or one string a prefix of the other, is left to the bytes themselves.
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      if (x < 0xd800 && y < 0xd800) return x < y ? -1 : 1;
      break;
    }
  }
  return a.length === b.length && a === b ? 0 : Buffer.compare(Buffer.from(a), Buffer.from(b));
}
