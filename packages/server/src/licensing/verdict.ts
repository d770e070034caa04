import type { LicenseCode, LicenseStatus } from '@licensor/shared';
import type { EntitlementRow } from './entitlements';

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
