import type pg from 'pg';
import type { Migration } from '../types';
import { assertByteOrderCollation } from './collation';
import { toStorageError } from './errors';
import type { PgDb, PgQueryable } from './facade';
import { PG_MIGRATIONS } from './schema';

/**
 * The advisory lock every instance takes before migrating ('Licensor' in ASCII): the first instance to start
 * applies the pending migrations, the others wait for it and then find nothing to do. Advisory locks belong to
 * one database, so deployments sharing a server do not block each other.
 */
export const MIGRATION_LOCK_KEY = '5506041306733047666';

/** The version table, as migratePostgres creates it. */
export const SCHEMA_TABLE =
  'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)';

/** The schema version recorded in the database; 0 for an empty database (read-only: creates nothing). */
export async function pgCurrentVersion(db: PgQueryable): Promise<number> {
  const exists = await db.first<{ t: string | null }>("SELECT to_regclass('schema_migrations')::text AS t");
  if (!exists?.t) return 0;
  return (await db.first<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations'))?.v ?? 0;
}

/**
 * Applies pending migrations under the advisory lock, each in its own transaction (PostgreSQL's DDL is
 * transactional, so a failing migration leaves nothing behind), and returns the versions applied. A database whose
 * collation is not byte order is refused first (collation.ts).
 */
export async function migratePostgres(
  db: PgDb,
  upTo: number = Number.POSITIVE_INFINITY,
  migrations: Migration[] = PG_MIGRATIONS,
): Promise<number[]> {
  // Before anything is created: a database that sorts text otherwise is refused with how to make a right one.
  await assertByteOrderCollation(db);
  return db.withClient(async (client: pg.PoolClient) => {
    const q = async (sql: string, params?: unknown[]) => {
      try {
        return await client.query(sql, params);
      } catch (err) {
        throw toStorageError(err, 'Migrating the PostgreSQL schema');
      }
    };
    // A large table's migration may take longer than a request's statement timeout, and so may the wait for
    // another instance's migration.
    await q('SET statement_timeout = 0');
    await q('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    try {
      await q(SCHEMA_TABLE);
      const from =
        ((await q('SELECT MAX(version) AS v FROM schema_migrations')).rows[0] as { v: number | null }).v ?? 0;
      const applied: number[] = [];
      for (const m of migrations) {
        if (m.version <= from || m.version > upTo) continue;
        await q('BEGIN');
        try {
          await q(m.sql);
          await q('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
            m.version,
            m.name,
            new Date().toISOString(),
          ]);
          await q('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        }
        applied.push(m.version);
      }
      return applied;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
      await client.query('RESET statement_timeout').catch(() => undefined);
    }
  });
}
