export { type AppDeps, createApp, type LicensorApp } from './app';
export { type Config, loadConfig, testConfig } from './config';
export { type Db, openDatabase } from './db/database';
export { KeyStore } from './keys/keystore';
export { createLogger } from './logger';
export { type RunningServer, startServer } from './server';
