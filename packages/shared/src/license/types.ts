import type { HashedComponents, MatchRule } from '../fingerprint/types';

export type LicenseFamily = 'A' | 'B' | 'C' | 'direct';
export type LicenseStatus = 'active' | 'frozen' | 'expired' | 'suspended' | 'revoked' | 'released';

/** The device a License file is bound to. Exactly one of `components` / `koogallery` is set. */
export interface BoundFingerprint {
  rule: MatchRule;
  /** Keyed component hashes sent by `@licensor/client` at activation. */
  components?: HashedComponents;
  /** Raw KooGallery fingerprint string `MAC|disk|board|CPU` from `getLicenseAsync` (family C). */
  koogallery?: string;
}

/** Claims inside a License file. Times are ISO 8601 UTC strings. */
export interface LicensePayload {
  /** Format version of the payload. */
  v: 1;
  /** License id: the activation (device binding) id, or the marketplace event id for family C files. */
  lid: string;
  /** Entitlement id (instanceId / code) this License belongs to. */
  eid: string;
  family: LicenseFamily;
  product: string;
  sku?: string;
  edition?: string;
  entitlements?: string[];
  /** Features of the license's edition (catalogue SKU, product defaults, license overrides): on, or a number. */
  features?: Record<string, true | number>;
  seats: number;
  fingerprint: BoundFingerprint | null;
  /** SHA-256 (base64url) of the device's Ed25519 public key (SPKI DER), when the activation has one. */
  deviceKey?: string;
  status: LicenseStatus;
  issuedAt: string;
  notBefore: string;
  /** Entitlement end; null = perpetual. */
  expiresAt: string | null;
  /** File TTL: the client must check in before this time. null = never (offline files). */
  refreshBy: string | null;
  /** Last moment the file keeps working without a check-in. */
  graceUntil: string | null;
  /** Issuing server's clock when the file was signed (feeds the client's trusted-time high-water mark). */
  serverTime: string;
  /** Whether the entitlement is marketplace debug traffic (testFlag). */
  test?: boolean;
}
