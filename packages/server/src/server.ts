import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { createApp, type LicensorApp } from './app';
import type { Config } from './config';
import { type Db, openDatabase } from './db/database';
import { startScheduler } from './jobs/daily';
import { KeyStore } from './keys/keystore';
import { marketplaceStartupWarning } from './licensing/marketplace';
import { createLogger, type Logger } from './logger';

export interface RunningServer {
  url: string;
  server: http.Server | https.Server;
  licensor: LicensorApp;
  db: Db;
  keys: KeyStore;
  keysCreated: boolean;
  /** Why this server's keys are only fit for development (root key in the data folder), if they are. */
  developmentRoot: string | undefined;
  close(): Promise<void>;
}

export const databasePath = (config: Config) =>
  config.dataDir === ':memory:' ? ':memory:' : join(config.dataDir, 'licensor.db');

/** Opens storage and keys, builds the app and listens (HTTPS when LICENSOR_TLS_* are set, TLS ≥ 1.2). */
export async function startServer(config: Config, log: Logger = createLogger(config.logLevel)): Promise<RunningServer> {
  // Keys first: a store that must not be used (production rules) stops the start before anything is opened.
  const { store: keys, created: keysCreated } = KeyStore.open(join(config.dataDir, 'keys'), config.keyPassphrase, {
    rootPassphrase: config.rootPassphrase,
    production: config.production,
  });
  const developmentRoot = keys.developmentWarning();
  if (developmentRoot) log.warn(developmentRoot);
  const db = openDatabase(databasePath(config));
  const licensor = createApp({ config, db, log, keys });
  const marketplaceWarning = marketplaceStartupWarning(config.koo);
  if (marketplaceWarning) log.warn(marketplaceWarning);
  // Node checks the timeouts below only every connectionsCheckingInterval (30 s by default), which let a
  // slowloris connection live 28 s past a 10 s header limit; check every second instead.
  const checking = { connectionsCheckingInterval: 1000 };
  const server = config.tls
    ? https.createServer(
        { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key), minVersion: 'TLSv1.2', ...checking },
        licensor.app,
      )
    : http.createServer(checking, licensor.app);
  // Slow or stalled clients must not hold connections open (slowloris): bound headers and whole requests.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const url = `${config.tls ? 'https' : 'http'}://${host}:${port}`;
  licensor.start();
  if (config.scheduler) server.once('close', startScheduler(licensor.ctx));
  let closed = false;
  return {
    url,
    server,
    licensor,
    db,
    keys,
    keysCreated,
    developmentRoot,
    close: async () => {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      });
      await licensor.stop();
      db.close();
    },
  };
}
