import { randomBytes } from 'node:crypto';
import { openPostgres, type PgDb, postgresUnreachable } from '@licensor/server';

/**
 * A throwaway PostgreSQL database per test file. The server to use is LICENSOR_TEST_PG_URL (a URL to a database
 * the tests may create databases from), by default the development and CI cluster at 127.0.0.1:5432.
 *
 *   const pgTest = await createTestPostgres('parity');   // undefined (with a warning) when unreachable
 *   describe.skipIf(!pgTest)('…', () => { afterAll(() => pgTest?.drop()); … });
 *
 * Where no PostgreSQL answers, the tests are skipped with a warning on stderr; under CI=true that is a failure
 * instead, so a CI run can never pass by skipping them.
 */
export const TEST_PG_ADMIN_URL = process.env.LICENSOR_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestPostgres {
  /** URL of the new, empty database. */
  url: string;
  database: string;
  /** Opens a facade on the test database (closed by drop()). */
  open(): PgDb;
  /** Closes every facade opened here and drops the database. */
  drop(): Promise<void>;
}

const settings = {
  poolSize: 2,
  statementTimeoutMs: 60_000,
  connectTimeoutMs: 2000,
  ssl: undefined,
  sslCaFile: undefined,
  applicationName: 'licensor-tests',
};

/** Databases of test runs that died before dropping theirs are removed after this long. */
const STALE_MS = 6 * 3_600_000;
const PREFIX = 'licensor_t_';

let reachable: Promise<string | undefined> | undefined;

/** undefined when reachable, else why not. Asked once per test process. */
function probe(): Promise<string | undefined> {
  reachable ??= postgresUnreachable(TEST_PG_ADMIN_URL, settings);
  return reachable;
}

export function urlForDatabase(adminUrl: string, database: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

/**
 * True when the test PostgreSQL answers. Otherwise a warning and false, or under CI=true an error: what every
 * PostgreSQL test (and the SQL portability check) asks first.
 */
export async function requirePostgres(label: string): Promise<boolean> {
  const why = await probe();
  if (why === undefined) return true;
  const message = `PostgreSQL is not reachable at ${TEST_PG_ADMIN_URL} (${why})`;
  if (process.env.CI === 'true') {
    throw new Error(
      `${message}. CI=true requires it: start it (pg_ctlcluster --skip-systemctl-redirect 15 main start) or set LICENSOR_TEST_PG_URL`,
    );
  }
  process.stderr.write(`\n⚠  SKIPPING PostgreSQL tests (${label}): ${message}\n\n`);
  return false;
}

/** A facade on the admin database (one connection), for work that creates nothing lasting in it. */
export const openTestPostgresAdmin = (): PgDb =>
  openPostgres(TEST_PG_ADMIN_URL, { settings: { ...settings, poolSize: 1 } });

export async function createTestPostgres(label: string): Promise<TestPostgres | undefined> {
  if (!(await requirePostgres(label))) return undefined;
  const safeLabel = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .slice(0, 20);
  const database = `${PREFIX}${Date.now()}_${safeLabel}_${randomBytes(3).toString('hex')}`;
  const admin = openPostgres(TEST_PG_ADMIN_URL, { settings: { ...settings, poolSize: 1 } });
  try {
    await dropStale(admin);
    await admin.exec(`CREATE DATABASE ${database}`);
    // A commit returns without waiting for its WAL flush (a crash of PostgreSQL itself could lose the last few;
    // no test crashes it): the migration and copy tests commit hundreds of times. Test databases only.
    await admin.exec(`ALTER DATABASE ${database} SET synchronous_commit = off`);
  } finally {
    await admin.close();
  }
  const url = urlForDatabase(TEST_PG_ADMIN_URL, database);
  const opened: PgDb[] = [];
  return {
    url,
    database,
    open: () => {
      const db = openPostgres(url, { settings });
      opened.push(db);
      return db;
    },
    drop: async () => {
      await Promise.all(opened.splice(0).map((db) => db.close().catch(() => undefined)));
      const a = openPostgres(TEST_PG_ADMIN_URL, { settings: { ...settings, poolSize: 1 } });
      try {
        await a.exec(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      } finally {
        await a.close();
      }
    },
  };
}

async function dropStale(admin: PgDb): Promise<void> {
  const rows = await admin.all<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE ?', [
    `${PREFIX}%`,
  ]);
  for (const { datname } of rows) {
    const created = Number(datname.slice(PREFIX.length).split('_')[0]);
    if (Number.isFinite(created) && Date.now() - created > STALE_MS && /^[a-z0-9_]+$/.test(datname)) {
      await admin.exec(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`).catch(() => undefined);
    }
  }
}
