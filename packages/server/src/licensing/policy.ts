import { LicensorError, type MatchRule, matchRuleSchema } from '@licensor/shared';
import { z } from 'zod';
import type { Storage } from '../db/storage';
import { audit } from './entitlements';

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
  return { ...DEFAULT_POLICY, ...productDefaults, ...parseOverrides(overridesJson) } as Policy;
}

export const seatLimit = (policy: Policy, seats: number): number => policy.maxDevices ?? seats;

// Policies are a handful of distinct JSON texts read on every request: parse and validate each once.
const PARSED_CACHE_SIZE = 1000;
const parsedOverrides = new Map<string, PolicyOverrides>();

/** Parses stored overrides; a row that no longer validates is ignored rather than failing every request. */
function parseOverrides(json: string | null | undefined): PolicyOverrides {
  if (!json) return {};
  const cached = parsedOverrides.get(json);
  if (cached) return cached;
  let overrides: PolicyOverrides = {};
  try {
    const parsed = policyOverridesSchema.safeParse(JSON.parse(json));
    if (parsed.success) overrides = Object.freeze(parsed.data) as PolicyOverrides;
  } catch {
    // unparsable: no overrides
  }
  if (parsedOverrides.size >= PARSED_CACHE_SIZE) parsedOverrides.clear();
  parsedOverrides.set(json, overrides);
  return overrides;
}

/** The product defaults stored for a product (table product_policies); `*` holds defaults for every product. */
export async function productPolicy(db: Storage, productId: string | null | undefined): Promise<PolicyOverrides> {
  const rows = await db.all<{ product_id: string; policy: string }>(
    `SELECT product_id, policy FROM product_policies WHERE product_id IN ('*', ?)`,
    [productId ?? '*'],
  );
  const any = rows.find((r) => r.product_id === '*');
  const own = rows.find((r) => r.product_id !== '*');
  return { ...parseOverrides(any?.policy), ...parseOverrides(own?.policy) };
}

/** The overrides of the entitlement's SKU in the catalogue (catalog/), if the catalogue lists it. */
async function skuPolicy(
  db: Storage,
  productId: string | null,
  skuCode: string | null | undefined,
): Promise<PolicyOverrides> {
  if (!productId || !skuCode) return {};
  const row = await db.first<{ policy: string }>(
    'SELECT policy FROM catalog_skus WHERE product_id = ? AND sku_code = ?',
    [productId, skuCode],
  );
  return parseOverrides(row?.policy);
}

/**
 * The effective policy of an entitlement: built-in defaults ← product defaults ← its SKU's overrides (catalogue)
 * ← the entitlement's overrides.
 */
export const policyFor = async (
  db: Storage,
  ent: { product_id: string | null; sku_code?: string | null; policy: string | null },
): Promise<Policy> =>
  resolvePolicy(ent.policy, {
    ...(await productPolicy(db, ent.product_id)),
    ...(await skuPolicy(db, ent.product_id, ent.sku_code)),
  });

/**
 * Stores a product's policy defaults (replacing earlier ones; `null` deletes them). Validated with the same
 * schema as entitlement overrides, so a typo is refused with the field it concerns.
 */
export async function setProductPolicy(
  db: Storage,
  productId: string,
  overrides: PolicyOverrides | null,
  actor: string,
): Promise<void> {
  const checked = overrides === null ? null : policyOverridesSchema.safeParse(overrides);
  if (checked && !checked.success) {
    const problems = checked.error.issues.map((i) => `${i.path.join('.') || 'policy'}: ${i.message}`);
    throw new LicensorError('INVALID_INPUT', `Invalid policy for product ${productId}: ${problems.join('; ')}`, {
      problems,
    });
  }
  await db.transaction(async (tx) => {
    const before = await tx.first<{ policy: string }>('SELECT policy FROM product_policies WHERE product_id = ?', [
      productId,
    ]);
    if (checked) {
      await tx.run(
        `INSERT INTO product_policies (product_id, policy, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (product_id) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at`,
        [productId, JSON.stringify(checked.data), new Date().toISOString()],
      );
    } else {
      await tx.run('DELETE FROM product_policies WHERE product_id = ?', [productId]);
    }
    await audit(tx, {
      actor,
      action: 'policy.product_set',
      before: before ? JSON.parse(before.policy) : null,
      after: checked ? checked.data : null,
      detail: { productId },
    });
  });
}
