export { type AppDeps, createApp, type LicensorApp } from './app';
export { type Config, loadConfig, testConfig } from './config';
export { type DatabaseTarget, parseDatabaseUrl, redactDatabaseUrl } from './db/backend';
export { type Db, openDatabase } from './db/database';
export { openPostgres, type PgDb } from './db/postgres/facade';
export { migratePostgres } from './db/postgres/migrate';
export {
  formatRejections,
  prepareOnPostgres,
  provenance,
  readRecorded,
} from './db/postgres/portability';
export { SQL_RECORD_DIR_ENV } from './db/sqlRecorder';
export { DEVELOPMENT_ROOT_PASSPHRASE, KeyStore } from './keys/keystore';
export { formatCompactTime, formatCompactTimeMs } from './koogallery/time';
export type { EntitlementRow } from './licensing/entitlements';
export { createLogger } from './logger';
export { type RunningServer, startServer } from './server';
