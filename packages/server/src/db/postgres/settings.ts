import { readFileSync } from 'node:fs';
import { LicensorError } from '@licensor/shared';
import type { PoolConfig } from 'pg';
import { z } from 'zod';

/**
 * Connection settings of the PostgreSQL pool, from the environment (see docs/deploy-postgresql.md):
 * LICENSOR_PG_POOL_SIZE connections per instance, LICENSOR_PG_STATEMENT_TIMEOUT_MS (below the marketplace's 5 s
 * budget, so a stuck statement becomes a signed "retry later" instead of a timeout at KooGallery),
 * LICENSOR_PG_CONNECT_TIMEOUT_MS, and TLS: LICENSOR_PG_SSL=disable|require|verify-full with LICENSOR_PG_SSL_CA.
 */
export interface PostgresSettings {
  poolSize: number;
  statementTimeoutMs: number;
  connectTimeoutMs: number;
  ssl: 'disable' | 'require' | 'verify-full' | undefined;
  sslCaFile: string | undefined;
  applicationName: string;
}

const schema = z.object({
  LICENSOR_PG_POOL_SIZE: z.coerce.number().int().min(1).max(500).default(10),
  LICENSOR_PG_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(4000),
  LICENSOR_PG_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(5000),
  LICENSOR_PG_SSL: z.enum(['disable', 'require', 'verify-full']).optional(),
  LICENSOR_PG_SSL_CA: z.string().min(1).optional(),
  LICENSOR_PG_APPLICATION_NAME: z.string().min(1).max(63).default('licensor'),
});

export function postgresSettings(env: NodeJS.ProcessEnv = process.env): PostgresSettings {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new LicensorError('CONFIG_INVALID', `Invalid PostgreSQL settings:\n  ${problems.join('\n  ')}`, { problems });
  }
  const c = parsed.data;
  if (c.LICENSOR_PG_SSL_CA && c.LICENSOR_PG_SSL !== 'verify-full') {
    throw new LicensorError(
      'CONFIG_INVALID',
      'LICENSOR_PG_SSL_CA is used only with LICENSOR_PG_SSL=verify-full: set both',
    );
  }
  return {
    poolSize: c.LICENSOR_PG_POOL_SIZE,
    statementTimeoutMs: c.LICENSOR_PG_STATEMENT_TIMEOUT_MS,
    connectTimeoutMs: c.LICENSOR_PG_CONNECT_TIMEOUT_MS,
    ssl: c.LICENSOR_PG_SSL,
    sslCaFile: c.LICENSOR_PG_SSL_CA,
    applicationName: c.LICENSOR_PG_APPLICATION_NAME,
  };
}

/** The pg Pool configuration for a URL and settings; TLS from the URL's sslmode or LICENSOR_PG_SSL, not both. */
export function poolConfig(url: string, settings: PostgresSettings): PoolConfig {
  const urlHasSslMode = /[?&](sslmode|ssl)=/i.test(url);
  if (urlHasSslMode && settings.ssl) {
    throw new LicensorError(
      'CONFIG_INVALID',
      'TLS is set twice: remove sslmode from LICENSOR_DATABASE_URL or unset LICENSOR_PG_SSL (the driver would let the URL win silently)',
    );
  }
  let ssl: PoolConfig['ssl'];
  if (settings.ssl === 'require') ssl = { rejectUnauthorized: false };
  else if (settings.ssl === 'verify-full') {
    let ca: string | undefined;
    if (settings.sslCaFile) {
      try {
        ca = readFileSync(settings.sslCaFile, 'utf8');
      } catch (err) {
        throw new LicensorError(
          'CONFIG_INVALID',
          `LICENSOR_PG_SSL_CA: cannot read ${settings.sslCaFile} (${(err as Error).message})`,
        );
      }
    }
    ssl = ca ? { rejectUnauthorized: true, ca } : { rejectUnauthorized: true };
  } else if (settings.ssl === 'disable') ssl = false;
  return {
    connectionString: url,
    max: settings.poolSize,
    connectionTimeoutMillis: settings.connectTimeoutMs,
    statement_timeout: settings.statementTimeoutMs,
    // A lock wait counts against the statement timeout too; an idle transaction must not pin a connection forever.
    idle_in_transaction_session_timeout: Math.max(settings.statementTimeoutMs * 5, 10_000),
    application_name: settings.applicationName,
    ...(ssl === undefined ? {} : { ssl }),
  };
}
