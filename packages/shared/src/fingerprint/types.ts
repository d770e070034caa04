/** Hardware/OS identifiers a device can be recognised by. Raw values never leave the machine. */
export const COMPONENT_NAMES = ['machineId', 'hardwareUuid', 'baseboardSerial', 'cpu', 'diskSerials', 'macs'] as const;
export type ComponentName = (typeof COMPONENT_NAMES)[number];

/** Raw readings on the device. Missing readings are omitted, never invented. */
export interface RawComponents {
  machineId?: string;
  hardwareUuid?: string;
  baseboardSerial?: string;
  /** CPU id (e.g. x86 CPUID signature) when available, else brand string. */
  cpu?: string;
  diskSerials?: string[];
  macs?: string[];
}

/**
 * Per-product keyed hashes of the normalised components: base64url(HMAC-SHA256(key = "licensor-fp-v1:" +
 * productId, value)). Multi-valued components keep one hash per value, sorted.
 */
export type HashedComponents = Partial<Record<ComponentName, string[]>>;

/**
 * How a bound fingerprint is compared with the current one.
 * - `all`: every component present on both sides must match.
 * - `allButOne` (default): at most one component present on both sides may differ.
 * - `atLeast`: at least `count` components must match.
 * - `most`: more than half of the components present on both sides must match.
 * A multi-valued component (disks, MACs) matches when the two sets share at least one value.
 */
export type MatchRule = { type: 'all' } | { type: 'allButOne' } | { type: 'atLeast'; count: number } | { type: 'most' };

export interface MatchResult {
  match: boolean;
  /** Components present on both sides. */
  compared: ComponentName[];
  matched: ComponentName[];
  changed: ComponentName[];
}

/** KooGallery device fingerprint (spec 8.3): `MAC|disk|board|CPU`, upper case, several values joined by commas. */
export interface KooGalleryFingerprint {
  macs: string[];
  disks: string[];
  board: string;
  cpu: string;
}
