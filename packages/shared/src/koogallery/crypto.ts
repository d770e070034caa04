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
export const byCodePoint = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));
