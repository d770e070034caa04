import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LicensorError } from '@licensor/shared';
import { z } from 'zod';
import { type DatabaseTarget, parseDatabaseUrl } from './db/backend';

/**
 * Configuration comes from the environment (and optionally a JSON file named by LICENSOR_CONFIG whose keys
 * are the same variable names). It is validated once at start-up; a bad value stops the server with a
 * message naming the variable.
 */
const optionalSecret = z.string().min(1).optional();

const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  LICENSOR_DATA_DIR: z.string().min(1).default('.data'),
  /** Storage engine: unset or sqlite:[file] → SQLite (default), postgres://… → PostgreSQL (db commands only, for now). */
  LICENSOR_DATABASE_URL: z.string().optional(),
  LICENSOR_PUBLIC_URL: z.string().url().optional(),
  LICENSOR_KOO_KEY: optionalSecret,
  LICENSOR_KOO_ACCESS_KEY: optionalSecret,
  LICENSOR_KOO_ACCESS_KEY_BASIC: optionalSecret,
  LICENSOR_KOO_ACCESS_KEY_LICENSE_CODE: optionalSecret,
  LICENSOR_KOO_ACCESS_KEY_GENERIC: optionalSecret,
  LICENSOR_KOO_ACCESS_KEY_KIT: optionalSecret,
  LICENSOR_KOO_API_BASE: z.string().url().default('https://mkt.myhuaweicloud.com'),
  LICENSOR_KOO_API_FALLBACK: z.string().url().optional(),
  LICENSOR_KOO_AK: optionalSecret,
  LICENSOR_KOO_SK: optionalSecret,
  LICENSOR_KOO_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(4000),
  /**
   * How long an outbox item stays claimed by the instance that took it; after that another instance (or this one)
   * runs it again. Must outlast one attempt, checked against LICENSOR_KOO_TIMEOUT_MS below.
   */
  LICENSOR_OUTBOX_LEASE_SECONDS: z.coerce
    .number()
    .int()
    .min(5, 'must be at least 5 (one marketplace attempt must fit in a lease)')
    .max(3600, 'must be at most 3600 (a crashed instance holds its items this long)')
    .default(60),
  /** Family A: a signed GET whose timeStamp is older than this is refused; longer than the 3 h retry horizon. */
  LICENSOR_KOO_TIMESTAMP_WINDOW_HOURS: z.coerce
    .number()
    .min(4, 'must be at least 4 (the marketplace retries family A for 3 hours)')
    .max(720, 'must be at most 720 (30 days)')
    .default(24),
  LICENSOR_ADMIN_TOKEN: z.string().min(8, 'must be at least 8 characters').optional(),
  LICENSOR_KEY_PASSPHRASE: z.string().min(8, 'must be at least 8 characters').optional(),
  /** The root private key's own passphrase (rotation, `keys init --offline-root`); never the signing keys'. */
  LICENSOR_ROOT_PASSPHRASE: z.string().min(12, 'must be at least 12 characters').optional(),
  /**
   * Production mode (also NODE_ENV=production unless switched off here): no development root, no root key in the
   * data folder, long secrets.
   */
  LICENSOR_PRODUCTION: z.enum(['on', 'off', '1', '0', 'true', 'false']).optional(),
  NODE_ENV: z.string().optional(),
  LICENSOR_PRODUCT_ID: z.string().min(1).max(64).optional(),
  LICENSOR_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LICENSOR_TRUST_PROXY: z.string().optional(),
  LICENSOR_TLS_CERT: z.string().optional(),
  LICENSOR_TLS_KEY: z.string().optional(),
  LICENSOR_CORS_ORIGINS: z.string().optional(),
  LICENSOR_SCHEDULER: z.enum(['on', 'off']).default('on'),
  /** Requests per minute per client IP on /api/v1 (stricter per-code limits derive from it); 0 disables. */
  LICENSOR_API_RATE_LIMIT: z.coerce.number().int().min(0).max(1_000_000).default(120),
  /**
   * Requests per minute per client IP on the production interface and the Kit paths; 0 disables. The default
   * is far above the marketplace's own volume (see packages/server/README.md#rate-limits).
   */
  LICENSOR_PRODUCE_RATE_LIMIT: z.coerce.number().int().min(0).max(1_000_000).default(600),
  /** Failed admin authentications per client IP: this many a minute, ten times this many an hour. */
  LICENSOR_ADMIN_AUTH_FAILURES: z.coerce.number().int().min(1).max(10_000).default(10),
  /** Console sessions end after this many minutes without a request, and this many hours after login. */
  LICENSOR_CONSOLE_IDLE_MINUTES: z.coerce.number().int().min(1).max(1440).default(30),
  LICENSOR_CONSOLE_SESSION_HOURS: z.coerce.number().int().min(1).max(168).default(12),
  /** Days the message log keeps authenticated traffic and requests it refused. */
  LICENSOR_MESSAGE_RETENTION_DAYS: z.coerce.number().int().min(1).max(36_500).default(90),
  LICENSOR_REFUSED_RETENTION_DAYS: z.coerce.number().int().min(1).max(36_500).default(7),
  /** Bearer token for /metrics on the main address. */
  LICENSOR_METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** host:port of a separate listener that serves only /metrics, without a token. */
  LICENSOR_METRICS_LISTEN: z
    .string()
    .regex(/^(?:\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:9464')
    .optional(),
  /** Webhook deliveries to private, loopback and link-local addresses (off: no SSRF into the merchant's network). */
  LICENSOR_WEBHOOK_ALLOW_PRIVATE: z.enum(['on', 'off', 'true', 'false', '1', '0']).default('off'),
});

export type RawConfig = z.infer<typeof schema>;

export type InterfaceType = 'basic' | 'licenseCode' | 'generic' | 'kit';

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  /** LICENSOR_DATABASE_URL: SQLite (the data folder's licensor.db or a named file) or PostgreSQL. */
  database: DatabaseTarget;
  publicUrl: string | undefined;
  koo: {
    /** Scheme-A key (family A requests and their Body-Sign). */
    key: string | undefined;
    /** Scheme-B access keys by interface type (each falls back to LICENSOR_KOO_ACCESS_KEY). */
    accessKeys: Record<InterfaceType, string | undefined>;
    apiBase: string;
    apiFallback: string | undefined;
    ak: string | undefined;
    sk: string | undefined;
    timeoutMs: number;
    /** Family A: how old a signed timeStamp may be (ms; default 24 h); seen authTokens are remembered this long. */
    schemeAWindowMs?: number;
  };
  adminToken: string | undefined;
  keyPassphrase: string | undefined;
  rootPassphrase: string | undefined;
  /** LICENSOR_PRODUCTION=on, or NODE_ENV=production unless LICENSOR_PRODUCTION=off. */
  production: boolean;
  productId: string | undefined;
  logLevel: RawConfig['LICENSOR_LOG_LEVEL'];
  trustProxy: string | undefined;
  tls: { cert: string; key: string } | undefined;
  corsOrigins: string[];
  scheduler: boolean;
  apiRateLimit: number;
  produceRateLimit: number;
  adminAuthFailures: number;
  /** Console session timeouts (LICENSOR_CONSOLE_IDLE_MINUTES, LICENSOR_CONSOLE_SESSION_HOURS). */
  consoleSessions: { idleMs: number; absoluteMs: number };
  retention: { liveDays: number; refusedDays: number };
  metrics: { token: string | undefined; listen: { host: string; port: number } | undefined };
  /** LICENSOR_WEBHOOK_ALLOW_PRIVATE: webhook endpoints may resolve to private/loopback addresses. */
  webhookAllowPrivate: boolean;
  /** LICENSOR_OUTBOX_LEASE_SECONDS, in ms: how long a claimed outbox item is its claimer's. */
  outboxLeaseMs: number;
}

const DEFAULT_FALLBACKS: Record<string, string> = {
  'https://mkt.myhuaweicloud.com': 'https://mkt.myhuaweicloud.cn',
};

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  let merged: Record<string, unknown> = { ...env };
  const file = env.LICENSOR_CONFIG;
  if (file) {
    if (!existsSync(file)) {
      throw new LicensorError('CONFIG_INVALID', `LICENSOR_CONFIG: file ${file} does not exist`);
    }
    try {
      const fromFile = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      // Environment wins over the file so one-off overrides need no edit.
      merged = { ...fromFile, ...env };
    } catch (err) {
      throw new LicensorError(
        'CONFIG_INVALID',
        `LICENSOR_CONFIG: ${file} is not valid JSON (${(err as Error).message})`,
      );
    }
  }
  // Treat empty strings like unset variables (a common shell mistake: FOO= npm start).
  for (const [k, v] of Object.entries(merged)) if (v === '') delete merged[k];

  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new LicensorError('CONFIG_INVALID', `Invalid configuration:\n  ${problems.join('\n  ')}`, { problems });
  }
  const c = parsed.data;
  if ((c.LICENSOR_KOO_AK === undefined) !== (c.LICENSOR_KOO_SK === undefined)) {
    throw new LicensorError('CONFIG_INVALID', 'LICENSOR_KOO_AK and LICENSOR_KOO_SK must be set together');
  }
  if (c.LICENSOR_ROOT_PASSPHRASE !== undefined && c.LICENSOR_ROOT_PASSPHRASE === c.LICENSOR_KEY_PASSPHRASE) {
    throw new LicensorError(
      'CONFIG_INVALID',
      'LICENSOR_ROOT_PASSPHRASE must differ from LICENSOR_KEY_PASSPHRASE: the root (which every client trusts) has its own passphrase',
    );
  }
  if ((c.LICENSOR_TLS_CERT === undefined) !== (c.LICENSOR_TLS_KEY === undefined)) {
    throw new LicensorError('CONFIG_INVALID', 'LICENSOR_TLS_CERT and LICENSOR_TLS_KEY must be set together');
  }
  const production =
    c.LICENSOR_PRODUCTION === undefined
      ? c.NODE_ENV === 'production'
      : ['on', '1', 'true'].includes(c.LICENSOR_PRODUCTION);
  if (production && c.LICENSOR_ADMIN_TOKEN !== undefined && c.LICENSOR_ADMIN_TOKEN.length < 32) {
    throw new LicensorError(
      'CONFIG_INVALID',
      'LICENSOR_ADMIN_TOKEN must be at least 32 characters in production mode; generate one with `openssl rand -hex 24`',
    );
  }
  if (production && c.LICENSOR_METRICS_TOKEN !== undefined && c.LICENSOR_METRICS_TOKEN.length < 32) {
    throw new LicensorError(
      'CONFIG_INVALID',
      'LICENSOR_METRICS_TOKEN must be at least 32 characters in production mode; generate one with `openssl rand -hex 24`',
    );
  }
  // An attempt may try the base and then the fallback host, each up to the timeout: a lease shorter than that
  // could end while the attempt still runs, and another instance would make the same call again. (Checked when
  // the lease is set: a configuration that only raised the timeout started before this setting existed; its
  // default lease grows with the timeout instead, below.)
  if (
    merged.LICENSOR_OUTBOX_LEASE_SECONDS !== undefined &&
    c.LICENSOR_OUTBOX_LEASE_SECONDS * 1000 <= 2 * c.LICENSOR_KOO_TIMEOUT_MS
  ) {
    throw new LicensorError(
      'CONFIG_INVALID',
      `LICENSOR_OUTBOX_LEASE_SECONDS (${c.LICENSOR_OUTBOX_LEASE_SECONDS}) must be longer than two marketplace calls: more than 2 × LICENSOR_KOO_TIMEOUT_MS (${c.LICENSOR_KOO_TIMEOUT_MS} ms)`,
    );
  }
  const apiBase = c.LICENSOR_KOO_API_BASE.replace(/\/+$/, '');
  const access = c.LICENSOR_KOO_ACCESS_KEY;
  return {
    port: c.PORT,
    host: c.HOST,
    dataDir: c.LICENSOR_DATA_DIR === ':memory:' ? ':memory:' : resolve(c.LICENSOR_DATA_DIR),
    database: parseDatabaseUrl(c.LICENSOR_DATABASE_URL),
    publicUrl: c.LICENSOR_PUBLIC_URL,
    koo: {
      key: c.LICENSOR_KOO_KEY,
      accessKeys: {
        basic: c.LICENSOR_KOO_ACCESS_KEY_BASIC ?? access,
        licenseCode: c.LICENSOR_KOO_ACCESS_KEY_LICENSE_CODE ?? access,
        generic: c.LICENSOR_KOO_ACCESS_KEY_GENERIC ?? access,
        kit: c.LICENSOR_KOO_ACCESS_KEY_KIT ?? access,
      },
      apiBase,
      apiFallback: c.LICENSOR_KOO_API_FALLBACK?.replace(/\/+$/, '') ?? DEFAULT_FALLBACKS[apiBase],
      ak: c.LICENSOR_KOO_AK,
      sk: c.LICENSOR_KOO_SK,
      timeoutMs: c.LICENSOR_KOO_TIMEOUT_MS,
      schemeAWindowMs: c.LICENSOR_KOO_TIMESTAMP_WINDOW_HOURS * 3_600_000,
    },
    adminToken: c.LICENSOR_ADMIN_TOKEN,
    keyPassphrase: c.LICENSOR_KEY_PASSPHRASE,
    rootPassphrase: c.LICENSOR_ROOT_PASSPHRASE,
    productId: c.LICENSOR_PRODUCT_ID,
    logLevel: c.LICENSOR_LOG_LEVEL,
    trustProxy: c.LICENSOR_TRUST_PROXY,
    tls: c.LICENSOR_TLS_CERT && c.LICENSOR_TLS_KEY ? { cert: c.LICENSOR_TLS_CERT, key: c.LICENSOR_TLS_KEY } : undefined,
    corsOrigins: c.LICENSOR_CORS_ORIGINS ? c.LICENSOR_CORS_ORIGINS.split(',').map((s) => s.trim()) : [],
    scheduler: c.LICENSOR_SCHEDULER === 'on',
    apiRateLimit: c.LICENSOR_API_RATE_LIMIT,
    production,
    produceRateLimit: c.LICENSOR_PRODUCE_RATE_LIMIT,
    adminAuthFailures: c.LICENSOR_ADMIN_AUTH_FAILURES,
    consoleSessions: {
      idleMs: c.LICENSOR_CONSOLE_IDLE_MINUTES * 60_000,
      absoluteMs: c.LICENSOR_CONSOLE_SESSION_HOURS * 3_600_000,
    },
    retention: { liveDays: c.LICENSOR_MESSAGE_RETENTION_DAYS, refusedDays: c.LICENSOR_REFUSED_RETENTION_DAYS },
    metrics: { token: c.LICENSOR_METRICS_TOKEN, listen: parseListen(c.LICENSOR_METRICS_LISTEN) },
    webhookAllowPrivate: ['on', 'true', '1'].includes(c.LICENSOR_WEBHOOK_ALLOW_PRIVATE),
    // Unset, the lease still outlasts an attempt when only the timeout was raised (such configurations predate the
    // setting and must keep starting): two calls plus a second.
    outboxLeaseMs:
      merged.LICENSOR_OUTBOX_LEASE_SECONDS !== undefined
        ? c.LICENSOR_OUTBOX_LEASE_SECONDS * 1000
        : Math.max(c.LICENSOR_OUTBOX_LEASE_SECONDS * 1000, 2 * c.LICENSOR_KOO_TIMEOUT_MS + 1000),
  };
}

function parseListen(value: string | undefined): { host: string; port: number } | undefined {
  if (!value) return undefined;
  const i = value.lastIndexOf(':');
  return { host: value.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: Number(value.slice(i + 1)) };
}

/** A configuration for tests: an in-memory-friendly data dir and fixed marketplace keys. */
export function testConfig(overrides: Partial<Config> & { koo?: Partial<Config['koo']> } = {}): Config {
  const base = loadConfig({
    LICENSOR_DATA_DIR: overrides.dataDir ?? ':memory:',
    LICENSOR_KOO_KEY: 'KEY',
    LICENSOR_KOO_ACCESS_KEY: 'ACCESSKEY',
    LICENSOR_KOO_AK: 'AK',
    LICENSOR_KOO_SK: 'SK',
    LICENSOR_KOO_API_BASE: 'http://127.0.0.1:65533',
    LICENSOR_ADMIN_TOKEN: 'admin-test-token',
    LICENSOR_METRICS_TOKEN: 'metrics-test-token',
    LICENSOR_LOG_LEVEL: 'silent',
    LICENSOR_SCHEDULER: 'off',
  });
  return { ...base, ...overrides, koo: { ...base.koo, ...overrides.koo } };
}

/**
 * The SQLite database: the file LICENSOR_DATABASE_URL=sqlite:<file> names, else licensor.db inside the data folder
 * (the server and the CLI open the same file).
 */
export const databasePath = (config: Config): string => {
  if (config.database?.kind === 'sqlite' && config.database.path) return resolve(config.database.path);
  return config.dataDir === ':memory:' ? ':memory:' : join(config.dataDir, 'licensor.db');
};
