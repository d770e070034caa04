import { LicensorError } from '../errors';
import { byCodePoint, hmacSha256, safeEqual } from './crypto';

/**
 * Decodes an `application/x-www-form-urlencoded` query (leading `?` allowed) the way servlet containers do:
 * `+` is a space, `%XX` sequences are UTF-8, the first value wins when a name repeats, a name without `=` has
 * the empty value. Malformed escapes or invalid UTF-8 throw INVALID_INPUT.
 */
export function parseFormQuery(rawQuery: string): Record<string, string> {
  const query = rawQuery.startsWith('?') ? rawQuery.slice(1) : rawQuery;
  const params = new Map<string, string>();
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decodeFormComponent(eq < 0 ? part : part.slice(0, eq));
    const value = eq < 0 ? '' : decodeFormComponent(part.slice(eq + 1));
    if (!params.has(name)) params.set(name, value);
  }
  // fromEntries defines own properties, so a parameter named `__proto__` cannot touch the prototype.
  return Object.fromEntries(params);
}

function decodeFormComponent(s: string): string {
  try {
    return decodeURIComponent(s.replaceAll('+', ' '));
  } catch {
    throw new LicensorError('INVALID_INPUT', 'Malformed percent-encoding in the query string');
  }
}

/**
 * Scheme A (spec 3.1): Base64(HMAC-SHA256(key + timeStamp, "k1=v1&k2=v2…")) over every parameter except
 * `authToken`, names in code-point order, values already URL-decoded. Throws INVALID_INPUT without `timeStamp`.
 */
export function schemeAAuthToken(key: string, params: Record<string, string>): string {
  const timeStamp = params['timeStamp'];
  if (timeStamp === undefined) throw new LicensorError('INVALID_INPUT', 'timeStamp is required for an authToken');
  const signed = Object.keys(params)
    .filter((k) => k !== 'authToken')
    .sort(byCodePoint)
    .map((k) => `${k}=${params[k]}`)
    .join('&');
  return hmacSha256(key + timeStamp, signed).toString('base64');
}

/** Checks `authToken` of decoded query parameters (see `parseFormQuery`); false when it or `timeStamp` is missing. */
export function verifySchemeA(key: string, params: Record<string, string>): boolean {
  const token = params['authToken'];
  if (!token || !params['timeStamp']) return false;
  return safeEqual(schemeAAuthToken(key, params), token);
}

/**
 * The signed fields of a POST body (Kit v1, SaaS v1): top-level fields as strings, objects and arrays as
 * JSON text, null/undefined and blank (empty or whitespace-only) values skipped, `authToken` left out.
 */
export function schemeABodyParams(body: Record<string, unknown>): Record<string, string> {
  const params = new Map<string, string>();
  for (const [k, v] of Object.entries(body)) {
    if (k === 'authToken' || v === null || v === undefined) continue;
    const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
    if (s.trim() !== '') params.set(k, s);
  }
  return Object.fromEntries(params);
}

/** Scheme A over a JSON body; `timeStamp` comes from the body. Throws INVALID_INPUT when it is missing. */
export function schemeABodyAuthToken(key: string, body: Record<string, unknown>): string {
  return schemeAAuthToken(key, schemeABodyParams(body));
}

/** Checks the `authToken` header of a Kit v1 / SaaS v1 POST; false on a missing token, timeStamp or bad body. */
export function verifySchemeABody(
  key: string,
  body: Record<string, unknown>,
  authTokenHeader: string | string[] | null | undefined,
): boolean {
  // Node gives an array only for a repeated header; which copy was signed is then unknowable.
  const token = typeof authTokenHeader === 'string' ? authTokenHeader : undefined;
  if (typeof token !== 'string' || token === '') return false;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const params = schemeABodyParams(body);
  if (!params['timeStamp']) return false;
  return safeEqual(schemeAAuthToken(key, params), token.trim());
}
