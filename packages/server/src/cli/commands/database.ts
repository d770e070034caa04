import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { LicensorError } from '@licensor/shared';
import type { Command } from 'commander';
import { parseDatabaseUrl, redactDatabaseUrl } from '../../db/backend';
import { copySqliteToPostgres } from '../../db/copy';
import { collationText, type DatabaseCollation, databaseCollation } from '../../db/postgres/collation';
import { openPostgres, type PgDb } from '../../db/postgres/facade';
import { migratePostgres, pgCurrentVersion } from '../../db/postgres/migrate';
import { postgresSettings } from '../../db/postgres/settings';
import { pgSchemaStatus, type SchemaStatus, schemaIsCurrent, sqliteSchemaStatus } from '../../db/schemaStatus';
import { openSqliteDatabase } from '../../db/sqlite';
import { fields } from '../output';
import type { Runner, Session } from '../session';

/**
 * The backend-aware database commands: `db status`, `db migrate` on PostgreSQL (SQLite's stays in data.ts) and
 * `db copy`. LICENSOR_DATABASE_URL picks the backend (db/backend.ts).
 */

async function withPostgres<T>(s: Session, url: string, fn: (db: PgDb) => Promise<T>): Promise<T> {
  const db = openPostgres(url, { settings: postgresSettings(s.serverEnv) });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

function statusLines(
  location: string,
  status: SchemaStatus,
  collation: string,
  exists = true,
  byteOrder = true,
): string {
  const state = !byteOrder
    ? "not servable: recreate the database with LC_COLLATE 'C.UTF-8' (docs/deploy-postgresql.md)"
    : !exists
      ? 'not created (run `licensor db migrate`)'
      : status.newerThanBuild
        ? `newer than this build (${status.latest}): upgrade Licensor before serving from it`
        : status.pending.length
          ? `${status.pending.length} migration(s) pending: run \`licensor db migrate\``
          : 'up to date';
  return fields([
    ['Backend', status.backend === 'postgres' ? 'PostgreSQL' : 'SQLite'],
    ['Database', location],
    ['Schema version', `${status.version} (this build: ${status.latest})`],
    ['Pending', status.pending.map((m) => `${m.version} ${m.name}`).join(', ') || 'none'],
    ['Collation', collation],
    ['State', state],
  ]);
}

async function dbStatus(s: Session): Promise<void> {
  const target = s.config().database;
  if (target.kind === 'postgres') {
    const location = redactDatabaseUrl(target.url);
    const { status, collation } = await withPostgres(s, target.url, async (db) => ({
      status: await pgSchemaStatus(db),
      collation: await databaseCollation(db),
    }));
    s.print({ location, current: schemaIsCurrent(status) && collation.byteOrder, ...status, collation }, () =>
      statusLines(location, status, collationText(collation), true, collation.byteOrder),
    );
    return;
  }
  const path = s.dbPath;
  const exists = path === ':memory:' || existsSync(path);
  let status: SchemaStatus;
  if (exists && path !== ':memory:') {
    const db = openSqliteDatabase(path, { readonly: true, migrate: false });
    try {
      status = await sqliteSchemaStatus(db);
    } finally {
      await db.close();
    }
  } else {
    const db = openSqliteDatabase(':memory:', { migrate: false });
    status = await sqliteSchemaStatus(db);
    await db.close();
  }
  const collation: DatabaseCollation = {
    database: path,
    provider: 'sqlite',
    collation: 'BINARY',
    ctype: 'BINARY',
    byteOrder: true,
  };
  s.print({ location: path, exists, current: exists && schemaIsCurrent(status), ...status, collation }, () =>
    statusLines(path, status, 'BINARY (SQLite): byte order', exists),
  );
}

/** `db migrate` when LICENSOR_DATABASE_URL names PostgreSQL (under the advisory lock, like every instance). */
export async function dbMigratePostgres(s: Session, url: string): Promise<void> {
  const location = redactDatabaseUrl(url);
  await withPostgres(s, url, async (db) => {
    const from = await pgCurrentVersion(db);
    const applied = await migratePostgres(db);
    const to = await pgCurrentVersion(db);
    s.print({ database: location, backend: 'postgres', from, to, applied }, () =>
      applied.length
        ? `Migrated ${location} from version ${from} to ${to} (applied ${applied.join(', ')}).`
        : `${location} is up to date (version ${from}).`,
    );
  });
}

/** Progress on stderr: a redrawn bar at a terminal, a few lines per table for logs and pipes. */
function copyProgress(s: Session) {
  const tty = Boolean(s.io.stderr.isTTY);
  let last = '';
  return (p: { table: string; phase: string; done: number; total: number }) => {
    const pct = p.total > 0 ? Math.min(100, Math.floor((p.done * 100) / p.total)) : 100;
    if (tty) {
      const filled = Math.round(pct / 5);
      s.io.stderr.write(
        `\r${p.phase === 'copy' ? 'Copy  ' : 'Verify'} ${p.table.padEnd(24).slice(0, 24)} [${'#'.repeat(filled)}${'.'.repeat(20 - filled)}] ${String(pct).padStart(3)}% (${p.done}/${p.total})`,
      );
      if (p.phase === 'verify' && p.done >= p.total) s.io.stderr.write('\n');
      return;
    }
    // One line per table at 0/25/50/75/100 % of its copy, one when its verification ends.
    const key = p.phase === 'copy' ? `${p.table}:copy:${Math.floor(pct / 25)}` : `${p.table}:verify`;
    if (key === last || (p.phase === 'verify' && p.done < p.total)) return;
    last = key;
    s.io.stderr.write(`${p.phase} ${p.table}: ${p.done}/${p.total} rows (${pct}%)\n`);
  };
}

async function dbCopy(s: Session, opts: { from: string; to?: string; force?: boolean; batchRows?: string }) {
  const toUrl =
    opts.to ?? (s.config().database.kind === 'postgres' ? (s.config().database as { url: string }).url : '');
  const target = parseDatabaseUrl(toUrl);
  if (target.kind !== 'postgres') {
    throw new LicensorError(
      'INVALID_INPUT',
      '--to must be a PostgreSQL URL (postgres://user:password@host:5432/database), or set LICENSOR_DATABASE_URL to one',
    );
  }
  const from = resolve(opts.from);
  if (!existsSync(from)) {
    throw new LicensorError('INVALID_INPUT', `No SQLite database at ${from}: check --from (e.g. .data/licensor.db)`);
  }
  const batchRows = opts.batchRows === undefined ? undefined : Number(opts.batchRows);
  if (batchRows !== undefined && (!Number.isInteger(batchRows) || batchRows < 1 || batchRows > 10_000)) {
    throw new LicensorError('INVALID_INPUT', '--batch-rows must be a whole number from 1 to 10000');
  }
  const source = openSqliteDatabase(from, { readonly: true, migrate: false });
  const started = performance.now();
  try {
    const report = await withPostgres(s, target.url, (db) =>
      copySqliteToPostgres(source, db, { force: opts.force, batchRows, onProgress: copyProgress(s) }),
    );
    const ms = Math.round(performance.now() - started);
    const location = redactDatabaseUrl(target.url);
    s.print({ from, to: location, ms, ...report }, () =>
      [
        fields([
          ['Copied', `${from} → ${location}`],
          ['Schema version', report.schemaVersion],
          ['Tables', `${report.tables.length} (row counts and checksums verified)`],
          ['Rows', report.rows],
          ['Took', `${ms} ms`],
        ]),
        ...report.tables
          .filter((t) => t.rows > 0)
          .map((t) => `  ${t.table}: ${t.rows} rows, sha256-sum ${t.checksum.slice(0, 16)}…`),
        '',
      ].join('\n'),
    );
  } finally {
    await source.close();
  }
}

/** Adds `status` and `copy` to the `db` command (data.ts owns `migrate` and `backup`). */
export function registerDatabaseCommands(db: Command, run: Runner): void {
  db.command('status')
    .description('backend (LICENSOR_DATABASE_URL), schema version and pending migrations')
    .action(run(dbStatus));
  db.command('copy')
    .description('copy every table of a SQLite database into PostgreSQL, verified by row counts and checksums')
    .requiredOption('--from <file>', 'the SQLite database (e.g. .data/licensor.db; the server may keep running)')
    .option('--to <url>', 'the PostgreSQL database (default: LICENSOR_DATABASE_URL)')
    .option('--force', 'replace the contents of a target that already holds data')
    .option('--batch-rows <n>', 'rows per INSERT (default 1000)')
    .action(run((s, opts: { from: string; to?: string; force?: boolean; batchRows?: string }) => dbCopy(s, opts)));
}
