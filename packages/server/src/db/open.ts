import { join, resolve } from 'node:path';
import type { DatabaseTarget } from './backend';
import { type OpenPostgresOptions, openPostgres } from './postgres/facade';
import { migratePostgres } from './postgres/migrate';
import { type PostgresDatabase, type PostgresStorageOptions, postgresDatabase } from './postgres/storage';
import { openSqliteDatabase, type SqliteDatabase } from './sqlite';

/** Either backend; `dialect` tells them apart where a caller needs a backend's own members. */
export type AnyDatabase = SqliteDatabase | PostgresDatabase;

export interface OpenDatabaseOptions {
  /** The data folder: SQLite's default file is licensor.db inside it (':memory:' for an in-memory database). */
  dataDir: string;
  /** SQLite: the file opened read-only. PostgreSQL: only no migration (read-only access is the role's grants). */
  readonly?: boolean;
  /** Bring the schema current (default); false for tools that inspect or copy a database as it is. */
  migrate?: boolean;
  postgres?: OpenPostgresOptions & PostgresStorageOptions;
}

/** The SQLite file a target names: its own path, else licensor.db in the data folder (config.ts databasePath). */
export const sqlitePath = (target: Extract<DatabaseTarget, { kind: 'sqlite' }>, dataDir: string): string => {
  if (target.path) return resolve(target.path);
  return dataDir === ':memory:' ? ':memory:' : join(dataDir, 'licensor.db');
};

/**
 * Opens the database LICENSOR_DATABASE_URL chose (backend.ts parseDatabaseUrl) and brings its schema current:
 * SQLite's migrations run synchronously as the file opens, as they always have; PostgreSQL's under the advisory
 * lock (postgres/migrate.ts), so instances starting together migrate once. A PostgreSQL database that cannot
 * be migrated is closed again before the error leaves.
 */
export async function openDatabaseFromUrl(target: DatabaseTarget, opts: OpenDatabaseOptions): Promise<AnyDatabase> {
  const migrate = opts.migrate !== false && !opts.readonly;
  if (target.kind === 'sqlite') {
    return openSqliteDatabase(sqlitePath(target, opts.dataDir), { readonly: opts.readonly, migrate });
  }
  const pg = openPostgres(target.url, opts.postgres);
  try {
    if (migrate) await migratePostgres(pg);
  } catch (err) {
    await pg.close().catch(() => undefined);
    throw err;
  }
  return postgresDatabase(pg, opts.postgres);
}
