import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestPostgres } from '@licensor/testkit/postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteDatabase } from '../sqlite';
import { SQL_RECORD_DIR_ENV } from '../sqlRecorder';
import { checkOnPostgres, formatRejections, provenance, readRecording } from './portability';

const pgTest = await createTestPostgres('portability');

describe('the statement recorder', () => {
  it('writes each distinct statement once per process with the code that prepared it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'licensor-sql-test-'));
    const before = process.env[SQL_RECORD_DIR_ENV];
    process.env[SQL_RECORD_DIR_ENV] = dir;
    try {
      const db = openSqliteDatabase(':memory:');
      const marker = `SELECT COUNT(*) AS n FROM entitlements WHERE status = ? AND 'recorder-test' <> ''`;
      await db.first(marker, ['active']);
      await db.first(marker, ['frozen']);
      const other = openSqliteDatabase(':memory:');
      await other.first(marker, ['active']); // another connection of the same process: still recorded once
      await db.close();
      await other.close();
      const uses = readRecording(dir).uses.filter((u) => u.sql === marker);
      expect(uses).toHaveLength(1);
      expect(uses[0]!.at).toHaveLength(1);
      expect(uses[0]!.at[0]).toBe('packages/server/src/db/postgres/portability.test.ts');
      expect(provenance(uses[0]!)).toBe('tests');
    } finally {
      if (before === undefined) delete process.env[SQL_RECORD_DIR_ENV];
      else process.env[SQL_RECORD_DIR_ENV] = before;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('merges the files of several processes and survives a torn last line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'licensor-sql-test-'));
    const line = (sql: string, ...at: string[]) => `${JSON.stringify({ sql, at })}\n`;
    writeFileSync(join(dir, '1-a.jsonl'), line('SELECT 1', 'packages/server/src/a.ts:1') + line('SELECT 2'));
    writeFileSync(join(dir, '2-b.jsonl'), `${line('SELECT 1', 'packages/server/src/b.ts:2')}{"sql":"SELE`);
    expect(readRecording(dir).uses).toEqual([
      { sql: 'SELECT 1', at: ['packages/server/src/a.ts:1', 'packages/server/src/b.ts:2'] },
      { sql: 'SELECT 2', at: ['(unknown caller)'] },
    ]);
    expect(readdirSync(dir)).toHaveLength(2);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('provenance', () => {
  const of = (...at: string[]) => provenance({ sql: 'SELECT 1', at });
  it('checks a statement as soon as one call path starts in production code', () => {
    expect(of('packages/server/src/jobs/daily.ts (claimDay) ← packages/server/src/jobs/daily.ts (planDay)')).toBe(
      'server',
    );
    expect(of('packages/server/src/x.test.ts:3', 'packages/server/src/admin/pagination.ts:114')).toBe('server');
    expect(of('(unknown caller)')).toBe('server');
  });
  it("leaves tests, test support, benchmarks and SQLite's own modules alone", () => {
    expect(of('packages/server/src/db/sqlite.test.ts (write)')).toBe('tests');
    expect(of('packages/testkit/src/licensing.ts:40', 'test/crash/harness.ts:9')).toBe('tests');
    expect(of('packages/server/bench/floor.ts:49')).toBe('tests');
    expect(of('packages/server/src/db/introspect.ts (sqliteTables) ← packages/server/src/db/copy.ts')).toBe(
      'sqlite-only',
    );
  });
});

describe.skipIf(!pgTest)('checkOnPostgres', () => {
  afterAll(() => pgTest?.drop());

  it('accepts portable statements and names what PostgreSQL rejects, and why', async () => {
    const db = pgTest!.open();
    const use = (sql: string) => ({ sql, at: ['packages/server/src/somewhere.ts:7'] });
    const good = [
      'INSERT INTO seen_nonces (nonce, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING',
      'SELECT id, CASE WHEN code IS NOT NULL THEN 1 ELSE 0 END AS has_code FROM entitlements WHERE status = @status',
      'UPDATE outbox SET attempts = attempts + 1 WHERE id = :id',
    ];
    const bad = [
      'INSERT OR IGNORE INTO seen_nonces (nonce, expires_at) VALUES (?, ?)',
      'SELECT *, rowid AS rowid FROM entitlements ORDER BY rowid DESC LIMIT ?',
      'SELECT MAX(seats, 1) AS s FROM entitlements',
      'DELETE FROM kit_apps WHERE instance_id = ? AND (? IS NULL OR source_ts <= ?)',
      'SELECT id, code IS NOT NULL AS has_code FROM entitlements',
    ];
    const rejections = await checkOnPostgres(db, [...good, ...bad].map(use));
    expect(rejections.map((r) => r.sql)).toEqual(bad);
    expect(rejections.map((r) => r.error)).toEqual([
      expect.stringMatching(/syntax error at or near "OR" \(at "OR IGNORE INTO seen_nonces/),
      expect.stringMatching(/column "rowid" does not exist/),
      expect.stringMatching(/function max\(integer, integer\) does not exist/),
      expect.stringMatching(/could not determine data type of parameter \$2/),
      expect.stringMatching(/returns has_code as boolean/),
    ]);
    const message = formatRejections(rejections, 8);
    expect(message).toMatch(/^5 of 8 distinct SQL statements/);
    expect(message).toContain('from packages/server/src/somewhere.ts:7');
    // The schema it checked against lived in a rolled-back transaction: nothing is left, nothing stays prepared.
    expect(await db.all("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'licensor_portability%'")).toEqual([]);
    expect(await db.withClient(async (c) => (await c.query('SELECT name FROM pg_prepared_statements')).rows)).toEqual(
      [],
    );
  });
});
