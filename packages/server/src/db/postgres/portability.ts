import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import type { RecordedStatement } from '../sqlRecorder';
import type { PgDb } from './facade';
import { SCHEMA_TABLE } from './migrate';
import { PG_MIGRATIONS } from './schema';
import { toPgParameters } from './sql';

/**
 * The dynamic half of the SQL portability check: every distinct statement the SQLite facade prepared during a
 * test run (recorded by db/sqlRecorder.ts) is PREPAREd on PostgreSQL, against the PostgreSQL schema. PREPARE
 * parses, resolves every table, column, function and operator and infers each parameter's type exactly as `pg`
 * does when it sends a query, without running it; a statement it rejects would fail on PostgreSQL whatever the
 * values. The static half is db/portability.test.ts; the design, docs/design/async-storage.md.
 */

/**
 * Modules whose SQL is SQLite's own by design, each with its PostgreSQL counterpart: their statements are not
 * domain SQL and are not checked.
 */
export const SQLITE_ONLY_MODULES: Record<string, string> = {
  'packages/server/src/db/introspect.ts': "reads SQLite's catalogue; PostgreSQL's is read by pgTables",
  'packages/server/src/db/copy.ts': 'reads the SQLite source of `licensor db copy`',
  'packages/server/src/db/migrations.ts': "SQLite's migrator; PostgreSQL's is postgres/migrate.ts",
  'packages/server/src/db/schemaStatus.ts': 'sqliteSchemaStatus; PostgreSQL has pgSchemaStatus',
};

export interface RecordedUse {
  sql: string;
  /** Where it was prepared, one entry per distinct call path (first frames outside the facade: file (function)). */
  at: string[];
}

export type Provenance = 'server' | 'sqlite-only' | 'tests';

/**
 * Every statement recorded in `dir` (one .jsonl file per process), with all the places it came from, and what
 * recording them cost the run: records written, milliseconds spent in the recorder.
 */
export function readRecording(dir: string): { uses: RecordedUse[]; records: number; ms: number } {
  let records = 0;
  let us = 0;
  const bySql = new Map<string, Set<string>>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.jsonl'))) {
    for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
      // A process killed mid-write leaves at most a torn last line.
      if (!line.trim()) continue;
      let entry: RecordedStatement;
      try {
        entry = JSON.parse(line) as RecordedStatement;
      } catch {
        continue;
      }
      records++;
      us += entry.us ?? 0;
      const at = bySql.get(entry.sql) ?? new Set<string>();
      bySql.set(entry.sql, at);
      at.add(entry.at.join(' ← ') || '(unknown caller)');
    }
  }
  return { uses: [...bySql].map(([sql, at]) => ({ sql, at: [...at].sort() })), records, ms: us / 1000 };
}

/** Tests, test support and benchmarks (whose tables and fixtures are their own). */
const isTestCode = (frame: string): boolean =>
  /\.test\.[cm]?[jt]s$/.test(frame) || /^(packages\/testkit|test|bench|packages\/\w+\/bench)\//.test(frame);

/**
 * server: some call path starts in production code (an unknown caller counts as production: checked rather
 * than trusted); sqlite-only: only from SQLITE_ONLY_MODULES; tests: only from tests, test support or benchmarks.
 */
export function provenance(use: RecordedUse): Provenance {
  let sqliteOnly = false;
  for (const path of use.at) {
    const first = path.split(' ← ')[0]!.replace(/ \(.*\)$|:\d+$/, '');
    if (first in SQLITE_ONLY_MODULES) sqliteOnly = true;
    else if (!isTestCode(first)) return 'server';
  }
  return sqliteOnly ? 'sqlite-only' : 'tests';
}

export interface Rejection {
  sql: string;
  at: string[];
  error: string;
}

const oneLine = (sql: string) => sql.replace(/\s+/g, ' ').trim();

const PREPARE = 'PREPARE licensor_portability AS ';
const BOOLEAN_OID = 16;
const isQuery = (sql: string) => /^\s*(SELECT|WITH|VALUES)\b/i.test(sql);

/**
 * Checks each statement against the PostgreSQL schema without leaving anything behind: one transaction on `db`
 * creates a schema of its own, applies every PostgreSQL migration in it, PREPAREs each statement (in a savepoint,
 * so a rejection does not abort the rest), and is rolled back. No scratch database to create and drop (a DROP
 * DATABASE waits for a checkpoint), and nothing is left if the process dies half-way. Returns the rejections.
 */
export async function checkOnPostgres(db: PgDb, uses: readonly RecordedUse[]): Promise<Rejection[]> {
  return db.withClient(async (client) => {
    const schema = `licensor_portability_${randomBytes(4).toString('hex')}`;
    await client.query('BEGIN');
    try {
      await client.query(`CREATE SCHEMA ${schema}`);
      await client.query(`SET LOCAL search_path TO ${schema}`);
      await client.query(SCHEMA_TABLE);
      for (const m of PG_MIGRATIONS) await client.query(m.sql);
      return await prepareEach(client, uses);
    } finally {
      await client.query('ROLLBACK');
    }
  });
}

/**
 * PREPAREs each statement; a query is also run once, with every parameter NULL on the empty tables, to see the
 * types of its result columns: a boolean column (`x IS NOT NULL AS synced`) is 0/1 on SQLite but true/false on
 * PostgreSQL, so code comparing it with 1 would silently go wrong there.
 */
async function prepareEach(client: pg.PoolClient, uses: readonly RecordedUse[]): Promise<Rejection[]> {
  const rejections: Rejection[] = [];
  const reject = (use: RecordedUse, error: string) => rejections.push({ sql: use.sql, at: use.at, error });
  for (const use of uses) {
    const { sql: text, names } = toPgParameters(use.sql);
    await client.query('SAVEPOINT statement');
    try {
      await client.query(`${PREPARE}${text}`);
    } catch (err) {
      await client.query('ROLLBACK TO SAVEPOINT statement');
      const e = err as { message?: string; position?: string };
      // The position counts from the start of the PREPARE: point at the words PostgreSQL stumbled on.
      const pos = Number(e.position) - PREPARE.length - 1;
      const near = Number.isFinite(pos) && pos >= 0 ? ` (at "${oneLine(text.slice(pos, pos + 40))}")` : '';
      reject(use, `${e.message ?? String(err)}${near}`);
      continue;
    }
    if (isQuery(use.sql)) {
      const args = names.length ? `(${names.map(() => 'NULL').join(', ')})` : '';
      // Only the result's column types matter; an error of these made-up values is not the statement's.
      const result = await client.query(`EXECUTE licensor_portability${args}`).catch(() => undefined);
      if (!result) await client.query('ROLLBACK TO SAVEPOINT statement');
      const booleans = (result?.fields ?? []).filter((f) => f.dataTypeID === BOOLEAN_OID).map((f) => f.name);
      if (booleans.length) {
        reject(
          use,
          `returns ${booleans.join(', ')} as boolean (true/false), where SQLite returns 0/1: write CASE WHEN … THEN 1 ELSE 0 END`,
        );
      }
    }
    await client.query('DEALLOCATE licensor_portability');
    await client.query('RELEASE SAVEPOINT statement');
  }
  return rejections;
}

/** The failure message: each rejected statement, PostgreSQL's reason, and where the statement came from. */
export function formatRejections(rejections: readonly Rejection[], checked: number): string {
  const lines = [
    `${rejections.length} of ${checked} distinct SQL statements the server prepared during the tests are rejected by PostgreSQL.`,
    'Write them so both backends accept them (docs/design/async-storage.md; the static rules: packages/server/src/db/portability.test.ts):',
  ];
  for (const r of rejections) {
    lines.push('', `  ✖ ${oneLine(r.sql)}`, `    PostgreSQL: ${r.error}`);
    for (const at of r.at) lines.push(`    from ${at}`);
  }
  return lines.join('\n');
}
