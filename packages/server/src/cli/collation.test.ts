import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestPostgres, openTestPostgresAdmin, urlForDatabase } from '@licensor/testkit/postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { testConfig } from '../config';
import { parseDatabaseUrl } from '../db/backend';
import { databaseCollation } from '../db/postgres/collation';
import { openPostgres } from '../db/postgres/facade';
import { migratePostgres, pgCurrentVersion } from '../db/postgres/migrate';
import { createLogger } from '../logger';
import { startServer } from '../server';
import { main } from './index';

/**
 * A database that sorts text linguistically is refused before anything is created in it (start-up,
 * `db migrate`), with the statement that makes a right one; `db status` shows the collation either way. The
 * cluster's own databases are C.UTF-8; the other database here uses an ICU collation (en-US), created for the test.
 */

const cTest = await createTestPostgres('collation_c');
/** A database with an ICU collation, or undefined (with a warning) when the cluster has no ICU. */
async function createIcuDatabase(): Promise<{ name: string; url: string } | undefined> {
  if (!cTest) return undefined;
  const admin = openTestPostgresAdmin();
  try {
    const icu = await admin.first<{ n: number }>(
      "SELECT COUNT(*)::int AS n FROM pg_collation WHERE collprovider = 'i'",
    );
    if (!icu?.n) {
      process.stderr.write('\n⚠  SKIPPING the ICU-collation database test: this PostgreSQL has no ICU collations\n\n');
      return undefined;
    }
    const name = `licensor_t_${Date.now()}_collation_icu_${randomBytes(3).toString('hex')}`;
    await admin.exec(
      `CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'`,
    );
    return { name, url: urlForDatabase(cTest.url, name) };
  } finally {
    await admin.close();
  }
}
const icuDb = await createIcuDatabase();
const icuUrl = icuDb?.url;

afterAll(async () => {
  await cTest?.drop();
  if (icuDb) {
    const admin = openTestPostgresAdmin();
    await admin.exec(`DROP DATABASE IF EXISTS ${icuDb.name} WITH (FORCE)`).finally(() => admin.close());
  }
});

async function cli(args: string[], url: string) {
  const dir = mkdtempSync(join(tmpdir(), 'licensor-collation-'));
  let out = '';
  let err = '';
  try {
    const code = await main(['--data-dir', dir, ...args], {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
      env: { LICENSOR_DATABASE_URL: url },
    });
    // biome-ignore lint/suspicious/noExplicitAny: reading --json output
    return { code, out, err, json: (): any => JSON.parse(out) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!cTest)('PostgreSQL collation', () => {
  it('a C.UTF-8 database is byte order: migrated, and db status says so', async () => {
    const db = openPostgres(cTest!.url);
    try {
      expect(await databaseCollation(db)).toMatchObject({ provider: 'libc', byteOrder: true });
      await migratePostgres(db);
    } finally {
      await db.close();
    }
    const status = await cli(['db', 'status'], cTest!.url);
    expect(status.out).toMatch(/Collation:\s+C\.UTF-8 \(libc\): byte order/);
    expect(status.out).toMatch(/State:\s+up to date/);
  });

  it.skipIf(!icuUrl)(
    'an ICU database is refused by db migrate and start-up, with nothing created; db status shows why',
    async () => {
      if (!icuUrl) throw new Error('unreachable: skipped without an ICU database');
      const db = openPostgres(icuUrl);
      try {
        // Why it matters: the same ORDER BY gives another order than SQLite's bytes.
        const order = await db.all<{ x: string }>(
          "SELECT x FROM (VALUES ('a'), ('B'), ('_z'), ('-z')) v(x) ORDER BY x",
        );
        expect(order.map((r) => r.x)).not.toEqual(['-z', 'B', '_z', 'a']);
        expect(await databaseCollation(db)).toMatchObject({ provider: 'icu', collation: 'en-US', byteOrder: false });
      } finally {
        await db.close();
      }

      const migrate = await cli(['db', 'migrate'], icuUrl);
      expect(migrate.code).toBe(4);
      expect(migrate.err).toContain('orders text by the collation en-US (icu)');
      expect(migrate.err).toContain("LC_COLLATE 'C.UTF-8'");
      expect(migrate.err).toContain('CREATE DATABASE');
      // A new database takes its template's provider: on a cluster whose template0 is ICU, the statement without
      // LOCALE_PROVIDER libc would create another ICU database, refused again.
      expect(migrate.err).toContain("LOCALE_PROVIDER libc LC_COLLATE 'C.UTF-8'");

      await expect(
        startServer(
          testConfig({
            dataDir: mkdtempSync(join(tmpdir(), 'licensor-collation-')),
            database: parseDatabaseUrl(icuUrl),
          }),
          createLogger('silent'),
        ),
      ).rejects.toThrow(/LC_COLLATE 'C\.UTF-8'/);

      const after = openPostgres(icuUrl);
      try {
        expect(await pgCurrentVersion(after)).toBe(0);
      } finally {
        await after.close();
      }

      const status = await cli(['--json', 'db', 'status'], icuUrl);
      expect(status.code).toBe(0);
      expect(status.json()).toMatchObject({ current: false, collation: { provider: 'icu', byteOrder: false } });
      expect((await cli(['db', 'status'], icuUrl)).out).toMatch(/State:\s+not servable/);
    },
  );
});
