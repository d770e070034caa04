import type { Config } from '../config';
import type { Storage } from '../db/storage';
import type { KeyStore } from '../keys/keystore';
import type { Logger } from '../logger';
import type { ActivationChange } from './activations';
import type { EntitlementChange, EntitlementRow } from './entitlements';
import type { LicenseModel } from './issue';

/**
 * What the licensing core asks of the rest of the server, without knowing it: the app factory (and the CLI's
 * session) passes the implementations in — KooGallery's (kit/queries.ts, koogallery/codeLearning.ts), the
 * catalogue's (catalog/store.ts) and the webhooks' (webhooks/entitlementEvents.ts) — so licensing/ imports none
 * of them, and they can all build on the core.
 */
export interface LicensingPorts {
  /** Whether an enterprise's synced user directory (KooGallery's Kit interfaces) authorises `user` on the entitlement. */
  isNamedUserAuthorized(db: Storage, entitlementId: string, user: string): Promise<boolean>;
  /** The marketplace that sells license codes this server has not seen yet (license code 2.0, `PL…`). */
  marketplaceCodes: MarketplaceCodes;
  /** The edition and features the entitlement's License files carry (the catalogue: license > SKU > product). */
  licenseModel(
    db: Storage,
    ent: Pick<EntitlementRow, 'product_id' | 'sku_code' | 'edition' | 'features'>,
  ): Promise<LicenseModel>;
  /**
   * Hears every change changeEntitlement writes, inside the change's transaction, through its handle `db` (so whatever it records, e.g. a
   * webhook event, exists exactly when the change does). It must not throw for anything but a storage failure.
   */
  entitlementChanged(db: Storage, change: EntitlementChange): Promise<void>;
  /** Hears every device that takes a new seat or gives one back, inside the change's transaction (like above). */
  activationChanged(db: Storage, change: ActivationChange): Promise<void>;
}

export interface MarketplaceCodes {
  /** False without open-API credentials: an unknown marketplace code then cannot be confirmed. */
  readonly configured: boolean;
  /** Confirms an unknown code with the marketplace and registers it (throws NOT_FOUND, MARKETPLACE_UNAVAILABLE). */
  learn(code: string): Promise<EntitlementRow>;
}

/** What the licensing core needs from the app: storage, keys, clock, configuration, and its ports. */
export interface LicensingContext extends LicensingPorts {
  db: Storage;
  config: Config;
  keys: KeyStore;
  now: () => Date;
  log: Logger;
}
