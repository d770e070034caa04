import type { Config } from './config';
import type { Storage } from './db/storage';
import type { KeyStore } from './keys/keystore';
import type { MessageLog } from './koogallery/messageLog';
import type { OpenApiClient } from './koogallery/openApi';
import type { LicensingPorts } from './licensing/context';
import type { Logger } from './logger';
import type { Outbox } from './outbox/outbox';

/** The app's services (storage, configuration, keys, marketplace clients, clock), built once by the app factory
 * (and by the CLI's session); every feature takes the part it needs. */
export interface AppContext extends LicensingPorts {
  db: Storage;
  config: Config;
  log: Logger;
  outbox: Outbox;
  openApi: OpenApiClient;
  keys: KeyStore;
  messages: MessageLog;
  now: () => Date;
}
