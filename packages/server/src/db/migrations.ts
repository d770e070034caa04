import { m001_core } from './migrations/001_core';
import { m002_licensing } from './migrations/002_licensing';
import { m003_kit } from './migrations/003_kit';
import { m004_code_usage_day } from './migrations/004_code_usage_day';
import { m005_device_nonces_by_time } from './migrations/005_device_nonces_by_time';
import { m006_activation_keys } from './migrations/006_activation_keys';
import { m008_scheme_a_answers } from './migrations/008_scheme_a_answers';
import { m009_doors } from './migrations/009_doors';
import { m010_operators } from './migrations/010_operators';
import { m011_catalog } from './migrations/011_catalog';
import { m012_webhooks } from './migrations/012_webhooks';
import { m013_license_seats } from './migrations/013_license_seats';
import { m014_marketplace_config_log } from './migrations/014_marketplace_config_log';
import { m015_license_seats_and_features } from './migrations/015_license_seats_and_features';
import { m016_list_indexes } from './migrations/016_list_indexes';
import { m017_rate_limits } from './migrations/017_rate_limits';
import { m018_signing_keys } from './migrations/018_signing_keys';
import { m019_order_keys } from './migrations/019_order_keys';
import { m020_list_order } from './migrations/020_list_order';
import { m021_key_revocations } from './migrations/021_key_revocations';
import { m022_rate_limit_clients } from './migrations/022_rate_limit_clients';
import type { Migration, Row } from './types';

export type { Migration } from './types';

/**
 * What migrations need of a connection: synchronous calls (the schema is brought current before the server
 * serves, on the raw connection: sqlite.ts `migrationTarget`).
 */
export interface MigrationTarget {
  exec(sql: string): void;
  first<T = Row>(sql: string, params?: readonly unknown[]): T | undefined;
  run(sql: string, params?: readonly unknown[]): { changes: number };
  /** Runs fn in a write transaction (BEGIN IMMEDIATE); nested calls become savepoints. */
  transaction<T>(fn: () => T): T;
}

/** Every schema change ever shipped, in order. Never edit a released migration: append a new one. */
export const MIGRATIONS: Migration[] = [
  m001_core,
  m002_licensing,
  m003_kit,
  m004_code_usage_day,
  m005_device_nonces_by_time,
  m006_activation_keys,
  m008_scheme_a_answers,
  m009_doors,
  m010_operators,
  m011_catalog,
  m012_webhooks,
  m013_license_seats,
  m014_marketplace_config_log,
  m015_license_seats_and_features,
  m016_list_indexes,
  m017_rate_limits,
  m018_signing_keys,
  m019_order_keys,
  m020_list_order,
  m021_key_revocations,
  m022_rate_limit_clients,
];

export function currentVersion(db: MigrationTarget): number {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
  );
  return db.first<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations')?.v ?? 0;
}

/** Applies pending migrations, each in its own transaction; returns the versions applied. */
export function migrate(
  db: MigrationTarget,
  upTo: number = Number.POSITIVE_INFINITY,
  migrations: Migration[] = MIGRATIONS,
): number[] {
  const applied: number[] = [];
  const from = currentVersion(db);
  for (const m of migrations) {
    if (m.version <= from || m.version > upTo) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
        m.version,
        m.name,
        new Date().toISOString(),
      ]);
    });
    applied.push(m.version);
  }
  return applied;
}
