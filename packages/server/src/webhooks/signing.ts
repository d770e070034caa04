import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { LicensorError } from '@licensor/shared';

/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): `webhook-signature: v1,<base64 HMAC-SHA256>`
 * over `<webhook-id>.<webhook-timestamp>.<body>`, keyed with the base64 part of a `whsec_…` secret. Signed with
 * node:crypto; the `standardwebhooks` package verifies them in the tests, as a receiver would.
 */

export const SECRET_PREFIX = 'whsec_';

/** A new endpoint secret: 32 random bytes. */
export const newWebhookSecret = (): string => `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;

/** The key bytes of a `whsec_…` secret; refuses anything else with what to send instead. */
export function secretKey(secret: string): Buffer {
  const b64 = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : '';
  const key = Buffer.from(b64, 'base64');
  if (!b64 || key.length < 24 || key.length > 64 || key.toString('base64') !== b64) {
    throw new LicensorError(
      'INVALID_INPUT',
      'A webhook secret is whsec_ followed by 24 to 64 bytes in base64; leave it out to have one generated',
    );
  }
  return key;
}

export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): SignedHeaders {
  const mac = createHmac('sha256', secretKey(secret)).update(`${id}.${timestampSeconds}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': String(timestampSeconds), 'webhook-signature': `v1,${mac}` };
}

/** Checks a signature header (space-separated `v1,<sig>` list, as receivers get during secret rotation). */
export function verifyWebhook(secret: string, headers: SignedHeaders, body: string): boolean {
  const expected = Buffer.from(
    signWebhook(secret, headers['webhook-id'], Number(headers['webhook-timestamp']), body)['webhook-signature'],
  );
  return headers['webhook-signature'].split(' ').some((candidate) => {
    const got = Buffer.from(candidate);
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
}
