import { MIGRATIONS } from './migrations';
import type { PgQueryable } from './postgres/facade';
import { pgCurrentVersion } from './postgres/migrate';
import { PG_MIGRATIONS } from './postgres/schema';
import type { Queryable } from './storage';
import type { Migration } from './types';

/** Where a database's schema stands against this build's migrations (`licensor db status`, /readyz). */
export interface SchemaStatus {
  backend: 'sqlite' | 'postgres';
  version: number;
  /** The newest migration this build knows. */
  latest: number;
  pending: { version: number; name: string }[];
  /** The database was migrated by a newer build: this one may not understand it. */
  newerThanBuild: boolean;
}

function statusOf(backend: SchemaStatus['backend'], version: number, migrations: Migration[]): SchemaStatus {
  const latest = migrations.at(-1)?.version ?? 0;
  return {
    backend,
    version,
    latest,
    pending: migrations.filter((m) => m.version > version).map((m) => ({ version: m.version, name: m.name })),
    newerThanBuild: version > latest,
  };
}

/** Read-only, unlike migrations.currentVersion (which creates the version table): safe on every /readyz. */
export async function sqliteSchemaStatus(db: Queryable): Promise<SchemaStatus> {
  const table = await db.first("SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'");
  const version = table
    ? ((await db.first<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations'))?.v ?? 0)
    : 0;
  return statusOf('sqlite', version, MIGRATIONS);
}

export async function pgSchemaStatus(db: PgQueryable): Promise<SchemaStatus> {
  return statusOf('postgres', await pgCurrentVersion(db), PG_MIGRATIONS);
}

/** Ready to serve: every migration of this build applied, and none from a newer build. */
export const schemaIsCurrent = (s: SchemaStatus): boolean => s.pending.length === 0 && !s.newerThanBuild;
