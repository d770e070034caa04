import type { Config } from '../config';
import type { Db } from '../db/database';
import type { KeyStore } from '../keys/keystore';
import type { Logger } from '../logger';
import type { EntitlementRow } from './entitlements';

/**
 * What the licensing core asks of the marketplace side, without knowing it: the app factory passes the
 * KooGallery implementations in (kit/queries.ts, koogallery/codeLearning.ts), so licensing/ imports neither.
 */
export interface LicensingPorts {
  /** Whether an enterprise's synced user directory (KooGallery's Kit interfaces) authorises `user` on the entitlement. */
  isNamedUserAuthorized(entitlementId: string, user: string): boolean;
  /** The marketplace that sells license codes this server has not seen yet (license code 2.0, `PL…`). */
  marketplaceCodes: MarketplaceCodes;
}

export interface MarketplaceCodes {
  /** False without open-API credentials: an unknown marketplace code then cannot be confirmed. */
  readonly configured: boolean;
  /** Confirms an unknown code with the marketplace and registers it (throws NOT_FOUND, MARKETPLACE_UNAVAILABLE). */
  learn(code: string): Promise<EntitlementRow>;
}

/** What the licensing core needs from the app: storage, keys, clock, configuration, and its ports. */
export interface LicensingContext extends LicensingPorts {
  db: Db;
  config: Config;
  keys: KeyStore;
  now: () => Date;
  log: Logger;
}
