import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { activationBody, newDevice, seedEntitlement } from '@licensor/testkit/licensing';
import { createTestPostgres } from '@licensor/testkit/postgres';
import { createTestApp } from '@licensor/testkit/server';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testConfig } from '../config';
import { parseDatabaseUrl } from '../db/backend';
import { sqliteTables } from '../db/introspect';
import { migrate } from '../db/migrations';
import { migrationTarget, openSqliteDatabase } from '../db/sqlite';
import { activate } from '../licensing';
import { createLogger } from '../logger';
import { startServer } from '../server';
import { EXIT, main } from './index';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'licensor-db-cli-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  let out = '';
  let err = '';
  const code = await main(['--data-dir', dir, ...args], {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: { LICENSOR_KEY_PASSPHRASE: 'test-passphrase', ...env },
  });
  // biome-ignore lint/suspicious/noExplicitAny: reading --json output
  return { code, out, err, json: (): any => JSON.parse(out) };
}

describe('db status and db migrate on SQLite (LICENSOR_DATABASE_URL unset or sqlite:)', () => {
  it('shows a missing database, migrates it, then shows it current', async () => {
    const before = await cli(['db', 'status', '--json']);
    expect(before.code).toBe(EXIT.ok);
    expect(before.json()).toMatchObject({ backend: 'sqlite', exists: false, version: 0, current: false });
    expect((await cli(['db', 'migrate'])).code).toBe(EXIT.ok);
    const after = await cli(['db', 'status', '--json']);
    expect(after.json()).toMatchObject({ backend: 'sqlite', exists: true, current: true, pending: [] });
    expect(after.json().version).toBe(after.json().latest);
    const human = await cli(['db', 'status']);
    expect(human.out).toMatch(/Backend:\s+SQLite/);
    expect(human.out).toMatch(/State:\s+up to date/);
  });

  it('uses the file a sqlite: URL names', async () => {
    const file = join(dir, 'elsewhere.db');
    expect((await cli(['db', 'migrate'], { LICENSOR_DATABASE_URL: `sqlite:${file}` })).code).toBe(EXIT.ok);
    const status = await cli(['db', 'status', '--json'], { LICENSOR_DATABASE_URL: `sqlite:${file}` });
    expect(status.json()).toMatchObject({ location: file, exists: true, current: true });
  });

  it('refuses an unknown database URL scheme with what to use instead', async () => {
    const r = await cli(['db', 'status'], { LICENSOR_DATABASE_URL: 'mysql://db/licensor' });
    expect(r.code).toBe(EXIT.config);
    expect(r.err).toContain('must start with sqlite:');
  });
});

describe('the CLI on a PostgreSQL URL', () => {
  it('db backup says to use pg_dump; an unreachable PostgreSQL says what to check', async () => {
    // Nothing listens on port 1: the connection is refused at once.
    const env = { LICENSOR_DATABASE_URL: 'postgres://licensor:secret@127.0.0.1:1/licensor?connect_timeout=2' };
    const backup = await cli(['db', 'backup', join(dir, 'b.db')], env);
    expect(backup.code).toBe(EXIT.config);
    expect(backup.err).toContain('pg_dump');
    const tokens = await cli(['tokens', 'list'], env);
    expect(tokens.code).toBe(EXIT.config);
    expect(tokens.err).toContain('Check that PostgreSQL runs and that LICENSOR_DATABASE_URL');
    expect(tokens.err).toContain('licensor:***@127.0.0.1:1');
    expect(tokens.err).not.toContain('secret');
  });
});

const pgTest = await createTestPostgres('db_cli');

describe.skipIf(!pgTest)('db status, migrate and copy on PostgreSQL', () => {
  afterAll(() => pgTest?.drop());

  /** A fresh schema in the test database, as a URL (each test gets an empty target). */
  const emptyTarget = (name: string): Promise<string> => pgTest!.schemaUrl(name);

  it('the server starts on a fresh database: migrated, ready, and activating devices', async () => {
    const url = await emptyTarget('serve');
    const running = await startServer(
      testConfig({ dataDir: join(dir, 'serve'), database: parseDatabaseUrl(url), port: 0, host: '127.0.0.1' }),
      createLogger('silent'),
    );
    try {
      expect(running.db.dialect).toBe('postgres');
      const ready = await fetch(`${running.url}/readyz`);
      expect(ready.status, await ready.clone().text()).toBe(200);
      const ent = await seedEntitlement(running.db, { seats: 1 });
      const post = (body: unknown) =>
        fetch(`${running.url}/api/v1/activations`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const first = await post(activationBody(newDevice(), ent.code!));
      expect(first.status, await first.clone().text()).toBe(200);
      expect(((await first.json()) as { status: string }).status).toBe('VALID');
      // The seat limit holds on PostgreSQL too: a second device of a 1-seat code is refused.
      const second = await post(activationBody(newDevice(), ent.code!));
      expect(second.status).toBe(409);
      expect(((await second.json()) as { error: { code: string } }).error.code).toBe('TOO_MANY_DEVICES');
      const seats = await running.db.all<{ seat: number }>(
        "SELECT seat FROM activations WHERE entitlement_id = ? AND status = 'active'",
        [ent.id],
      );
      expect(seats).toEqual([{ seat: 0 }]);
    } finally {
      await running.close();
    }
  });

  /** A SQLite database with rows in many tables, written by the real code paths. */
  async function seededSqlite(): Promise<string> {
    const t = await createTestApp({}, dir);
    try {
      const ent = await seedEntitlement(t.db, { seats: 3 });
      for (let i = 0; i < 3; i++) {
        const device = newDevice();
        await activate(t.licensor.ctx, activationBody(device, ent.code!));
      }
      // One transaction: 2500 commits of their own were 2500 fsyncs (≈ 11 s on a loaded machine).
      await t.db.transaction(async (tx) => {
        for (let i = 0; i < 2500; i++) {
          await tx.run(
            `INSERT INTO marketplace_messages (direction, activity, result_code, latency_ms, created_at, code, test)
             VALUES ('in', 'getLicense', '000000', ?, ?, ?, 0)`,
            [i / 7, new Date(1_700_000_000_000 + i).toISOString(), i % 3 ? null : `LSR-${i}-'quoted' "and" 中文`],
          );
        }
      });
      await t.db.run(
        "INSERT INTO outbox (kind, payload, status, next_attempt_at, created_at, updated_at) VALUES ('x', '{}', 'pending', 1700000000000, 'now', 'now')",
      );
      // Earlier builds stored a jittered retry time with a fraction of a millisecond (SQLite keeps it as a REAL).
      await t.db.run(
        "INSERT INTO outbox (kind, payload, status, next_attempt_at, created_at, updated_at) VALUES ('y', '{}', 'pending', 1700000000000.6, 'now', 'now')",
      );
    } finally {
      await t.close();
    }
    return join(dir, 'licensor.db');
  }

  it('db status shows the PostgreSQL schema version and pending migrations; db migrate applies them', async () => {
    const url = await emptyTarget('cli_status');
    const env = { LICENSOR_DATABASE_URL: url };
    const before = await cli(['db', 'status', '--json'], env);
    expect(before.code).toBe(EXIT.ok);
    expect(before.json()).toMatchObject({ backend: 'postgres', version: 0, current: false });
    expect(before.json().pending.length).toBeGreaterThan(0);
    const migrated = await cli(['db', 'migrate', '--json'], env);
    expect(migrated.code).toBe(EXIT.ok);
    expect(migrated.json().applied).toEqual(before.json().pending.map((p: { version: number }) => p.version));
    const after = await cli(['db', 'status'], env);
    expect(after.out).toMatch(/Backend:\s+PostgreSQL/);
    expect(after.out).toMatch(/State:\s+up to date/);
    expect((await cli(['db', 'migrate'], env)).out).toContain('is up to date');
  });

  it('db copy moves every table with verified counts and checksums, refuses a non-empty target unless --force', async () => {
    const file = await seededSqlite();
    const url = await emptyTarget('cli_copy');
    const copy = await cli(['db', 'copy', '--from', file, '--to', url, '--json', '--batch-rows', '500']);
    expect(copy.err).toContain('copy marketplace_messages: 2500/2500 rows (100%)');
    expect(copy.code).toBe(EXIT.ok);
    const report = copy.json();

    const sqlite = openSqliteDatabase(file, { readonly: true, migrate: false });
    const tables = sqliteTables(sqlite).filter((t) => t.name !== 'schema_migrations');
    expect(report.tables.map((t: { table: string }) => t.table).sort()).toEqual(tables.map((t) => t.name).sort());
    // On the schema's URL, not a SET on one pooled connection: the pool closes a connection idle for 10 s, and the
    // copies below can take that long on a loaded machine (the next query then ran on a new connection without it).
    const pg = pgTest!.open(url);
    for (const t of tables) {
      const n = (await sqlite.first<{ n: number }>(`SELECT COUNT(*) AS n FROM "${t.name}"`))!.n;
      expect(report.tables.find((r: { table: string }) => r.table === t.name).rows).toBe(n);
    }
    expect(report.tables.find((r: { table: string }) => r.table === 'activations').rows).toBe(3);
    // Values arrive intact: the same rows, text with quotes and CJK, fractional latencies.
    const sample = (db: { all: (sql: string) => unknown }) =>
      db.all('SELECT id, code, latency_ms FROM marketplace_messages WHERE id IN (1, 4, 2500) ORDER BY id');
    const fromPg = await pg.all(
      'SELECT id, code, latency_ms FROM marketplace_messages WHERE id IN (1, 4, 2500) ORDER BY id',
    );
    expect(fromPg).toEqual(await sample(sqlite));
    // A retry time with a fraction of a millisecond arrives as whole milliseconds (the column is a bigint).
    expect(await pg.all('SELECT kind, next_attempt_at FROM outbox ORDER BY id')).toEqual([
      { kind: 'x', next_attempt_at: 1_700_000_000_000 },
      { kind: 'y', next_attempt_at: 1_700_000_000_001 },
    ]);
    // Identity columns continue after the copied ids.
    await pg.run("INSERT INTO marketplace_messages (direction, activity, created_at) VALUES ('in', 'x', 'now')");
    expect((await pg.first<{ m: number }>('SELECT MAX(id) AS m FROM marketplace_messages'))!.m).toBe(2501);
    await sqlite.close();

    const again = await cli(['db', 'copy', '--from', file, '--to', url]);
    expect(again.code).toBe(EXIT.invalidInput);
    expect(again.err).toContain('already holds data');
    expect(again.err).toContain('--force');
    const forced = await cli(['db', 'copy', '--from', file, '--to', url, '--force']);
    expect(forced.code).toBe(EXIT.ok);
    expect(forced.out).toContain('row counts and checksums verified');
    expect((await pg.first<{ m: number }>('SELECT MAX(id) AS m FROM marketplace_messages'))!.m).toBe(2500);
    await pg.close();
  });

  it('db copy verifies what PostgreSQL stored, and commits nothing when it differs', async () => {
    const file = await seededSqlite();
    const url = await emptyTarget('cli_tamper');
    // Migrate first, then make PostgreSQL change one value on the way in (as a faulty trigger or type would).
    expect((await cli(['db', 'migrate'], { LICENSOR_DATABASE_URL: url })).code).toBe(EXIT.ok);
    const pg = pgTest!.open(url);
    await pg.exec(`
      CREATE FUNCTION tamper() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.id = 7 THEN NEW.result_code := '000004'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER tamper BEFORE INSERT ON marketplace_messages FOR EACH ROW EXECUTE FUNCTION tamper();`);
    const copy = await cli(['db', 'copy', '--from', file, '--to', url]);
    expect(copy.code).toBe(EXIT.internal);
    expect(copy.err).toContain('Verification of marketplace_messages failed');
    expect(copy.err).toContain('nothing was committed');
    expect(await pg.first('SELECT COUNT(*) AS n FROM entitlements')).toEqual({ n: 0 });
    await pg.close();
  });

  it('a URL naming a database or role PostgreSQL does not have is a configuration error that says what to change', async () => {
    const url = new URL(pgTest!.url);
    url.pathname = '/licensor_no_such_database';
    const noDatabase = await cli(['db', 'status'], { LICENSOR_DATABASE_URL: url.href });
    expect(noDatabase.err).toContain('database "licensor_no_such_database" does not exist');
    expect(noDatabase.err).toContain('"Creating the database"');
    expect(noDatabase.code).toBe(EXIT.config);
    const noRole = new URL(pgTest!.url);
    noRole.username = 'licensor_no_such_role';
    const tokens = await cli(['tokens', 'list'], { LICENSOR_DATABASE_URL: noRole.href });
    expect(tokens.err).toContain('correct the user in LICENSOR_DATABASE_URL');
    expect(tokens.code).toBe(EXIT.config);
  });

  it('db copy refuses a SQLite database that is behind this build', async () => {
    const file = join(dir, 'old.db');
    const old = openSqliteDatabase(file, { migrate: false });
    migrate(migrationTarget(old.raw), 6);
    await old.close();
    const copy = await cli(['db', 'copy', '--from', file, '--to', await emptyTarget('cli_old')]);
    expect(copy.code).toBe(EXIT.invalidInput);
    expect(copy.err).toContain('run `licensor db migrate` on it first');
  });
});
