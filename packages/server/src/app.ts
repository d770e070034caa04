import express, { type Express } from 'express';
import helmet, { type HelmetOptions } from 'helmet';
import { adminAuth, adminAuthLimiter } from './admin/auth';
import { codesRouter } from './admin/codes';
import { adminRouter } from './admin/router';
import { catalogRouter } from './catalog/router';
import { licenseModel } from './catalog/store';
import type { Config } from './config';
import { readinessRouter, recordMarketplaceConfig } from './console/readiness';
import { CONSOLE_PATH, consoleRouter } from './console/serve';
import type { AppContext } from './context';
import { limiterStoreFor } from './db/postgres/rateLimitStore';
import type { Storage } from './db/storage';
import { cors } from './http/cors';
import { errorHandler } from './http/errors';
import { markNulEscape, refuseNul } from './http/nul';
import { type ReadinessCheck, readyzHandler, sqliteReadiness } from './http/readiness';
import { registerDailyJobs } from './jobs/daily';
import type { KeyStore } from './keys/keystore';
import { isKitUserAuthorized, kitAdminRouter, kitRouter } from './kit';
import { kooGalleryCodes } from './koogallery/codeLearning';
import { MessageLog } from './koogallery/messageLog';
import { registerFamilyCJobs } from './koogallery/onlineLicense';
import { OpenApiClient } from './koogallery/openApi';
import { PRODUCE_PATH, produceRouter } from './koogallery/produce';
import { marketplaceRateLimit } from './koogallery/rateLimit';
import { API_PREFIX, activationRouter } from './licensing/routes';
import type { Logger } from './logger';
import { createMetrics, type Metrics, metricsAccess } from './metrics';
import { consoleAuthRouter, operatorsAdminRouter, sessionPrincipal } from './operators/routes';
import { Outbox, type OutboxOptions } from './outbox/outbox';
import { type DeliveryOptions, registerWebhookDelivery } from './webhooks/deliver';
import { emitActivationChange, emitEntitlementChange } from './webhooks/entitlementEvents';
import { webhooksRouter } from './webhooks/router';
import { emitOutboxGaveUp, emitRefusedCall } from './webhooks/systemEvents';

export interface AppDeps {
  config: Config;
  db: Storage;
  log: Logger;
  keys: KeyStore;
  now?: () => Date;
  fetch?: typeof fetch;
  outbox?: OutboxOptions;
  /** Webhook delivery options (tests resolve host names themselves). */
  webhooks?: DeliveryOptions;
  /** What /readyz asks (default: the SQLite database's schema status). */
  readiness?: ReadinessCheck;
}

export interface LicensorApp {
  /** The whole server, one Express app (what `http.createServer` and supertest take). */
  app: Express;
  /** Serves only /metrics, without a token: for the separate LICENSOR_METRICS_LISTEN address. */
  metricsApp: Express;
  ctx: AppContext;
  metrics: Metrics;
  /** Starts background work (outbox worker). Tests drive the app without it. */
  start(): Promise<void>;
  /** Stops background work and flushes buffered logs; the database stays open. */
  stop(): Promise<void>;
}

const HELMET_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
};

/** Builds the HTTP application and its services; `listen` is the caller's business (see main.ts). */
export async function createApp(deps: AppDeps): Promise<LicensorApp> {
  const { config, db, log, keys } = deps;
  const now = deps.now ?? (() => new Date());
  const metrics = createMetrics();
  let refusedWindow: number | undefined;
  const messages = new MessageLog(db, {
    onRefused: async (m) => {
      metrics.refusedRequests.inc({ path: m.path ?? 'unknown' });
      try {
        refusedWindow = await emitRefusedCall({ db, now }, m, refusedWindow);
      } catch (err) {
        // The refusal is answered and logged regardless; only its webhook event is lost.
        log.error({ err }, 'could not record the marketplace.call_failed event of a refused call');
      }
    },
  });
  const openApi = new OpenApiClient(config.koo, messages, deps.fetch);
  const outbox = new Outbox(db, log, {
    leaseMs: config.outboxLeaseMs,
    now: () => now().getTime(),
    onGaveUp: (tx, item, error) => emitOutboxGaveUp({ db: tx, now }, item, error),
    ...deps.outbox,
  });
  const entitlementChanged: AppContext['entitlementChanged'] = (db, change) => emitEntitlementChange(db, change);
  const ctx: AppContext = {
    db,
    config,
    log,
    outbox,
    openApi,
    keys,
    messages,
    now,
    // The licensing core's ports, filled by the marketplace side (licensing/ imports neither kit/ nor koogallery/).
    isNamedUserAuthorized: (db, entitlementId, user) => isKitUserAuthorized(db, entitlementId, user),
    marketplaceCodes: kooGalleryCodes({ db, now, openApi, log, entitlementChanged }),
    // …and by the catalogue (edition and features of License files) and the webhooks (license events).
    licenseModel: (db, ent) => licenseModel(db, ent),
    entitlementChanged,
    activationChanged: (db, change) => emitActivationChange(db, change),
  };
  registerFamilyCJobs(ctx);
  // Handlers exist even with the scheduler off, so daily items queued earlier still run.
  registerDailyJobs(ctx);
  registerWebhookDelivery(ctx, deps.webhooks);
  try {
    await recordMarketplaceConfig(ctx);
  } catch (err) {
    // A database behind this build (readiness answers MIGRATIONS_PENDING) or one that cannot be written must
    // not stop the app from being built: /readyz says what is wrong; only the bound-key warnings miss this start.
    log.warn({ err }, 'could not record the marketplace configuration; run `licensor db migrate` if /readyz says so');
  }

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', parseTrustProxy(config.trustProxy));
  app.use(helmet(HELMET_OPTIONS));
  app.use(cors(config.corsOrigins));
  app.use(metrics.middleware);

  app.get('/healthz', async (_req, res) => {
    try {
      await db.first('SELECT 1');
      res.json({ status: 'ok', outbox: await outbox.depth() });
    } catch (err) {
      log.error({ err }, 'health check failed');
      res
        .status(503)
        .json({ status: 'error', error: { code: 'STORAGE_UNAVAILABLE', message: 'Database unavailable' } });
    }
  });
  app.get('/readyz', readyzHandler(deps.readiness ?? sqliteReadiness(db), log));
  const serveMetrics: express.RequestHandler = async (_req, res) => {
    const depth = await outbox.depth();
    for (const [status, n] of Object.entries(depth)) metrics.outboxDepth.set({ status }, n);
    res.setHeader('Content-Type', metrics.registry.contentType);
    res.end(await metrics.registry.metrics());
  };
  // Wrong admin or metrics tokens share one per-address failure budget.
  // Limits count in PostgreSQL when the instances share one (every instance sees one count), else in memory.
  const limiterStores = limiterStoreFor(db);
  const authFailureLimit = adminAuthLimiter(
    config.adminAuthFailures,
    () => metrics.rateLimited.inc({ door: 'admin' }),
    limiterStores,
  );
  app.get('/metrics', authFailureLimit, metricsAccess(config.metrics.token), serveMetrics);

  // The activation API for desktop clients: signed JSON answers and its own error shape (licensing/routes.ts).
  const stops: (() => void)[] = [];
  app.use(
    API_PREFIX,
    activationRouter(ctx, metrics, (stop) => stops.push(stop)),
  );

  // The marketplace's production interface: raw bodies, signed answers, its own error handling.
  // (mounted before any body parser so it reads the exact bytes it must verify)
  const produceLimit = marketplaceRateLimit(
    config,
    () => metrics.rateLimited.inc({ door: 'marketplace' }),
    limiterStores,
  );
  if (produceLimit) app.use(PRODUCE_PATH, produceLimit);
  // The production interface first: its requests (the marketplace's bulk) then end there instead of first being
  // matched against the Kit router's thirty layers; its routes match only their own path exactly, so the Kit
  // paths below it pass through unchanged.
  app.use(produceRouter(ctx));
  app.use(kitRouter(ctx));

  const admin = express.Router();
  // Authentication first: an unauthenticated request's body is never read.
  admin.use(authFailureLimit, adminAuth(db, config.adminToken, now, sessionPrincipal(db, config.consoleSessions, now)));
  // A U+0000 in the URL or the body is refused here, before any handler (http/nul.ts).
  admin.use(express.json({ limit: '256kb', verify: markNulEscape }), refuseNul);
  admin.use(codesRouter(ctx));
  admin.use(adminRouter(ctx));
  admin.use(kitAdminRouter(ctx));
  admin.use(operatorsAdminRouter(db));
  admin.use(readinessRouter(ctx));
  admin.use(catalogRouter(ctx));
  admin.use(webhooksRouter(ctx));
  app.use('/api/admin/v1', admin);

  // The merchant console: its session door and the built page (packages/console).
  app.use(
    '/api/console/v1',
    consoleAuthRouter({
      db,
      timeouts: config.consoleSessions,
      bootstrapToken: config.adminToken,
      now,
      failureLimit: authFailureLimit,
    }),
  );
  app.use(CONSOLE_PATH, consoleRouter());

  app.use((_req, res) => {
    res.status(404).json({ error: { code: 'NOT_FOUND', message: 'No such endpoint' } });
  });
  app.use(errorHandler(log));

  const metricsApp = express();
  metricsApp.disable('x-powered-by');
  metricsApp.get('/metrics', serveMetrics);
  metricsApp.use((_req, res) => {
    res.status(404).json({ error: { code: 'NOT_FOUND', message: 'This address serves only /metrics' } });
  });

  return {
    app,
    metricsApp,
    ctx,
    metrics,
    start: () => outbox.start(),
    stop: async () => {
      for (const stop of stops) stop();
      await outbox.stop();
      await messages.flush();
    },
  };
}

/** Never trust X-Forwarded-For unless the operator names the proxies (LICENSOR_TRUST_PROXY). */
function parseTrustProxy(value: string | undefined): boolean | number | string {
  if (!value) return false;
  if (/^\d+$/.test(value)) return Number(value);
  if (value === 'true') return true;
  return value;
}
