import { LicensorError } from '../errors';
import { type Bytes, byCodePoint, hmacSha256, safeEqual, sha256Hex } from './crypto';

/**
 * Scheme C (spec 3.5): Huawei API Gateway "SDK-HMAC-SHA256" app signing, as done by Huawei's APIG SDKs.
 */
const ALGORITHM = 'SDK-HMAC-SHA256';

/** `yyyyMMdd'T'HHmmss'Z'` in UTC, the `X-Sdk-Date` format. */
export function formatSdkDate(d: Date): string {
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new LicensorError('INVALID_INPUT', 'Invalid date');
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

function parseSdkDate(s: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : null;
}

/** RFC 3986 percent-encoding: everything except `A-Z a-z 0-9 - _ . ~` (encodeURIComponent leaves `!'()*`). */
export function rfc3986Encode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function parseUrl(url: string, base?: string): URL {
  try {
    return new URL(url, base);
  } catch {
    throw new LicensorError('INVALID_INPUT', 'Invalid URL');
  }
}

/** Each path segment decoded, then RFC 3986 encoded; always ends with `/`. */
function canonicalUri(u: URL): string {
  const path = u.pathname
    .split('/')
    .map((seg) => {
      try {
        return rfc3986Encode(decodeURIComponent(seg));
      } catch {
        throw new LicensorError('INVALID_INPUT', 'Malformed percent-encoding in the URL path');
      }
    })
    .join('/');
  return path.endsWith('/') ? path : `${path}/`;
}

/** Names and values decoded then RFC 3986 encoded, sorted by name then value (repeated names keep all values). */
function canonicalQuery(u: URL): string {
  return [...u.searchParams]
    .sort(([an, av], [bn, bv]) => byCodePoint(an, bn) || byCodePoint(av, bv))
    .map(([n, v]) => `${rfc3986Encode(n)}=${rfc3986Encode(v)}`)
    .join('&');
}

interface CanonicalInput {
  method: string;
  url: URL;
  /** Lower-case names → trimmed values, exactly the signed headers. */
  headers: Map<string, string>;
  bodyHash: string;
}

function canonicalRequest({ method, url, headers, bodyHash }: CanonicalInput): {
  text: string;
  signedHeaders: string;
} {
  const names = [...headers.keys()].sort(byCodePoint);
  const signedHeaders = names.join(';');
  const text = [
    method.toUpperCase(),
    canonicalUri(url),
    canonicalQuery(url),
    names.map((n) => `${n}:${headers.get(n)}\n`).join(''),
    signedHeaders,
    bodyHash,
  ].join('\n');
  return { text, signedHeaders };
}

const stringToSign = (sdkDate: string, canonical: string) => `${ALGORITHM}\n${sdkDate}\n${sha256Hex(canonical)}`;

/** Last step of the scheme: lowercase hex HMAC-SHA256(SK, StringToSign). */
export function akskSignatureFromStringToSign(sk: string, sts: string): string {
  return hmacSha256(sk, sts).toString('hex');
}

export interface AkSkSignRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Bytes;
  ak: string;
  sk: string;
  /** Signing time when no `X-Sdk-Date` header is given; defaults to now. */
  date?: Date;
}

export interface AkSkSigned {
  authorization: string;
  /** The headers to send: the given ones plus `X-Sdk-Date`, `Host` and `Authorization` (when not given). */
  headers: Record<string, string>;
  canonicalRequest: string;
  stringToSign: string;
  signature: string;
}

/**
 * Signs a request for a KooGallery open API. Every given header is signed, plus `host` (from the URL without
 * its default port, unless a Host header is given) and `x-sdk-date` (from `date`, unless an X-Sdk-Date header
 * is given). The body hash is SHA-256 of the body,
 * or the value of an `X-Sdk-Content-Sha256` header when given (e.g. `UNSIGNED-PAYLOAD` for uploads).
 */
export function signAkSk(req: AkSkSignRequest): AkSkSigned {
  const url = parseUrl(req.url);
  const signed = new Map<string, string>();
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (name.toLowerCase() === 'authorization') continue;
    signed.set(name.toLowerCase(), String(value).trim());
    out[name] = value;
  }
  if (!signed.has('host')) {
    // URL.host already omits the scheme's default port (:443 for https, :80 for http).
    signed.set('host', url.host);
    out['Host'] = url.host;
  }
  if (!signed.has('x-sdk-date')) {
    signed.set('x-sdk-date', formatSdkDate(req.date ?? new Date()));
    out['X-Sdk-Date'] = signed.get('x-sdk-date')!;
  }
  const bodyHash = signed.get('x-sdk-content-sha256') ?? sha256Hex(req.body);
  const { text, signedHeaders } = canonicalRequest({ method: req.method, url, headers: signed, bodyHash });
  const sts = stringToSign(signed.get('x-sdk-date')!, text);
  const signature = akskSignatureFromStringToSign(req.sk, sts);
  const authorization = `${ALGORITHM} Access=${req.ak}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  out['Authorization'] = authorization;
  return { authorization, headers: out, canonicalRequest: text, stringToSign: sts, signature };
}

export interface AkSkVerifyRequest {
  method: string;
  /** Full URL, or the request target (`/path?query`) resolved against the Host header. */
  url: string;
  /** As received, lower-case names (Node's `req.headers`). */
  headers: Record<string, string | string[] | undefined>;
  body: Bytes;
  ak: string;
  sk: string;
  nowMs: number;
  maxSkewMs?: number;
}

const AUTHORIZATION =
  /^SDK-HMAC-SHA256\s+Access=([^,\s]+)\s*,\s*SignedHeaders=([a-z0-9!#$%&'*+.^_`|~-]+(?:;[a-z0-9!#$%&'*+.^_`|~-]+)*)\s*,\s*Signature=([0-9a-fA-F]{64})\s*$/;

/**
 * Verifies an SDK-HMAC-SHA256 request the way the API gateway does (used by the marketplace simulator): the
 * Authorization header names this AK, signs at least `host` and `x-sdk-date`, the date is within `maxSkewMs`
 * of `nowMs`, and the signature over the signed headers, URL and body matches. A hex `x-sdk-content-sha256`
 * must equal the body's hash; `UNSIGNED-PAYLOAD` (or another non-hash value) is taken as is, as the gateway does.
 */
export function verifyAkSk(req: AkSkVerifyRequest): { ok: true } | { ok: false; reason: string } {
  // Own properties only: a signed-header list naming `__proto__` must not reach Object.prototype.
  const header = (name: string): string | undefined => {
    const v = Object.hasOwn(req.headers, name) ? req.headers[name] : undefined;
    return Array.isArray(v) ? v.join(',') : typeof v === 'string' ? v : undefined;
  };
  const auth = AUTHORIZATION.exec(header('authorization')?.trim() ?? '');
  if (!auth) return { ok: false, reason: 'missing or malformed Authorization header' };
  const [, access = '', signedList = '', signature = ''] = auth;
  if (!safeEqual(access, req.ak)) return { ok: false, reason: 'unknown access key' };
  const names = signedList.split(';');
  if (!names.includes('host') || !names.includes('x-sdk-date')) {
    return { ok: false, reason: 'host and x-sdk-date must be signed' };
  }
  const sdkDate = header('x-sdk-date')?.trim() ?? '';
  const dateMs = parseSdkDate(sdkDate);
  if (dateMs === null) return { ok: false, reason: 'missing or malformed X-Sdk-Date header' };
  if (!(Math.abs(req.nowMs - dateMs) <= (req.maxSkewMs ?? 15 * 60_000))) {
    return { ok: false, reason: 'X-Sdk-Date is outside the allowed clock skew' };
  }
  const signed = new Map<string, string>();
  for (const name of names) {
    const v = header(name);
    if (v === undefined) return { ok: false, reason: `signed header ${name} is missing` };
    signed.set(name, v.trim());
  }
  const bodyHash = sha256Hex(req.body);
  const declared = signed.get('x-sdk-content-sha256');
  if (declared !== undefined && /^[0-9a-fA-F]{64}$/.test(declared) && declared.toLowerCase() !== bodyHash) {
    return { ok: false, reason: 'x-sdk-content-sha256 does not match the body' };
  }
  let url: URL;
  try {
    url = parseUrl(req.url, `http://${signed.get('host')}`);
  } catch {
    return { ok: false, reason: 'invalid request URL' };
  }
  let text: string;
  try {
    text = canonicalRequest({ method: req.method, url, headers: signed, bodyHash: declared ?? bodyHash }).text;
  } catch {
    return { ok: false, reason: 'malformed request URL' };
  }
  const expected = akskSignatureFromStringToSign(req.sk, stringToSign(sdkDate, text));
  return safeEqual(expected, signature.toLowerCase()) ? { ok: true } : { ok: false, reason: 'signature mismatch' };
}
