import { type Bytes, hmacSha256, safeEqual } from './crypto';

export type TimedSignatureResult =
  | { ok: true; timestampMs: number }
  | { ok: false; reason: 'missing' | 'stale' | 'bad-signature' };

export const KOOGALLERY_SIGNATURE_WINDOW_MS = 60_000;

/** Scheme B inner hash: lowercase hex HMAC-SHA256(accessKey, raw body). */
export function schemeBInnerHex(accessKey: string, payload: Bytes): string {
  return hmacSha256(accessKey, payload).toString('hex');
}

/** Scheme B (spec 3.3): uppercase hex HMAC-SHA256(accessKey, accessKey + nonce + timestamp + innerHex). */
export function schemeBSignature(accessKey: string, nonce: string, timestamp: string, payload: Bytes): string {
  return hmacSha256(accessKey, accessKey + nonce + timestamp + schemeBInnerHex(accessKey, payload))
    .toString('hex')
    .toUpperCase();
}

/** Scheme B′ (spec 3.4): uppercase hex HMAC-SHA256(accessKey, accessKey + nonce + timestamp + raw body). */
export function xSign(accessKey: string, nonce: string, timestamp: string, payload: Bytes): string {
  return hmacSha256(accessKey, accessKey + nonce + timestamp, payload)
    .toString('hex')
    .toUpperCase();
}

/**
 * Epoch milliseconds of a marketplace timestamp: up to 10 digits are seconds (the SaaS 2.0 page), more are
 * milliseconds (every example has 13 digits). Null when it is not 1–13 plain digits.
 */
export function parseMarketplaceTimestamp(timestamp: string): number | null {
  if (!/^\d{1,13}$/.test(timestamp)) return null;
  const n = Number(timestamp);
  return timestamp.length <= 10 ? n * 1000 : n;
}

function verifyTimed(
  sign: (nonce: string, timestamp: string) => string,
  signature: string | undefined,
  timestamp: string | undefined,
  nonce: string | undefined,
  nowMs: number,
  windowMs: number,
): TimedSignatureResult {
  if (!signature || !timestamp || !nonce) return { ok: false, reason: 'missing' };
  // An unreadable timestamp cannot be shown to be fresh.
  const timestampMs = parseMarketplaceTimestamp(timestamp);
  // Written as !(≤) so that a NaN clock or window fails closed.
  if (timestampMs === null || !(Math.abs(nowMs - timestampMs) <= windowMs)) return { ok: false, reason: 'stale' };
  // Published examples use both hex cases.
  if (!/^[0-9a-fA-F]{64}$/.test(signature) || !safeEqual(sign(nonce, timestamp), signature.toUpperCase())) {
    return { ok: false, reason: 'bad-signature' };
  }
  return { ok: true, timestampMs };
}

/**
 * Verifies scheme B query parameters against the raw request body bytes: all three present, timestamp within
 * `windowMs` of `nowMs` (either direction, bound included), signature equal in any hex case. Replay protection
 * (remembering nonces for the window) is the caller's; `timestampMs` tells it how long to keep the nonce.
 */
export function verifySchemeB(
  accessKey: string,
  q: { signature?: string | undefined; timestamp?: string | undefined; nonce?: string | undefined },
  rawBody: Uint8Array | string,
  nowMs: number,
  windowMs = KOOGALLERY_SIGNATURE_WINDOW_MS,
): TimedSignatureResult {
  const { signature, timestamp, nonce } = q;
  const sign = (n: string, t: string) => schemeBSignature(accessKey, n, t, rawBody);
  return verifyTimed(sign, signature, timestamp, nonce, nowMs, windowMs);
}

/** Verifies `x-sign`/`x-timestamp`/`x-nonce` headers (scheme B′) like `verifySchemeB`. */
export function verifyXSign(
  accessKey: string,
  h: { sign?: string | undefined; timestamp?: string | undefined; nonce?: string | undefined },
  rawBody: Uint8Array | string,
  nowMs: number,
  windowMs = KOOGALLERY_SIGNATURE_WINDOW_MS,
): TimedSignatureResult {
  const { sign, timestamp, nonce } = h;
  return verifyTimed((n, t) => xSign(accessKey, n, t, rawBody), sign, timestamp, nonce, nowMs, windowMs);
}
