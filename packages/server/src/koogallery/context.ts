import type { Config } from '../config';
import type { Db } from '../db/database';
import type { KeyStore } from '../keys/keystore';
import type { Logger } from '../logger';
import type { Outbox } from '../outbox/outbox';
import type { MessageLog } from './messageLog';
import type { OpenApiClient } from './openApi';

/** What the marketplace handlers need; built once by the app factory. */
export interface KooContext {
  db: Db;
  config: Config;
  log: Logger;
  outbox: Outbox;
  openApi: OpenApiClient;
  keys: KeyStore;
  messages: MessageLog;
  now: () => Date;
}
