import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import {
  migratePostgres,
  openPostgres,
  type PgDb,
  type PostgresDatabase,
  postgresDatabase,
  postgresUnreachable,
} from '@licensor/server';
import { testPgRun } from './pgRun';

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
  /** Opens a facade on the test database, or on a schema of it (a schemaUrl), closed by drop(). */
  open(schemaUrl?: string): PgDb;
  /** Creates an empty schema in the test database and returns a URL whose connections use it (search_path). */
  schemaUrl(schema: string): Promise<string>;
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

/**
 * `template`: the new database is a copy of that one (CREATE DATABASE … TEMPLATE, which needs it to have no
 * connections: see waitUntilUnused), else an empty one.
 */
export async function createTestPostgres(
  label: string,
  { template }: { template?: string } = {},
): Promise<TestPostgres | undefined> {
  if (!(await requirePostgres(label))) return undefined;
  const safeLabel = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .slice(0, 20);
  const database = `${PREFIX}${Date.now()}_${safeLabel}_${randomBytes(3).toString('hex')}`;
  const admin = openPostgres(TEST_PG_ADMIN_URL, { settings: { ...settings, poolSize: 1 } });
  try {
    await dropStale(admin);
    await admin.exec(`CREATE DATABASE ${database}${template ? ` TEMPLATE ${template}` : ''}`);
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
    open: (schemaUrl) => {
      const db = openPostgres(schemaUrl ?? url, { settings });
      opened.push(db);
      return db;
    },
    schemaUrl: async (schema) => {
      const admin = openPostgres(url, { settings: { ...settings, poolSize: 1 } });
      try {
        await admin.exec(`CREATE SCHEMA ${schema}`);
      } finally {
        await admin.close();
      }
      const u = new URL(url);
      u.searchParams.set('options', `-c search_path=${schema}`);
      return u.toString();
    },
    drop: async () => {
      await Promise.all(opened.splice(0).map((db) => db.close().catch(() => undefined)));
      // Cleanup may wait: for a connection when many drops start at once, for the checkpoint a drop asks for.
      const a = openPostgres(TEST_PG_ADMIN_URL, {
        settings: { ...settings, poolSize: 1, statementTimeoutMs: 0, connectTimeoutMs: 30_000 },
      });
      try {
        await a.exec(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      } finally {
        await a.close();
      }
    },
  };
}

/**
 * Resolves once no session is connected to `database` any more: a closed pool's backends exit a moment after it
 * closes, and CREATE DATABASE … TEMPLATE refuses a template in use (or sleeps 100 ms before it looks again).
 */
export async function waitUntilUnused(admin: PgDb, database: string): Promise<void> {
  for (const started = Date.now(); ; await new Promise((r) => setTimeout(r, 5))) {
    const row = await admin.first<{ n: number }>('SELECT COUNT(*)::int AS n FROM pg_stat_activity WHERE datname = ?', [
      database,
    ]);
    if (row?.n === 0) return;
    if (Date.now() - started > 10_000) throw new Error(`${database} still has ${row?.n} sessions after 10 s`);
  }
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

// ---------------------------------------------------------------------------------------------------------------
// The PostgreSQL half of testkit's backend switch (server.ts openTestDatabase, LICENSOR_TEST_BACKEND=postgres).

// TEST_PG_RUN_ENV and testPgRun live in pgRun.ts, which imports nothing else: the suite's global setup needs them
// before the tests start, and this module loads the server.
export { TEST_PG_RUN_ENV, testPgRun } from './pgRun';
/** Every database of a run starts with this (dropStale parses the time after PREFIX). */
export const runPrefix = (run: string): string => `${PREFIX}${run}_`;

/** What a test database file holds on PostgreSQL: the name of the database that stands for it. */
const MARKER = 'licensor-test-postgres:';

/** Connections per test database: requests of one test app run concurrently, and SERIALIZABLE reruns collisions. */
const TEST_DB_POOL = 3;

interface Databases {
  /** A migrated database that nobody connects to, the source of CREATE DATABASE … TEMPLATE. */
  template: Promise<{ name: string; reset: string }> | undefined;
  /** Pools of test databases that no app holds now, by database: the next app's, instead of new connections. */
  idlePools: Map<string, PgDb[]>;
  /** Bumped when a database is emptied for another test: an app that never closed its lease loses it then. */
  generation: Map<string, number>;
  /** Databases whose file (marker) was deleted: emptied and handed out again instead of creating one. */
  free: string[];
  /** Database → the file that stands for it. */
  inUse: Map<string, string>;
  serial: number;
}

const DATABASES = Symbol.for('licensor.testkit.postgresDatabases');
type WithDatabases = typeof globalThis & { [DATABASES]?: Databases };
const databases = (): Databases => {
  const g = globalThis as WithDatabases;
  g[DATABASES] ??= {
    template: undefined,
    idlePools: new Map(),
    generation: new Map(),
    free: [],
    inUse: new Map(),
    serial: 0,
  };
  return g[DATABASES];
};

const adminDo = async <T>(fn: (admin: PgDb) => Promise<T>): Promise<T> => {
  const admin = openTestPostgresAdmin();
  try {
    return await fn(admin);
  } finally {
    await admin.close();
  }
};

/**
 * CREATE DATABASE with what every test database needs: C.UTF-8 collation (as the deployment guide asks, so
 * ORDER BY on text sorts by code point on both backends) and synchronous_commit off (no test crashes PostgreSQL).
 */
async function createDatabase(admin: PgDb, name: string, template?: string): Promise<void> {
  await admin.exec(
    template
      ? `CREATE DATABASE ${name} TEMPLATE ${template} STRATEGY WAL_LOG`
      : `CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'`,
  );
  await admin.exec(`ALTER DATABASE ${name} SET synchronous_commit = off`);
}

/**
 * SQL that empties every table of the connection's current schema but schema_migrations, as it was after
 * migrating. DELETE rather than TRUNCATE: a test leaves a few rows, and TRUNCATE replaces every table's and
 * index's files (≈ 0.2–0.6 s for the schema on a loaded machine, against a few ms). Foreign keys are not checked
 * (replica role) since everything goes; identities restart so ids begin at 1 as in a new database.
 */
async function emptyingSql(db: PgDb): Promise<string> {
  const tables = await db.all<{ t: string }>(
    "SELECT tablename AS t FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'schema_migrations' ORDER BY 1",
  );
  const identities = await db.all<{ s: string }>(
    `SELECT pg_get_serial_sequence(quote_ident(table_name), column_name) AS s FROM information_schema.columns
     WHERE table_schema = current_schema() AND is_identity = 'YES' ORDER BY 1`,
  );
  return [
    'SET session_replication_role = replica',
    ...tables.map((r) => `DELETE FROM "${r.t}"`),
    ...identities.map((r) => `SELECT setval('${r.s}', 1, false)`),
    'SET session_replication_role = DEFAULT',
  ].join(';\n');
}

/**
 * Empties the migrated schema a URL names (schemaUrl) for the next test, which then starts as on a newly migrated
 * one: cheaper than a new schema and all the migrations again.
 */
export async function emptyTestSchema(url: string): Promise<void> {
  const db = openPostgres(url, { settings: { ...settings, poolSize: 1 } });
  try {
    await db.exec(await emptyingSql(db));
  } finally {
    await db.close();
  }
}

/** The migrated template of this process, made once (~0.5 s); copies of it take ~0.1–0.3 s. */
function template(): Promise<{ name: string; reset: string }> {
  const d = databases();
  d.template ??= adminDo(async (admin) => {
    await dropStale(admin);
    const name = `${runPrefix(testPgRun())}tpl_${process.pid}`;
    await createDatabase(admin, name);
    const db = openPostgres(urlForDatabase(TEST_PG_ADMIN_URL, name), { settings: { ...settings, poolSize: 1 } });
    try {
      await migratePostgres(db);
      const reset = await emptyingSql(db);
      return { name, reset };
    } finally {
      await db.close();
    }
  });
  return d.template;
}

/**
 * A database for the test file `file` (a marker file holding the database's name stands in for the SQLite file):
 * the same database again while the file exists (a restart, a second app on one data folder), else an empty
 * migrated one, which is one the earlier tests of this process gave back (their file is gone: emptied) or else a new copy of the template. So a test file uses a database or two, not one per test.
 */
export async function openTestPostgresDatabase(file: string): Promise<PostgresDatabase> {
  if (!(await requirePostgres('LICENSOR_TEST_BACKEND=postgres'))) {
    throw new Error('LICENSOR_TEST_BACKEND=postgres but PostgreSQL is not reachable (see the warning above)');
  }
  if (existsSync(file)) {
    const text = readFileSync(file, 'utf8');
    if (!text.startsWith(MARKER)) throw new Error(`${file} is not a PostgreSQL test database marker`);
    return postgresDatabase(leasePool(text.slice(MARKER.length).trim()));
  }
  const { name, reset } = await takeEmptyDatabase(file);
  writeFileSync(file, `${MARKER}${name}\n`);
  if (reset) {
    const d = databases();
    // An app that never closed: its lease ends here, so it cannot write into the next test.
    d.generation.set(name, (d.generation.get(name) ?? 0) + 1);
    const db = leasePool(name);
    try {
      // Other processes' connections (servers and CLIs a test started and left running): they must not write into
      // the next test either. This process's pools stay (their application name), ready for the next app.
      await db.run(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ? AND application_name <> ? AND pid <> pg_backend_pid()',
        [name, POOL_APPLICATION],
      );
      await db.exec(reset);
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
    return postgresDatabase(db);
  }
  return postgresDatabase(leasePool(name));
}

/** The application name of this process's pools on test databases (spared by the reset's pg_terminate_backend). */
const POOL_APPLICATION = `licensor-tests-${process.pid}`;

/**
 * A pool on the test database `name` for one app: an idle one an earlier app of this process closed, else a new
 * one. Starting a connection costs PostgreSQL ≈ 5–10 ms of CPU and the suite's tests opened more than a thousand;
 * here an app's close() gives its pool back instead of ending it. Closing waits for the app's statements in flight
 * (as ending a pool does); afterwards, or once the database was handed to another test, every call fails as on an
 * ended pool.
 */
function leasePool(name: string): PgDb {
  const d = databases();
  const pool =
    d.idlePools.get(name)?.pop() ??
    openPostgres(urlForDatabase(TEST_PG_ADMIN_URL, name), {
      settings: { ...settings, poolSize: TEST_DB_POOL, applicationName: POOL_APPLICATION },
    });
  const current = () => d.generation.get(name) ?? 0;
  const generation = current();
  let closed = false;
  let inFlight = 0;
  let settled: (() => void) | undefined;
  const use = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (closed || current() !== generation) {
      throw new Error(`the test database ${name} was closed or handed to another test`);
    }
    inFlight++;
    try {
      return await fn();
    } finally {
      if (--inFlight === 0) settled?.();
    }
  };
  return {
    url: pool.url,
    all: (sql, params) => use(() => pool.all(sql, params)),
    first: (sql, params) => use(() => pool.first(sql, params)),
    run: (sql, params) => use(() => pool.run(sql, params)),
    exec: (sql) => use(() => pool.exec(sql)),
    transaction: (fn, opts) => use(() => pool.transaction(fn, opts)),
    withClient: (fn) => use(() => pool.withClient(fn)),
    connectDedicated: () => use(() => pool.connectDedicated()),
    ping: () => use(() => pool.ping()),
    close: async () => {
      if (closed) throw new Error('Called end on pool more than once');
      closed = true;
      if (inFlight > 0) await new Promise<void>((resolve) => (settled = resolve));
      const idle = d.idlePools.get(name) ?? [];
      d.idlePools.set(name, idle);
      idle.push(pool);
    },
  };
}

/** The URL of the database a marker file (openTestPostgresDatabase) stands for. */
export function testPostgresUrlOf(file: string): string {
  const text = readFileSync(file, 'utf8');
  if (!text.startsWith(MARKER)) throw new Error(`${file} is not a PostgreSQL test database marker`);
  return urlForDatabase(TEST_PG_ADMIN_URL, text.slice(MARKER.length).trim());
}

/** A database for `file`: one given back by an earlier test (with the SQL that empties it), else a new copy. */
async function takeEmptyDatabase(file: string): Promise<{ name: string; reset?: string }> {
  const d = databases();
  const { name: tpl, reset } = await template();
  for (const [db, marker] of d.inUse) {
    if (!existsSync(marker)) {
      d.inUse.delete(db);
      d.free.push(db);
    }
  }
  const reused = d.free.pop();
  if (reused) {
    d.inUse.set(reused, file);
    return { name: reused, reset };
  }
  const name = `${runPrefix(testPgRun())}${process.pid}_${++d.serial}`;
  d.inUse.set(name, file);
  await adminDo((admin) => createDatabase(admin, name, tpl));
  return { name };
}

/**
 * Drops every database of the run `run` (the suite's global teardown), four at a time: each DROP DATABASE waits for
 * a checkpoint, and drops waiting at the same time share one instead of queueing for one each.
 */
export async function dropRunDatabases(run: string): Promise<number> {
  // No statement timeout: a drop that waits for a long checkpoint (a loaded machine, many databases) must finish.
  const admin = openPostgres(TEST_PG_ADMIN_URL, { settings: { ...settings, poolSize: 4, statementTimeoutMs: 0 } });
  try {
    const rows = await admin.all<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE ?', [
      `${runPrefix(run)}%`,
    ]);
    const names = rows.map((r) => r.datname).filter((name) => /^[a-z0-9_]+$/.test(name));
    // Four loops on four connections (a pool's queue would time a waiting statement out after connectTimeoutMs).
    await Promise.all(
      [0, 1, 2, 3].map(async () => {
        for (let name = names.shift(); name; name = names.shift()) {
          await admin.exec(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        }
      }),
    );
    return rows.length;
  } finally {
    await admin.close();
  }
}

/** What `commitOnceRacerWaits` needs of a dedicated connection (`db.pg.connectDedicated()`). */
interface QueryClient {
  query(sql: string): Promise<{ rows: { n: number }[] }>;
}

/**
 * Starts `racer`, then commits the transaction open on `client` once another transaction of the database waits for
 * one of its locks (a row or key it wrote), or once `racer` has finished (it took no lock the transaction holds), and
 * returns the racer's result: how a test puts a request exactly between a concurrent writer's write and its COMMIT.
 * With `mustWait`, a racer that finished without ever waiting on this transaction fails the test.
 */
export async function commitOnceRacerWaits<T>(
  client: QueryClient,
  racer: () => Promise<T>,
  what: string,
  { mustWait = false }: { mustWait?: boolean } = {},
): Promise<T> {
  // Only a wait on this transaction counts (pg_blocking_pids), not another test's or the racer's own pool's.
  const { rows: self } = await client.query('SELECT pg_backend_pid()::int AS n');
  const pid = Number(self[0]!.n);
  // (A supertest request starts only once awaited.)
  const raced = (async () => await racer())();
  let settled = false;
  void raced.then(
    () => (settled = true),
    () => (settled = true),
  );
  let sawWait = false;
  for (let waited = 0; !settled; waited += 10) {
    const { rows } = await client.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE ${pid} = ANY(pg_blocking_pids(pid))`,
    );
    if (rows[0]!.n > 0) {
      sawWait = true;
      break;
    }
    if (waited > 10_000) throw new Error(`${what} never waited for the uncommitted writes`);
    await new Promise((r) => setTimeout(r, 10));
  }
  await client.query('COMMIT');
  const result = await raced;
  // A racer that finished without waiting did not race: the test would pass without testing the race.
  if (mustWait && !sawWait) throw new Error(`${what} finished without waiting for the uncommitted writes`);
  return result;
}
