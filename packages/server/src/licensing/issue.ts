import { randomUUID } from 'node:crypto';
import { type BoundFingerprint, type LicensePayload, type LicenseStatus, signLicense } from '@licensor/shared';
import type { Signer } from '../keys/keystore';
import type { EntitlementRow } from './entitlements';
import type { Policy } from './policy';
import { withinSigningCertificate } from './signing';

const DAY = 86_400_000;

export interface IssueOptions {
  licenseId?: string;
  fingerprint: BoundFingerprint | null;
  deviceKey?: string;
  notBefore?: Date;
  /** Overrides the entitlement's expiry (e.g. the window a getLicenseAsync request asks for). */
  expiresAt?: Date | null;
  /** Files that are never refreshed online (offline activation, marketplace-delivered) have no TTL. */
  offline?: boolean;
  defaultProductId?: string;
  /** Edition and features from the catalogue (the licenseModel port, see context.ts). */
  model?: LicenseModel;
  now: Date;
}

/** What a license is entitled to beyond its status and seats: its edition and the features that are on (`true` or a limit). */
export interface LicenseModel {
  edition: string | null;
  features: Record<string, true | number>;
}

/** The License claims for an entitlement under its policy; times as ISO strings. */
export function buildPayload(ent: EntitlementRow, policy: Policy, opts: IssueOptions): LicensePayload {
  const now = opts.now;
  const expiresAt = opts.expiresAt !== undefined ? opts.expiresAt : ent.expires_at ? new Date(ent.expires_at) : null;
  let refreshBy: Date | null = null;
  let graceUntil: Date | null = null;
  if (!opts.offline) {
    refreshBy = new Date(now.getTime() + policy.fileTtlDays * DAY);
    graceUntil = new Date(refreshBy.getTime() + policy.offlineGraceDays * DAY);
  }
  const status: LicenseStatus = ent.status === 'provisioning' ? 'active' : ent.status;
  const payload: LicensePayload = {
    v: 1,
    lid: opts.licenseId ?? randomUUID(),
    eid: ent.id,
    family: ent.family,
    product: ent.product_id ?? opts.defaultProductId ?? 'default',
    seats: ent.seats,
    fingerprint: opts.fingerprint,
    status,
    issuedAt: now.toISOString(),
    notBefore: (opts.notBefore ?? (ent.starts_at ? new Date(ent.starts_at) : now)).toISOString(),
    expiresAt: expiresAt ? expiresAt.toISOString() : null,
    refreshBy: refreshBy ? refreshBy.toISOString() : null,
    graceUntil: graceUntil ? graceUntil.toISOString() : null,
    serverTime: now.toISOString(),
  };
  if (ent.sku_code) payload.sku = ent.sku_code;
  const edition = opts.model?.edition ?? ent.edition;
  if (edition) payload.edition = edition;
  if (opts.model && Object.keys(opts.model.features).length > 0) payload.features = opts.model.features;
  if (opts.deviceKey) payload.deviceKey = opts.deviceKey;
  if (ent.test) payload.test = true;
  return payload;
}

export function issueLicenseFile(signer: Signer, ent: EntitlementRow, policy: Policy, opts: IssueOptions): string {
  return signLicense(withinSigningCertificate(buildPayload(ent, policy, opts), signer), signer);
}
