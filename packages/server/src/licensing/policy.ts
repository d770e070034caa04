import { type MatchRule, matchRuleSchema } from '@licensor/shared';
import { z } from 'zod';

/** How an entitlement may be used. Product defaults come first; an entitlement may override any field. */
export interface Policy {
  /** node-locked: a seat is a device for good (until freed); floating: a seat is a heartbeat lease. */
  mode: 'node-locked' | 'floating';
  /** Devices allowed at once; null = the entitlement's seat count (the marketplace quantity). */
  maxDevices: number | null;
  /** How often the client checks in when online. */
  checkInIntervalHours: number;
  /** License-file TTL: a file must be refreshed by a check-in within this many days. */
  fileTtlDays: number;
  /** Extra days the client keeps working after the TTL when it cannot reach the server. */
  offlineGraceDays: number;
  /** Floating seats: a device that has not checked in for this long loses its seat. */
  leaseMinutes: number;
  matchRule: MatchRule;
  /** Whether a device that reports itself as a VM/container may activate. */
  allowVirtualMachines: boolean;
  /** Whether a device fingerprint is needed (getLicenseAsync answers 000903 without one). */
  requireFingerprint: boolean;
  /** Self-service seat transfers (freeing another device) per window. */
  transferLimit: { count: number; periodDays: number };
  /** Activations must name a user authorised through the enterprise sync. */
  requireNamedUser: boolean;
}

export const DEFAULT_POLICY: Policy = {
  mode: 'node-locked',
  maxDevices: null,
  checkInIntervalHours: 24,
  fileTtlDays: 14,
  offlineGraceDays: 7,
  leaseMinutes: 30,
  matchRule: { type: 'allButOne' },
  allowVirtualMachines: true,
  requireFingerprint: true,
  transferLimit: { count: 3, periodDays: 30 },
  requireNamedUser: false,
};

export const policyOverridesSchema = z
  .object({
    mode: z.enum(['node-locked', 'floating']),
    maxDevices: z.number().int().min(0).max(100_000).nullable(),
    checkInIntervalHours: z
      .number()
      .min(0.05)
      .max(24 * 365),
    fileTtlDays: z.number().min(0.01).max(3650),
    offlineGraceDays: z.number().min(0).max(3650),
    leaseMinutes: z
      .number()
      .min(1)
      .max(60 * 24 * 30),
    matchRule: matchRuleSchema,
    allowVirtualMachines: z.boolean(),
    requireFingerprint: z.boolean(),
    transferLimit: z.object({ count: z.number().int().min(0).max(1000), periodDays: z.number().min(1).max(3650) }),
    requireNamedUser: z.boolean(),
  })
  .partial()
  .strict();

export type PolicyOverrides = z.infer<typeof policyOverridesSchema>;

/** Merges product defaults and an entitlement's stored overrides (JSON text from the database). */
export function resolvePolicy(overridesJson: string | null | undefined, productDefaults: PolicyOverrides = {}): Policy {
  let overrides: PolicyOverrides = {};
  if (overridesJson) {
    const parsed = policyOverridesSchema.safeParse(JSON.parse(overridesJson));
    if (parsed.success) overrides = parsed.data;
  }
  return { ...DEFAULT_POLICY, ...productDefaults, ...overrides } as Policy;
}

export const seatLimit = (policy: Policy, seats: number): number => policy.maxDevices ?? seats;
