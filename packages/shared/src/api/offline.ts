import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { LicensorError } from '../errors';
import { canonicalize } from '../jcs';
import { domainSign, domainVerify } from '../keys';
import { activateRequestSchema } from './schemas';
import { importDevicePublicKey } from './signing';

/**
 * Offline activation request: what a machine without network access writes to a file for an operator.
 * It is signed with the activation's own device key — nothing secret, but any edit breaks the signature,
 * and the License issued for it is bound to that key.
 */

export const OFFLINE_REQUEST_MAX_BYTES = 32 * 1024;
const BEGIN = '-----BEGIN LICENSOR ACTIVATION REQUEST-----';
const END = '-----END LICENSOR ACTIVATION REQUEST-----';

export const offlineRequestSchema = activateRequestSchema.extend({
  v: z.literal(1),
  createdAt: z.iso.datetime(),
  nonce: z.string().regex(/^[0-9a-f]{16,64}$/),
});
export type OfflineRequest = z.infer<typeof offlineRequestSchema>;

const wrap = (s: string) => s.match(/.{1,64}/g)?.join('\n') ?? '';

export function encodeOfflineRequest(request: OfflineRequest, devicePrivateKey: KeyObject): string {
  const body = canonicalize(request);
  const sig = domainSign('offline-request', body, devicePrivateKey);
  const envelope = Buffer.from(JSON.stringify({ request: body, sig })).toString('base64');
  return `${BEGIN}\n${wrap(envelope)}\n${END}\n`;
}

export function decodeOfflineRequest(text: string | Uint8Array): OfflineRequest {
  const s = typeof text === 'string' ? text : Buffer.from(text).toString('utf8');
  if (Buffer.byteLength(s) > OFFLINE_REQUEST_MAX_BYTES) {
    throw new LicensorError('FILE_TOO_LARGE', `Offline request larger than ${OFFLINE_REQUEST_MAX_BYTES} bytes`);
  }
  const start = s.indexOf(BEGIN);
  const end = s.indexOf(END);
  if (start < 0 || end < start) throw new LicensorError('FILE_MALFORMED', 'Not a Licensor activation request file');
  const b64 = s.slice(start + BEGIN.length, end).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64))
    throw new LicensorError('FILE_MALFORMED', 'Activation request is not base64');
  let envelope: { request?: unknown; sig?: unknown };
  let request: unknown;
  try {
    envelope = JSON.parse(Buffer.from(b64, 'base64').toString('utf8'));
    request = typeof envelope.request === 'string' ? JSON.parse(envelope.request) : undefined;
  } catch {
    throw new LicensorError('FILE_MALFORMED', 'Activation request is not valid JSON');
  }
  const parsed = offlineRequestSchema.safeParse(request);
  if (!parsed.success || typeof envelope.sig !== 'string') {
    throw new LicensorError('FILE_MALFORMED', 'Activation request is incomplete or has invalid fields');
  }
  const key = importDevicePublicKey(parsed.data.devicePublicKey);
  if (
    canonicalize(request) !== envelope.request ||
    !domainVerify('offline-request', envelope.request, envelope.sig, key)
  ) {
    throw new LicensorError('FILE_SIGNATURE_INVALID', 'Activation request was modified after it was created');
  }
  return parsed.data;
}
