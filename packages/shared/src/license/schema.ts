import { z } from 'zod';
import type { HashedComponents, MatchRule } from '../fingerprint/types';
import type { BoundFingerprint, LicensePayload } from './types';

const B64URL = /^[A-Za-z0-9_-]+$/;
const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** ISO 8601 UTC ("…Z"), as every time in a License file is. */
const isoTime = z.iso.datetime();
const hashes = z.array(z.string().min(1));

const matchRule: z.ZodType<MatchRule> = z.discriminatedUnion('type', [
  z.object({ type: z.literal('all') }),
  z.object({ type: z.literal('allButOne') }),
  z.object({ type: z.literal('atLeast'), count: z.number().int().positive() }),
  z.object({ type: z.literal('most') }),
]);

const hashedComponents: z.ZodType<HashedComponents> = z.object({
  machineId: hashes.optional(),
  hardwareUuid: hashes.optional(),
  baseboardSerial: hashes.optional(),
  cpu: hashes.optional(),
  diskSerials: hashes.optional(),
  macs: hashes.optional(),
});

const boundFingerprint: z.ZodType<BoundFingerprint> = z
  .object({ rule: matchRule, components: hashedComponents.optional(), koogallery: z.string().min(1).optional() })
  .refine((f) => (f.components === undefined) !== (f.koogallery === undefined), {
    message: 'exactly one of components / koogallery must be set',
  });

const payloadShape = {
  v: z.literal(1),
  lid: z.string().min(1),
  eid: z.string().min(1),
  family: z.enum(['A', 'B', 'C', 'direct']),
  product: z.string().min(1),
  sku: z.string().optional(),
  edition: z.string().optional(),
  entitlements: z.array(z.string()).optional(),
  /** Features of the license's edition: name → true (on) or a number (a limit such as maxProjects). */
  features: z.record(z.string(), z.union([z.literal(true), z.number()])).optional(),
  seats: z.number().int().nonnegative(),
  fingerprint: boundFingerprint.nullable(),
  deviceKey: z
    .string()
    .regex(/^[A-Za-z0-9_-]{43}$/, 'SHA-256 as base64url')
    .optional(),
  status: z.enum(['active', 'frozen', 'expired', 'suspended', 'revoked', 'released']),
  issuedAt: isoTime,
  notBefore: isoTime,
  expiresAt: isoTime.nullable(),
  refreshBy: isoTime.nullable(),
  graceUntil: isoTime.nullable(),
  serverTime: isoTime,
  test: z.boolean().optional(),
};

/** Decoding tolerates (and drops) claims added later within v1, so older clients keep working. */
export const licensePayloadSchema: z.ZodType<LicensePayload> = z.object(payloadShape);
/** Signing is strict: a claim the schema does not know would be silently lost on the client. */
export const licensePayloadSigningSchema: z.ZodType<LicensePayload> = z.strictObject(payloadShape);

export const licenseEnvelopeSchema = z.strictObject({
  v: z.literal(1),
  alg: z.literal('EdDSA'),
  kid: z.string().regex(/^[A-Za-z0-9_-]{22}$/, 'key id (16 bytes, base64url)'),
  x5c: z.array(z.string().regex(B64, 'base64 DER')).min(1).max(4),
  payload: z.string().regex(B64URL, 'base64url'),
  sig: z.string().regex(B64URL, 'base64url'),
});

export function describeIssues(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.slice(0, 5).map((i) => ({ path: i.path.join('.'), message: i.message }));
}
