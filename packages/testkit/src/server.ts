import { copyFileSync, cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  addOperator,
  type Config,
  createApp,
  createLogger,
  DatabaseKeySource,
  formatCompactTimeMs,
  KeyStore,
  type LicensorApp,
  openSqliteDatabase,
  type PostgresDatabase,
  postgresReadiness,
  type Role,
  type ScryptCost,
  type SqliteDatabase,
  type Storage,
  testConfig,
} from '@licensor/server';
import { bodySignHeader, schemeAAuthToken, schemeBSignature } from '@licensor/shared';
import { openTestPostgresDatabase, testPostgresUrlOf } from './postgres';

/**
 * The backend of the databases testkit hands out: SQLite unless LICENSOR_TEST_BACKEND=postgres, which the
 * vitest project `postgres-suite` sets to run the storage-level test files once more on PostgreSQL (issue 16).
 */
export type TestBackend = 'sqlite' | 'postgres';
export const testBackend = (): TestBackend =>
  process.env.LICENSOR_TEST_BACKEND === 'postgres' ? 'postgres' : 'sqlite';

/** A database testkit handed out: `dialect` tells which backend (and so which members) a test has. */
export type TestDatabase = SqliteDatabase | PostgresDatabase;

/** Test fixtures shared by the server's own tests: a real app on a temporary data folder. */
export interface TestApp {
  licensor: LicensorApp;
  db: TestDatabase;
  keys: KeyStore;
  config: Config;
  dataDir: string;
  /** Closes the app and database but keeps the folder (to test restarts). */
  close(): Promise<void>;
  /** Closes and deletes the data folder. */
  destroy(): Promise<void>;
}

/**
 * A folder for a template made once per test process, in the temporary folder. Removed when the process exits
 * normally; vitest ends its workers without their exit handlers, so there the run's temporary folder
 * (vitest.config.ts) takes it away with the run.
 */
function templateFolder(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const TEMPLATE = Symbol.for('licensor.testkit.migratedTemplate');
type WithTemplate = typeof globalThis & { [TEMPLATE]?: Promise<string> };

/**
 * An empty database with every migration applied, made once per test process (held on globalThis, so files that
 * get fresh modules share it too). Migrating costs ~140 ms (one fsync'd transaction per migration); copying the
 * result, ~5 ms.
 */
function migratedTemplate(): Promise<string> {
  const g = globalThis as WithTemplate;
  g[TEMPLATE] ??= (async () => {
    const file = join(templateFolder('licensor-template-'), 'licensor.db');
    await openSqliteDatabase(file).close(); // closing checkpoints the WAL into the file and removes it: complete
    return file;
  })();
  return g[TEMPLATE];
}

const MEMORY_SCHEMA = Symbol.for('licensor.testkit.memorySchema');
/** undefined: not read yet; null: a schema the replay does not handle (virtual tables), so migrate instead. */
type MemorySchema = {
  tables: string;
  rows: { table: string; rows: Record<string, unknown>[] }[];
  rest: string;
} | null;
type WithMemorySchema = typeof globalThis & { [MEMORY_SCHEMA]?: MemorySchema };

/**
 * A migrated in-memory SQLite database, what `openSqliteDatabase(':memory:')` gives: the schema a migrated database
 * ends with (its CREATE statements from sqlite_master, tables first) and its rows (the schema_migrations ledger),
 * read once per test process from a database migrated as usual, replayed in one transaction. About 4 ms of CPU
 * instead of the 12 ms of running every migration again, for the many tests that make an app per test.
 */
export function openMemoryTestDatabase(): SqliteDatabase {
  const g = globalThis as WithMemorySchema;
  if (g[MEMORY_SCHEMA] === undefined) {
    const migrated = openSqliteDatabase(':memory:');
    try {
      const objects = migrated.raw
        .prepare(
          "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY type <> 'table', rowid",
        )
        .all() as { type: string; name: string; sql: string }[];
      const rows = objects
        .filter((o) => o.type === 'table')
        .map((o) => ({
          table: o.name,
          rows: migrated.raw.prepare(`SELECT * FROM "${o.name}"`).all() as Record<string, unknown>[],
        }))
        .filter((t) => t.rows.length > 0);
      // A virtual table's shadow tables are in sqlite_master too, and its CREATE would make them again.
      const virtual = objects.some((o) => /^CREATE VIRTUAL TABLE/i.test(o.sql));
      // Tables, then their rows, then indexes and triggers: a trigger must not fire on the copied rows.
      const script = (list: typeof objects) => list.map((o) => `${o.sql};`).join('\n');
      g[MEMORY_SCHEMA] = virtual
        ? null
        : {
            tables: script(objects.filter((o) => o.type === 'table')),
            rows,
            rest: script(objects.filter((o) => o.type !== 'table')),
          };
    } finally {
      void migrated.close();
    }
  }
  const schema = g[MEMORY_SCHEMA];
  if (!schema) return openSqliteDatabase(':memory:');
  const { tables, rows, rest } = schema;
  const db = openSqliteDatabase(':memory:', { migrate: false });
  db.raw.transaction(() => {
    db.raw.exec(tables);
    for (const { table, rows: values } of rows) {
      const columns = Object.keys(values[0]!);
      const insert = db.raw.prepare(
        `INSERT INTO "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`,
      );
      for (const row of values) insert.run(row);
    }
    db.raw.exec(rest);
  })();
  return db;
}

const KEYS_TEMPLATE = Symbol.for('licensor.testkit.keysTemplate');
type WithKeysTemplate = typeof globalThis & { [KEYS_TEMPLATE]?: string };

/**
 * The key store of a test app's data folder. A folder without one gets a copy of a store made once per test
 * process (a root, a signing key certified by it, both encrypted), as KeyStore.open would create it there:
 * generating and certifying the keys was most of an app's set-up (≈ 6 ms of CPU, a copy ≈ 0.5 ms). The copy keeps
 * the store's 700/600 permissions. Each app owns its copy (rotations, revocations and restarts act on that folder
 * only); apps of one test process share the root, as the instances of one deployment do. A folder with keys (a
 * restart) opens as is.
 */
export function openTestKeyStore(dir: string): KeyStore {
  if (!existsSync(dir)) {
    const g = globalThis as WithKeysTemplate;
    if (!g[KEYS_TEMPLATE]) {
      const template = join(templateFolder('licensor-keys-template-'), 'keys');
      KeyStore.open(template, 'test-passphrase');
      g[KEYS_TEMPLATE] = template;
    }
    cpSync(g[KEYS_TEMPLATE], dir, { recursive: true });
  }
  return KeyStore.open(dir, 'test-passphrase').store;
}

/**
 * A migrated database for a test at `file`, on the backend testBackend() names. SQLite: a file that does not exist
 * yet starts as a copy of the migrated template instead of being migrated again (the same schema, the same
 * migration rows); an existing file (a restart) opens as is. PostgreSQL: the file is a marker naming a database
 * of the run (postgres.ts openTestPostgresDatabase), the same one again while the file exists.
 */
export async function openTestDatabase(file: string): Promise<TestDatabase> {
  if (testBackend() === 'postgres') return openTestPostgresDatabase(file);
  return openTestSqliteDatabase(file);
}

/** openTestDatabase on SQLite whatever the backend switch says, for tests of the SQLite file itself. */
export async function openTestSqliteDatabase(file: string): Promise<SqliteDatabase> {
  if (!existsSync(file)) copyFileSync(await migratedTemplate(), file);
  return openSqliteDatabase(file);
}

/**
 * A fresh migrated database in a folder of its own, deleted (and on PostgreSQL given back) when the database
 * closes: what `openSqliteDatabase(':memory:')` was for the tests that need no file.
 */
export async function openScratchDatabase(): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'licensor-scratch-'));
  const db = await openTestDatabase(join(dir, 'licensor.db'));
  const close = db.close.bind(db);
  return Object.assign(db, {
    close: async () => {
      try {
        await close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  });
}

export async function createTestApp(
  overrides: Partial<Config> & { koo?: Partial<Config['koo']> } = {},
  dataDir?: string,
): Promise<TestApp> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'licensor-test-'));
  const config = testConfig({ ...overrides, dataDir: dir });
  const db = await openTestDatabase(join(dir, 'licensor.db'));
  const keys = openTestKeyStore(join(dir, 'keys'));
  const log = createLogger('silent');
  // On PostgreSQL as startServer wires it (server.ts): signing keys mirrored from the database, /readyz on it.
  let keySource: DatabaseKeySource | undefined;
  if (db.dialect === 'postgres') {
    keySource = await DatabaseKeySource.open(db.pg, keys, { passphrase: 'test-passphrase', log });
    keys.useSource(keySource);
  }
  const readiness = db.dialect === 'postgres' ? postgresReadiness(db.pg) : undefined;
  const licensor = await createApp({ config, db, log, keys, readiness, outbox: { backoffMs: () => 0 } });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await licensor.stop();
    await keySource?.close();
    await db.close();
  };
  return {
    licensor,
    db,
    keys,
    config,
    dataDir: dir,
    close,
    destroy: async () => {
      await close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const PRODUCE = '/api/koogallery/produce';

/** scheme A's `timeStamp`: `yyyyMMddHHmmssSSS` (UTC). */
export const schemeATimestamp = (d = new Date()): string => formatCompactTimeMs(d);

/** A family-A request URL signed like the marketplace does (scheme A, values form-encoded). */
export function signedGetUrl(params: Record<string, string>, key = 'KEY'): string {
  const all = { ...params, timeStamp: params.timeStamp ?? schemeATimestamp() };
  const token = schemeAAuthToken(key, all);
  const q = new URLSearchParams({ ...all, authToken: token });
  return `${PRODUCE}?${q.toString()}`;
}

let nonceCounter = 0;
/** Query string for a scheme-B POST of exactly these body bytes. */
export function signedPostUrl(
  body: string,
  accessKey = 'ACCESSKEY',
  opts: { timestamp?: number; nonce?: string } = {},
): string {
  const timestamp = String(opts.timestamp ?? Date.now());
  const nonce =
    opts.nonce ?? `N${Date.now().toString(36)}${(nonceCounter++).toString(36)}${Math.random().toString(36).slice(2)}`;
  const signature = schemeBSignature(accessKey, nonce, timestamp, body);
  return `${PRODUCE}?signature=${signature}&timestamp=${timestamp}&nonce=${nonce}`;
}

export const expectedBodySign = bodySignHeader;

/** A TCP port that was free a moment ago on 127.0.0.1 (for child processes that need a port up front). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/**
 * scrypt cost of the accounts that tests seed: 2^10 instead of production's 2^15 (PASSWORD_HASH_COST, pinned by
 * operators.test.ts), so a seeded account costs about a millisecond instead of tens. Logins check against the
 * cost stored in the hash, so they are just as cheap, and follow exactly the production path otherwise.
 */
export const TEST_PASSWORD_HASH_COST: Readonly<ScryptCost> = Object.freeze({ N: 2 ** 10, r: 8, p: 1 });

/** An operator account for a test, as `licensor operators add` would create it but with the cheap hash cost. */
export function seedOperator(
  db: Storage,
  input: { name: string; role: Role; password: string },
  actor = 'test',
): ReturnType<typeof addOperator> {
  return addOperator(db, input, actor, { hashCost: TEST_PASSWORD_HASH_COST });
}

/** The database as SQLite, for code that needs its own members (the raw handle, integrity_check); throws otherwise. */
export function sqliteOnly(db: TestDatabase, why: string): SqliteDatabase {
  if (db.dialect !== 'sqlite') throw new Error(`${why}: needs SQLite, not ${db.dialect}`);
  return db;
}

/**
 * The environment a `licensor` CLI run needs to open the database a test app uses: nothing on SQLite (the data
 * folder's licensor.db), LICENSOR_DATABASE_URL of the test database on PostgreSQL.
 */
export function testDatabaseEnv(dataDir: string): Record<string, string> {
  if (testBackend() !== 'postgres') return {};
  return { LICENSOR_DATABASE_URL: testPostgresUrlOf(join(dataDir, 'licensor.db')) };
}
