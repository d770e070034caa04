import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestPostgres } from '@licensor/testkit/postgres';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from './backend';
import { MIGRATIONS } from './migrations';
import { type AnyDatabase, openDatabaseFromUrl } from './open';
import { pgCurrentVersion } from './postgres/migrate';
import { PG_MIGRATIONS } from './postgres/schema';

const lastVersion = (ms: { version: number }[]) => Math.max(...ms.map((m) => m.version));

let dir: string | undefined;
const opened: AnyDatabase[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((d) => d.close()));
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});
const keep = <T extends AnyDatabase>(d: T): T => {
  opened.push(d);
  return d;
};

describe('openDatabaseFromUrl on SQLite', () => {
  it('opens licensor.db in the data folder with the schema current, private', async () => {
    dir = mkdtempSync(join(tmpdir(), 'licensor-open-'));
    const dataDir = join(dir, 'data');
    const db = keep(await openDatabaseFromUrl(parseDatabaseUrl(undefined), { dataDir }));
    expect(db.dialect).toBe('sqlite');
    expect(db.location).toBe(join(dataDir, 'licensor.db'));
    expect(statSync(join(dataDir, 'licensor.db')).mode & 0o777).toBe(0o600);
    expect(await db.first('SELECT MAX(version) AS v FROM schema_migrations')).toEqual({ v: lastVersion(MIGRATIONS) });
  });

  it('opens the file a sqlite: URL names, and leaves the schema alone with migrate: false', async () => {
    dir = mkdtempSync(join(tmpdir(), 'licensor-open-'));
    const file = join(dir, 'elsewhere.db');
    const db = keep(
      await openDatabaseFromUrl(parseDatabaseUrl(`sqlite:${file}`), { dataDir: '/nonexistent', migrate: false }),
    );
    expect(db.location).toBe(file);
    expect(existsSync('/nonexistent/licensor.db')).toBe(false);
    expect(await db.all("SELECT name FROM sqlite_master WHERE type = 'table'")).toEqual([]);
  });
});

const pgTest = await createTestPostgres('open');

describe.skipIf(!pgTest)('openDatabaseFromUrl on PostgreSQL', () => {
  afterAll(() => pgTest?.drop());

  it('leaves the schema alone with migrate: false', async () => {
    const db = keep(await openDatabaseFromUrl(parseDatabaseUrl(pgTest!.url), { dataDir: '/unused', migrate: false }));
    expect(db.dialect).toBe('postgres');
    expect(await pgCurrentVersion(db)).toBe(0);
  });

  it('migrates once under the advisory lock when several instances open the database together', async () => {
    const dbs = await Promise.all(
      [1, 2, 3].map(() => openDatabaseFromUrl(parseDatabaseUrl(pgTest!.url), { dataDir: '/unused' }).then(keep)),
    );
    for (const db of dbs) expect(await pgCurrentVersion(db)).toBe(lastVersion(PG_MIGRATIONS));
    expect(await dbs[0]!.first('SELECT COUNT(*) AS n FROM schema_migrations')).toEqual({ n: PG_MIGRATIONS.length });
    expect(dbs[0]!.location).not.toMatch(/:[^/@]*@/); // no password in what logs show
  });

  it('fails with STORAGE_UNAVAILABLE when the server does not answer', async () => {
    const err = await openDatabaseFromUrl(parseDatabaseUrl('postgres://nobody@127.0.0.1:1/none'), {
      dataDir: '/unused',
      postgres: {
        settings: {
          poolSize: 1,
          statementTimeoutMs: 1000,
          connectTimeoutMs: 500,
          ssl: undefined,
          sslCaFile: undefined,
          applicationName: 'licensor-tests',
        },
      },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
  });
});
