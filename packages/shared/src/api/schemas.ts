import { z } from 'zod';
import { COMPONENT_NAMES } from '../fingerprint/types';

/**
 * The activation API (`/api/v1`) contract, shared by the server (validation at the edge) and the client
 * (request building, response validation). Every field is bounded so oversized input fails validation.
 */

/** The root-signed list of revoked signing keys (signed and verified in keys/revocations.ts). */
export const revocationListSchema = z
  .object({
    v: z.literal(1),
    /** Grows with every list the root signs: a client never goes back to a lower serial. */
    serial: z.number().int().min(1),
    issuedAt: z.string(),
    /** Key ids (as in License files' `kid`) that must never be trusted again. */
    revoked: z.array(z.string().min(1).max(64)).max(10_000),
  })
  .strict();
export type RevocationList = z.infer<typeof revocationListSchema>;

export const signedRevocationListSchema = z
  .object({
    /** base64url of the list's JSON: the exact signed text. */
    list: z.string().min(1).max(1_000_000),
    /** Ed25519 by the root, domain `key-revocations`. */
    sig: z.string(),
  })
  .strict();
export type SignedRevocationList = z.infer<typeof signedRevocationListSchema>;

const hash = z.string().regex(/^[A-Za-z0-9_-]{16,128}$/, 'expected a base64url hash');
export const hashedComponentsSchema = z
  .partialRecord(z.enum(COMPONENT_NAMES), z.array(hash).min(1).max(32))
  .refine((c) => Object.keys(c).length > 0, 'at least one fingerprint component is required');

export const deviceInfoSchema = z
  .object({
    hostname: z.string().max(255).optional(),
    platform: z.string().max(64).optional(),
    arch: z.string().max(32).optional(),
    osVersion: z.string().max(128).optional(),
    appVersion: z.string().max(64).optional(),
    /** Shown to the license holder when seats are full ("Alice's laptop"). */
    label: z.string().max(128).optional(),
    virtual: z.boolean().optional(),
  })
  .strict();

export const fingerprintSubmissionSchema = z
  .object({
    components: hashedComponentsSchema,
    /** KooGallery form `MAC|disk|board|CPU` — raw; sent only when the product binds to it. */
    koogallery: z.string().max(5120).optional(),
  })
  .strict();

/** base64url SPKI DER of the device's Ed25519 public key (44 bytes → 59 chars). */
export const devicePublicKeySchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{40,200}$/, 'expected a base64url SPKI public key');

export const activateRequestSchema = z
  .object({
    code: z.string().trim().min(1).max(64),
    productId: z.string().min(1).max(64).optional(),
    fingerprint: fingerprintSubmissionSchema,
    device: deviceInfoSchema.default({}),
    devicePublicKey: devicePublicKeySchema,
    /** Named-user licensing: the enterprise user this seat is for. */
    user: z.string().min(1).max(256).optional(),
  })
  .strict();
export type ActivateRequest = z.input<typeof activateRequestSchema>;

export const deviceSummarySchema = z.object({
  id: z.string(),
  label: z.string().nullable(),
  hostname: z.string().nullable(),
  platform: z.string().nullable(),
  lastSeenAt: z.string(),
  firstSeenAt: z.string(),
  current: z.boolean().optional(),
});
export type DeviceSummary = z.infer<typeof deviceSummarySchema>;

export const entitlementSummarySchema = z.object({
  id: z.string(),
  family: z.enum(['A', 'B', 'C', 'direct']),
  productId: z.string().nullable(),
  sku: z.string().nullable(),
  edition: z.string().nullable(),
  seats: z.number().int(),
  status: z.string(),
  expiresAt: z.string().nullable(),
});

export const activateResponseSchema = z.object({
  activationId: z.string(),
  license: z.string(),
  status: z.literal('VALID'),
  entitlement: entitlementSummarySchema,
  /** The client checks in this often while online. */
  checkInIntervalSeconds: z.number(),
  serverTime: z.string(),
  /** True when this device was already bound (re-activation is a no-op that returns a fresh file). */
  reactivated: z.boolean(),
});
export type ActivateResponse = z.infer<typeof activateResponseSchema>;

export const checkInRequestSchema = z
  .object({
    appVersion: z.string().max(64).optional(),
    fingerprint: fingerprintSubmissionSchema.optional(),
  })
  .strict();
export type CheckInRequest = z.infer<typeof checkInRequestSchema>;

export const checkInResponseSchema = z.object({
  /** VALID, or the verdict that locks the license (FROZEN, EXPIRED, REVOKED, SUSPENDED, RELEASED, NOT_FOUND…). */
  status: z.string(),
  message: z.string(),
  /** A fresh License file; absent when the license is revoked or the seat is gone. */
  license: z.string().optional(),
  /**
   * With every locking status: the signed verdict record (see `signVerdict`). The client keeps it and refuses,
   * offline, every License file of this activation issued at or before it.
   */
  verdict: z
    .string()
    .max(16 * 1024)
    .optional(),
  entitlement: entitlementSummarySchema.optional(),
  checkInIntervalSeconds: z.number(),
  serverTime: z.string(),
  /** The root-signed list of revoked signing keys, when the root has revoked any. */
  revokedKeys: signedRevocationListSchema.optional(),
});
export type CheckInResponse = z.infer<typeof checkInResponseSchema>;

export const codeRequestSchema = z.object({ code: z.string().trim().min(1).max(64) }).strict();

export const devicesResponseSchema = z.object({
  seats: z.number().int(),
  devices: z.array(deviceSummarySchema),
  transfers: z.object({ used: z.number().int(), limit: z.number().int(), periodDays: z.number() }),
});
export type DevicesResponse = z.infer<typeof devicesResponseSchema>;

export const apiErrorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), detail: z.record(z.string(), z.unknown()).optional() }),
});
export type ApiError = z.infer<typeof apiErrorSchema>;

/** `GET /api/v1/keys`: the signing certificates a client needs to verify signed responses. */
export const keysResponseSchema = z.object({
  current: z.string(),
  signing: z.array(z.object({ keyId: z.string(), certificatePem: z.string() })),
  /** The root-signed list of revoked signing keys, when the root has revoked any. */
  revoked: signedRevocationListSchema.optional(),
});
export type KeysResponse = z.infer<typeof keysResponseSchema>;
