import { createHash, createPublicKey, type KeyObject, randomBytes } from 'node:crypto';
import { LicensorError } from '../errors';
import { domainSign, domainSignAsync, domainVerify, domainVerifyAsync } from '../keys';

/**
 * Signatures on activation-API traffic.
 *
 * Device requests (check-in, deactivate) carry
 *   `Licensor-Device-Signature: activation=<id>, ts=<ms>, nonce=<hex>, sig=<b64url>`
 * over `METHOD \n PATH \n sha256(body) \n ts \n nonce` with the activation's Ed25519 device key, so
 * knowing an activation id is not enough to act for the device, and a captured request cannot be replayed.
 *
 * Server responses carry `Licensor-Signature: kid=<signing key id>, ts=<ms>, sig=<b64url>` over
 * `STATUS \n METHOD \n PATH \n activation \n request nonce \n ts \n sha256(body)` with the server's current
 * signing key. METHOD and PATH are the request's (path as sent, without the query string); `activation` is the
 * activation id the request's device signature names (empty without one). The client sends `Licensor-Nonce`
 * with each request and refuses a response for another nonce, another request (an answer captured on one
 * endpoint and replayed to another), or outside its window.
 */

export const DEVICE_SIGNATURE_HEADER = 'licensor-device-signature';
export const RESPONSE_SIGNATURE_HEADER = 'licensor-signature';
export const REQUEST_NONCE_HEADER = 'licensor-nonce';
export const SIGNATURE_WINDOW_MS = 5 * 60_000;

export const bodyDigest = (body: string | Uint8Array): string => createHash('sha256').update(body).digest('base64url');

export const newNonce = (): string => randomBytes(16).toString('hex');

function parseParams(header: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of header.split(',')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

const deviceMessage = (method: string, path: string, body: string | Uint8Array, ts: string, nonce: string) =>
  `${method.toUpperCase()}\n${path}\n${bodyDigest(body)}\n${ts}\n${nonce}`;

export function signDeviceRequest(opts: {
  activationId: string;
  method: string;
  path: string;
  body: string | Uint8Array;
  privateKey: KeyObject;
  now?: number;
  nonce?: string;
}): string {
  const ts = String(opts.now ?? Date.now());
  const nonce = opts.nonce ?? newNonce();
  const sig = domainSign(
    'device-request',
    deviceMessage(opts.method, opts.path, opts.body, ts, nonce),
    opts.privateKey,
  );
  return `activation=${opts.activationId}, ts=${ts}, nonce=${nonce}, sig=${sig}`;
}

export interface ParsedDeviceSignature {
  activationId: string;
  ts: number;
  nonce: string;
  sig: string;
}

export function parseDeviceSignature(header: string | undefined): ParsedDeviceSignature {
  const p = parseParams(header ?? '');
  if (!p.activation || !p.ts || !p.nonce || !p.sig || !/^\d{10,16}$/.test(p.ts) || !/^[0-9a-f]{16,64}$/.test(p.nonce)) {
    throw new LicensorError('UNAUTHORIZED', 'Missing or malformed Licensor-Device-Signature header');
  }
  return { activationId: p.activation, ts: Number(p.ts), nonce: p.nonce, sig: p.sig };
}

interface DeviceRequestCheck {
  signature: ParsedDeviceSignature;
  method: string;
  path: string;
  body: string | Uint8Array;
  publicKey: KeyObject;
  now?: number;
}

/** The signed message of a device request whose timestamp is inside the window (else throws REPLAYED). */
function deviceMessageInWindow(opts: DeviceRequestCheck): string {
  const { signature: s } = opts;
  if (Math.abs((opts.now ?? Date.now()) - s.ts) > SIGNATURE_WINDOW_MS) {
    throw new LicensorError('REPLAYED', 'Request timestamp outside the 5-minute window; check the device clock');
  }
  return deviceMessage(opts.method, opts.path, opts.body, String(s.ts), s.nonce);
}

const deviceSignatureMismatch = () =>
  new LicensorError('SIGNATURE_INVALID', 'Device signature does not match this activation');

/** Verifies a device signature (not the nonce's novelty: the server records nonces itself). */
export function verifyDeviceRequest(opts: DeviceRequestCheck): void {
  if (!domainVerify('device-request', deviceMessageInWindow(opts), opts.signature.sig, opts.publicKey)) {
    throw deviceSignatureMismatch();
  }
}

/** verifyDeviceRequest with the Ed25519 check on libuv's thread pool (for servers). */
export async function verifyDeviceRequestAsync(opts: DeviceRequestCheck): Promise<void> {
  if (!(await domainVerifyAsync('device-request', deviceMessageInWindow(opts), opts.signature.sig, opts.publicKey))) {
    throw deviceSignatureMismatch();
  }
}

/** Imports a device public key sent as base64url SPKI DER; only Ed25519 is accepted. */
export function importDevicePublicKey(spkiB64url: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spkiB64url, 'base64url'), format: 'der', type: 'spki' });
  } catch {
    throw new LicensorError('INVALID_INPUT', 'devicePublicKey is not a valid SPKI public key');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new LicensorError('INVALID_INPUT', 'devicePublicKey must be Ed25519');
  return key;
}

/** SHA-256 (base64url) of the SPKI DER: how a License file names the device key it is bound to. */
export const devicePublicKeyHash = (spkiB64url: string): string =>
  createHash('sha256').update(Buffer.from(spkiB64url, 'base64url')).digest('base64url');

/** The request an answer is for: what binds the answer's signature to it. */
export interface AnsweredRequest {
  method: string;
  /** The path as sent (percent-encoding kept), without the query string. */
  path: string;
  /** The activation id the request's device signature names; '' (or absent) without a device signature. */
  activationId?: string;
}

// Each field is percent-encoded where it could hold a line break, so no two requests share a message.
const responseMessage = (status: number, to: AnsweredRequest, nonce: string, ts: string, body: string | Uint8Array) =>
  [
    status,
    to.method.toUpperCase(),
    encodeURI(to.path),
    encodeURIComponent(to.activationId ?? ''),
    encodeURIComponent(nonce),
    ts,
    bodyDigest(body),
  ].join('\n');

/** The activation id named by a `Licensor-Device-Signature` header, read leniently ('' when there is none). */
export function deviceSignatureActivation(header: string | undefined): string {
  return parseParams(header ?? '').activation ?? '';
}

interface ResponseToSign {
  status: number;
  request: AnsweredRequest;
  nonce: string;
  body: string | Uint8Array;
  keyId: string;
  privateKey: KeyObject;
  now?: number;
}

export function signResponse(opts: ResponseToSign): string {
  const ts = String(opts.now ?? Date.now());
  const message = responseMessage(opts.status, opts.request, opts.nonce, ts, opts.body);
  return `kid=${opts.keyId}, ts=${ts}, sig=${domainSign('api-response', message, opts.privateKey)}`;
}

/** signResponse with the signature computed on libuv's thread pool (for servers). */
export async function signResponseAsync(opts: ResponseToSign): Promise<string> {
  const ts = String(opts.now ?? Date.now());
  const message = responseMessage(opts.status, opts.request, opts.nonce, ts, opts.body);
  return `kid=${opts.keyId}, ts=${ts}, sig=${await domainSignAsync('api-response', message, opts.privateKey)}`;
}

/**
 * Verifies a signed response for the request the client sent (method, path, activation and nonce).
 * `publicKeyFor` returns the verified public key of a signing key id (from a certificate chained to the
 * pinned root), or undefined.
 */
export function verifyResponse(opts: {
  header: string | null | undefined;
  status: number;
  request: AnsweredRequest;
  nonce: string;
  body: string | Uint8Array;
  publicKeyFor: (keyId: string) => KeyObject | undefined;
  now?: number;
  windowMs?: number;
}): { keyId: string; ts: number } {
  const p = parseParams(opts.header ?? '');
  if (!p.kid || !p.ts || !p.sig || !/^\d{10,16}$/.test(p.ts)) {
    throw new LicensorError('RESPONSE_INVALID', 'The server response is not signed');
  }
  const ts = Number(p.ts);
  if (Math.abs((opts.now ?? Date.now()) - ts) > (opts.windowMs ?? SIGNATURE_WINDOW_MS)) {
    throw new LicensorError('REPLAYED', 'The server response is stale or replayed (timestamp outside the window)');
  }
  const key = opts.publicKeyFor(p.kid);
  if (!key) throw new LicensorError('RESPONSE_INVALID', `Unknown response signing key ${p.kid}`);
  if (
    !domainVerify('api-response', responseMessage(opts.status, opts.request, opts.nonce, p.ts, opts.body), p.sig, key)
  ) {
    throw new LicensorError(
      'RESPONSE_INVALID',
      `The answer to ${opts.request.method.toUpperCase()} ${opts.request.path} is not signed for this request (altered, or an answer to another request)`,
    );
  }
  return { keyId: p.kid, ts };
}
