import type { IncomingHttpHeaders } from 'node:http';
import {
  type AnsweredRequest,
  DEVICE_SIGNATURE_HEADER,
  deviceSignatureActivation,
  type LicensePayload,
  signLicenseAsync,
  signResponseAsync,
} from '@licensor/shared';
import type { Signer } from '../keys/keystore';

/**
 * The claims clipped so that an online file (refreshBy, graceUntil) ends while the signing certificate is valid:
 * clients refuse one that would outlive it. A key near its end thus issues shorter files; rotate before that.
 */
export function withinSigningCertificate(payload: LicensePayload, signer: Pick<Signer, 'notAfter'>): LicensePayload {
  const end = signer.notAfter;
  const clip = (iso: string | null) => (iso !== null && Date.parse(iso) > end ? new Date(end).toISOString() : iso);
  const graceUntil = clip(payload.graceUntil);
  const refreshBy = clip(payload.refreshBy);
  if (graceUntil === payload.graceUntil && refreshBy === payload.refreshBy) return payload;
  return { ...payload, refreshBy, graceUntil };
}

/** Signs a License file (off the event loop) after clipping it to the signing certificate: every API path uses this. */
export function signLicenseFileAsync(payload: LicensePayload, signer: Signer): Promise<string> {
  return signLicenseAsync(withinSigningCertificate(payload, signer), signer);
}

/** An activation-API answer: its body, and the claims of the License file it carries, if any. */
export interface Answer {
  status: number;
  nonce: string;
  /** The request this answers: its method, path and activation id are signed with the answer. */
  request: AnsweredRequest;
  body: Record<string, unknown>;
  license?: { field: string; payload: LicensePayload };
}

/**
 * What an answer is bound to, read from the request as received: method, path without the query string (Express's
 * `originalUrl` when mounted under a router, which rewrites `url`) and the activation its device signature names.
 */
export function answeredRequest(req: {
  method?: string;
  url?: string;
  originalUrl?: string;
  headers: IncomingHttpHeaders;
}): AnsweredRequest {
  const url = req.originalUrl ?? req.url ?? '';
  const q = url.indexOf('?');
  return {
    method: req.method ?? 'GET',
    path: q < 0 ? url : url.slice(0, q),
    activationId: deviceSignatureActivation(req.headers[DEVICE_SIGNATURE_HEADER] as string | undefined),
  };
}

/**
 * Serialises an answer — after putting the License file signed from `license.payload` into
 * `body[license.field]` — and signs it for the request (method, path, activation id and nonce). Both Ed25519
 * signatures (≈ 40 µs each here) run on libuv's thread pool, so the event loop, the one thread every request
 * needs, only prepares bytes. (A dedicated signing thread that batched each event-loop turn's jobs measured no
 * faster on 2 cores.)
 */
export async function signAnswer(signer: Signer, { status, nonce, request, body, license }: Answer) {
  if (license) body[license.field] = await signLicenseFileAsync(license.payload, signer);
  const text = JSON.stringify(body);
  const { keyId, privateKey } = signer;
  return { text, header: await signResponseAsync({ status, request, nonce, body: text, keyId, privateKey }) };
}
