import type { LicensePayload } from '@licensor/shared';
import { DEFAULT_POLICY } from '../src/licensing/policy';

/**
 * The claims of the floor's License file, as the server issues them (90-day entitlement, default policy): signed by
 * the floor endpoint (floor.ts) and by the in-process floor of activation-ab.ts.
 */
export function floorLicensePayload(
  lid: string,
  components: Record<string, string[]>,
  deviceKey: string,
): LicensePayload {
  const now = new Date();
  const at = (days: number) => new Date(now.getTime() + days * 86_400_000).toISOString();
  return {
    v: 1,
    lid,
    eid: 'floor-entitlement',
    family: 'A',
    product: 'bench-product',
    seats: 3,
    fingerprint: { rule: DEFAULT_POLICY.matchRule, components },
    deviceKey,
    status: 'active',
    issuedAt: now.toISOString(),
    notBefore: now.toISOString(),
    expiresAt: at(90),
    refreshBy: at(7),
    graceUntil: at(14),
    serverTime: now.toISOString(),
  };
}
