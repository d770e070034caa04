import { seedEntitlement } from '@licensor/testkit/licensing';
import { createTestPostgres } from '@licensor/testkit/postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '../../db/backend';
import { type AnyDatabase, openDatabaseFromUrl } from '../../db/open';
import { asciiLower, textSearch } from '../../db/textSearch';
import { listTenants } from '../../kit/queries';
import { listAudit } from './audit';
import { listEntitlements } from './entitlements';

/**
 * The console's search finds the same rows on SQLite and PostgreSQL: A–Z in either case, everything else exactly
 * as typed, `%` `_` `\` literal. Each backend is checked against the same reference (a JS substring test after
 * folding A–Z), so the two agree with each other and with what the merchant guide promises.
 */

const TEXTS = [
  'Müller GmbH',
  'MÜLLER GMBH',
  'müller gmbh',
  'Mueller',
  'Straße 5',
  'STRASSE 5',
  'strasse 5',
  'GROẞE',
  '华为技术有限公司',
  '華為',
  'ACME_1',
  'ACME%1',
  'acme-1',
  'acmex1',
  'back\\slash',
  'Σίσυφος',
  'ΣΊΣΥΦΟΣ',
  'İstanbul',
  'istanbul',
  'ＡＣＭＥ',
  null,
];

const QUERIES = [
  'müller',
  'MÜLLER',
  'MüLLER',
  'mu',
  'strasse',
  'STRASSE',
  'ß',
  'ẞ',
  'SS',
  '华为',
  '為',
  '_',
  '%',
  'acme_',
  'ACME%',
  '\\',
  'h\\s',
  'σ',
  'Σ',
  'i',
  'İ',
  'ａｃｍｅ',
  'ＡＣＭＥ',
];

const reference = (q: string) =>
  TEXTS.flatMap((t, i) => (t !== null && asciiLower(t).includes(asciiLower(q)) ? [i + 1] : []));

const pgTest = await createTestPostgres('text_search');
afterAll(() => pgTest?.drop());

const backends = [
  { name: 'SQLite', skip: false, url: () => undefined },
  { name: 'PostgreSQL', skip: !pgTest, url: () => pgTest?.url },
];

describe.each(backends)('text search on $name', ({ skip, url }) => {
  async function withDb<T>(fn: (db: AnyDatabase) => Promise<T>): Promise<T> {
    const db = await openDatabaseFromUrl(parseDatabaseUrl(url()), { dataDir: ':memory:' });
    try {
      return await fn(db);
    } finally {
      await db.close();
    }
  }

  it.skipIf(skip)('folds A–Z only, matches other letters and CJK exactly, and takes % _ \\ literally', async () => {
    await withDb(async (db) => {
      await db.exec('DROP TABLE IF EXISTS search_probe; CREATE TABLE search_probe (id INTEGER PRIMARY KEY, t TEXT)');
      for (const [i, t] of TEXTS.entries()) await db.run('INSERT INTO search_probe (id, t) VALUES (?, ?)', [i + 1, t]);
      const found: Record<string, number[]> = {};
      const expected: Record<string, number[]> = {};
      for (const q of QUERIES) {
        const [sql, ...params] = textSearch(db.dialect, ['t'], q);
        const rows = await db.all<{ id: number }>(`SELECT id FROM search_probe WHERE ${sql} ORDER BY id`, params);
        found[q] = rows.map((r) => Number(r.id));
        expected[q] = reference(q);
      }
      expect(found).toEqual(expected);
      // The decisions spelled out: ASCII case folds, German and Greek letters do not, CJK is exact.
      expect(found.MüLLER).toEqual([1, 3]);
      expect(found.ß).toEqual([5]);
      expect(found.SS).toEqual([6, 7]);
      expect(found['华为']).toEqual([9]);
      expect(found['%']).toEqual([12]);
      expect(found._).toEqual([11]);
      await db.exec('DROP TABLE search_probe');
    });
  });

  it.skipIf(skip)('the console lists (licenses, audit, enterprise tenants) search the same way', async () => {
    await withDb(async (db) => {
      const a = await seedEntitlement(db, { productId: 'p' });
      const b = await seedEntitlement(db, { productId: 'p' });
      await db.run('UPDATE entitlements SET customer_name = ? WHERE id = ?', ['Müller GmbH 华为', a.id]);
      await db.run('UPDATE entitlements SET customer_name = ? WHERE id = ?', ['MUELLER_50%', b.id]);
      const ids = async (q: string) =>
        (await listEntitlements(db, { q, limit: 50, includeTest: true })).items.map((e) => e.id);
      expect(await ids('mÜller')).toEqual([]);
      expect(await ids('MüLLER gmbh')).toEqual([a.id]);
      expect(await ids('华为')).toEqual([a.id]);
      expect(await ids('mueller_50')).toEqual([b.id]);
      expect(await ids('_5')).toEqual([b.id]);
      expect(await ids('0%')).toEqual([b.id]);

      await db.run(
        "INSERT INTO audit_log (at, actor, action, entitlement_id, detail) VALUES (?, 'cli:Alice', 'entitlement.suspended', ?, ?)",
        [new Date().toISOString(), a.id, JSON.stringify({ reason: 'Rückbuchung' })],
      );
      const audit = async (q: string) => (await listAudit(db, { q, limit: 50, includeTest: true })).items.length;
      expect(await audit('CLI:ALICE')).toBe(1);
      expect(await audit('RÜCKBUCHUNG')).toBe(0);
      expect(await audit('rÜckbuchung')).toBe(0);
      expect(await audit('Rückbuchung')).toBe(1);

      const now = new Date().toISOString();
      await db.run(
        `INSERT INTO kit_tenants (instance_id, tenant_id, tenant_code, name, domain_name, test, created_at, updated_at)
         VALUES ('i1', 't1', 'HW', '华为云 Tenant', 'Example.COM', 0, ?, ?)`,
        [now, now],
      );
      const tenants = async (q: string) => (await listTenants(db, { q })).items.length;
      expect(await tenants('example.com')).toBe(1);
      expect(await tenants('华为云 tenant')).toBe(1);
      expect(await tenants('华為')).toBe(0);
    });
  });
});
