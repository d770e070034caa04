export { type AppDeps, createApp, type LicensorApp } from './app';
export { type Config, loadConfig, testConfig } from './config';
export { type Db, openDatabase } from './db/database';
export { DEVELOPMENT_ROOT_PASSPHRASE, KeyStore } from './keys/keystore';
export { formatCompactTime, formatCompactTimeMs } from './koogallery/time';
export type { EntitlementRow } from './licensing/entitlements';
export { createLogger } from './logger';
export { type RunningServer, startServer } from './server';
