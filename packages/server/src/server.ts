import { existsSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { LicensorError } from '@licensor/shared';
import { createApp, type LicensorApp } from './app';
import type { Config } from './config';
import { openDatabaseFromUrl } from './db/open';
import type { Database } from './db/storage';
import { postgresReadiness } from './http/readiness';
import { startScheduler } from './jobs/daily';
import { DatabaseKeySource } from './keys/databaseKeys';
import { DEVELOPMENT_KEY_PASSPHRASE, KeyStore } from './keys/keystore';
import { marketplaceStartupWarning } from './koogallery/codeLearning';
import { createLogger, type Logger } from './logger';

export interface RunningServer {
  url: string;
  server: http.Server | https.Server;
  licensor: LicensorApp;
  db: Database;
  keys: KeyStore;
  keysCreated: boolean;
  /** The separate /metrics listener's URL when LICENSOR_METRICS_LISTEN is set. */
  metricsUrl: string | undefined;
  /** Why this server's keys are only fit for development (root key in the data folder), if they are. */
  developmentRoot: string | undefined;
  close(): Promise<void>;
}

/**
 * TLS 1.2 suites with forward secrecy (ECDHE) and authenticated encryption (GCM, ChaCha20-Poly1305) only;
 * TLS 1.3's suites all have both. KooGallery requires TLS ≥ 1.2 (spec §2.1); every client that speaks 1.2
 * offers at least one of these.
 */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

async function listen(server: http.Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return typeof address === 'object' && address ? address.port : port;
}

const urlHost = (host: string) =>
  host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;

/** An existing data folder others can read is kept as the operator made it, but said out loud. */
function warnIfDataDirOpen(config: Config, log: Logger): void {
  if (config.dataDir === ':memory:' || !existsSync(config.dataDir)) return;
  const mode = statSync(config.dataDir).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    log.warn(
      { dataDir: config.dataDir, mode: mode.toString(8) },
      `the data folder is readable by other users; run: chmod 700 ${config.dataDir}`,
    );
  }
}

/** Where /metrics can be read, for the start-up banner. */
export function metricsWhere(config: Config, running: Pick<RunningServer, 'url' | 'metricsUrl'>): string {
  if (running.metricsUrl) return running.metricsUrl;
  if (config.metrics.token) return `${running.url}/metrics (Authorization: Bearer <LICENSOR_METRICS_TOKEN>)`;
  return '/metrics off (set LICENSOR_METRICS_TOKEN or LICENSOR_METRICS_LISTEN)';
}

/** Opens storage and keys, builds the app and listens (HTTPS when LICENSOR_TLS_* are set, TLS ≥ 1.2). */
export async function startServer(config: Config, log: Logger = createLogger(config.logLevel)): Promise<RunningServer> {
  warnIfDataDirOpen(config, log);
  // Keys first: a store that must not be used (production rules) stops the start before anything is opened.
  const { store: keys, created: keysCreated } = KeyStore.open(join(config.dataDir, 'keys'), config.keyPassphrase, {
    rootPassphrase: config.rootPassphrase,
    production: config.production,
  });
  const developmentRoot = keys.developmentWarning();
  if (developmentRoot) log.warn(developmentRoot);
  // SQLite (the default) or PostgreSQL, as LICENSOR_DATABASE_URL says; either is migrated before serving.
  const db = await openDatabaseFromUrl(config.database, { dataDir: config.dataDir });
  // What this start has opened, closed newest first if a later step fails: a failed start must not leave the
  // pool, the key source's LISTEN connection or a listening socket behind (`licensor start` would then print
  // its error and never exit).
  const opened: (() => Promise<void>)[] = [() => db.close()];
  try {
    // On PostgreSQL the signing keys live in the database (instances on several hosts share no disk): imported
    // from the key files on first start, rotated by `licensor keys rotate`, reloaded on every instance when
    // announced.
    // The current signing key must open now (on PostgreSQL the key source opens it as it loads): with a passphrase it
    // was not created under, the server would listen and /healthz say ok while every signed answer fails.
    let keySource: DatabaseKeySource | undefined;
    try {
      if (db.dialect === 'postgres') {
        const source = await DatabaseKeySource.open(db.pg, keys, {
          passphrase: config.keyPassphrase ?? DEVELOPMENT_KEY_PASSPHRASE,
          log,
        });
        keySource = source;
        opened.push(() => source.close());
        keys.useSource(source);
      }
      keys.current();
    } catch (err) {
      throw signingKeyRefusal(err, config);
    }
    const readiness = db.dialect === 'postgres' ? postgresReadiness(db.pg) : undefined;
    const licensor = await createApp({ config, db, log, keys, readiness });
    opened.push(() => licensor.stop());
    const marketplaceWarning = marketplaceStartupWarning(config.koo);
    if (marketplaceWarning) log.warn(marketplaceWarning);
    // Node checks the timeouts below only every connectionsCheckingInterval (30 s by default), which let a
    // slowloris connection live 28 s past a 10 s header limit; check every second instead.
    const checking = { connectionsCheckingInterval: 1000 };
    const server = config.tls
      ? https.createServer(
          {
            cert: readFileSync(config.tls.cert),
            key: readFileSync(config.tls.key),
            minVersion: 'TLSv1.2',
            ciphers: TLS12_CIPHERS,
            honorCipherOrder: true,
            ...checking,
          },
          licensor.app,
        )
      : http.createServer(checking, licensor.app);
    // Slow or stalled clients must not hold connections open (slowloris): bound headers and whole requests.
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    server.keepAliveTimeout = 5_000;
    const port = await listen(server, config.port, config.host);
    opened.push(() => closeServer(server));
    const url = `${config.tls ? 'https' : 'http'}://${urlHost(config.host)}:${port}`;
    // /metrics on its own address (LICENSOR_METRICS_LISTEN), for a monitoring network only: no token there.
    let metricsServer: http.Server | undefined;
    let metricsUrl: string | undefined;
    if (config.metrics.listen) {
      const ms = http.createServer(checking, licensor.metricsApp);
      ms.headersTimeout = 10_000;
      ms.requestTimeout = 30_000;
      const { host: mHost, port: mPort } = config.metrics.listen;
      metricsUrl = `http://${urlHost(mHost)}:${await listen(ms, mPort, mHost)}/metrics`;
      metricsServer = ms;
      opened.push(() => closeServer(ms));
    }
    await licensor.start();
    if (config.scheduler) server.once('close', await startScheduler(licensor.ctx));
    let closed = false;
    return {
      url,
      server,
      licensor,
      db,
      keys,
      keysCreated,
      metricsUrl,
      developmentRoot,
      close: async () => {
        if (closed) return;
        closed = true;
        await Promise.all([server, metricsServer].map((s) => s && closeServer(s)));
        await licensor.stop();
        await keySource?.close();
        await db.close();
      },
    };
  } catch (err) {
    for (const close of opened.reverse()) {
      await close().catch((closeErr: unknown) => log.warn({ err: closeErr }, 'closing after a failed start failed'));
    }
    throw err;
  }
}

/** Stops accepting connections, ends the open ones and resolves once the server is closed. */
function closeServer(s: http.Server | https.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    s.close(() => resolve());
    s.closeAllConnections?.();
  });
}

/** A signing key that does not open with the configured passphrase, said as what to set or do; other errors as they are. */
function signingKeyRefusal(err: unknown, config: Config): unknown {
  if (!(err instanceof LicensorError && err.code === 'KEY_DECRYPT_FAILED')) return err;
  return new LicensorError(
    'CONFIG_INVALID',
    `The current signing key does not open with ${config.keyPassphrase ? 'LICENSOR_KEY_PASSPHRASE' : 'the development passphrase (LICENSOR_KEY_PASSPHRASE is not set)'}: set LICENSOR_KEY_PASSPHRASE to the passphrase the signing keys were created under, or issue a signing key under it with \`licensor keys rotate --root-key <offline folder>/root.key.pem\` (a development start's keys are under the development passphrase)${config.database.kind === 'postgres' ? '; on PostgreSQL the instances share the signing keys: first check that LICENSOR_KEY_PASSPHRASE is the one the other instances use, since a rotation here would stop them signing' : ''}`,
    undefined,
    { cause: err },
  );
}
