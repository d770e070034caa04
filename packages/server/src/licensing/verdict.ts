import type { LicenseCode, LicenseStatus, LockingVerdictCode, VerdictPayload } from '@licensor/shared';
import type { LicensingContext } from './context';
import type { EntitlementRow } from './entitlements';

export type { VerdictPayload };

export type Verdict = Extract<LicenseCode, 'VALID' | 'EXPIRED' | 'FROZEN' | 'REVOKED' | 'SUSPENDED' | 'RELEASED'>;

/** Whether an entitlement's end has passed (a status the marketplace has not updated yet still counts). */
export const isPastExpiry = (ent: Pick<EntitlementRow, 'expires_at'>, now: Date): boolean =>
  ent.expires_at !== null && Date.parse(ent.expires_at) <= now.getTime();

/** The state a client must be told about, from the entitlement's status and expiry. */
export function verdictOf(ent: Pick<EntitlementRow, 'status' | 'expires_at'>, now: Date): Verdict {
  switch (ent.status) {
    case 'released':
      return 'RELEASED';
    case 'revoked':
      return 'REVOKED';
    case 'suspended':
      return 'SUSPENDED';
    case 'frozen':
      return 'FROZEN';
    case 'expired':
      return 'EXPIRED';
    default:
      return isPastExpiry(ent, now) ? 'EXPIRED' : 'VALID';
  }
}

/** The status claim of a License file issued under a verdict. */
export const fileStatusOf = (verdict: Verdict): LicenseStatus =>
  (
    ({
      VALID: 'active',
      EXPIRED: 'expired',
      FROZEN: 'frozen',
      REVOKED: 'revoked',
      SUSPENDED: 'suspended',
      RELEASED: 'released',
    }) as const
  )[verdict];

/** What the person in front of the software should do next. */
export function verdictMessage(verdict: Verdict, ent: Pick<EntitlementRow, 'expires_at' | 'family'>): string {
  const store = ent.family === 'direct' ? 'the vendor' : 'KooGallery';
  switch (verdict) {
    case 'VALID':
      return 'The license is valid';
    case 'EXPIRED':
      return `This license expired${ent.expires_at ? ` on ${ent.expires_at.slice(0, 10)}` : ''}. Renew it on ${store}, then check in again.`;
    case 'FROZEN':
      return `This license is frozen by the marketplace (usually an unpaid renewal). Renew it on ${store} to unfreeze it, then check in again.`;
    case 'REVOKED':
      return 'This license was revoked by the vendor. Contact the vendor to get a new license.';
    case 'SUSPENDED':
      return 'This license is suspended by the vendor. Contact the vendor to have it reinstated.';
    case 'RELEASED':
      return `This license was released (the order has ended). Buy a new license on ${store} to continue.`;
  }
}

/**
 * The claims of the signed verdict record a device gets when its license is locked: bound to its activation,
 * entitlement and product (the product its License files name), timestamped with the server's clock.
 */
export function verdictRecordPayload(
  ctx: Pick<LicensingContext, 'config'>,
  ent: Pick<EntitlementRow, 'id' | 'product_id'>,
  activationId: string,
  code: LockingVerdictCode,
  message: string,
  now: Date,
): VerdictPayload {
  return {
    v: 1,
    lid: activationId,
    eid: ent.id,
    product: ent.product_id ?? ctx.config.productId ?? 'default',
    code,
    message: message.slice(0, 1000),
    issuedAt: now.toISOString(),
  };
}
