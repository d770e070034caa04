import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migratePostgres, type PgDb } from '@licensor/server';
import { runCli } from '@licensor/testkit/instances';
import { createTestPostgres } from '@licensor/testkit/postgres';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The backup and restore drill of docs/deploy-postgresql.md, as written there: `pg_dump --format=custom`,
 * `pg_restore --list`, `pg_restore --no-owner --exit-on-error` into an empty database, `licensor db status`, and
 * the row counts of every table compared with the original.
 */
const hasTools =
  spawnSync('pg_dump', ['--version']).status === 0 && spawnSync('pg_restore', ['--version']).status === 0;
if (!hasTools) process.stderr.write('\n⚠  SKIPPING the backup drill: pg_dump/pg_restore are not installed\n\n');

const source = hasTools ? await createTestPostgres('backup_src') : undefined;
const drill = source ? await createTestPostgres('backup_drill') : undefined;
const dir = mkdtempSync(join(tmpdir(), 'licensor-backup-'));
afterAll(async () => {
  await source?.drop();
  await drill?.drop();
  rmSync(dir, { recursive: true, force: true });
});

async function counts(db: PgDb): Promise<Record<string, number>> {
  const tables = await db.all<{ t: string }>(
    "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
  );
  const out: Record<string, number> = {};
  for (const { t } of tables) out[t] = (await db.first<{ n: number }>(`SELECT COUNT(*) AS n FROM "${t}"`))!.n;
  return out;
}

describe.skipIf(!source || !drill)('backup and restore drill (pg_dump / pg_restore)', () => {
  it('restores every table with its rows; db status says the schema is current', { timeout: 120_000 }, async () => {
    const db = source!.open();
    await migratePostgres(db);
    const now = new Date().toISOString();
    for (let i = 0; i < 50; i++) {
      await db.run(
        "INSERT INTO entitlements (id, family, code, seats, status, created_at, updated_at) VALUES (?, 'direct', ?, 3, 'active', ?, ?)",
        [`ent-${i}`, `LSR-DRILL-${i}`, now, now],
      );
    }
    await db.run(
      "INSERT INTO outbox (kind, payload, status, next_attempt_at, created_at, updated_at) VALUES ('x', '{}', 'pending', 0, ?, ?)",
      [now, now],
    );
    await db.run(
      "INSERT INTO signing_keys (key_id, certificate_pem, private_key_enc, not_before, not_after, current, created_at) VALUES ('k1', 'cert', '-----BEGIN ENCRYPTED PRIVATE KEY-----', ?, ?, 1, ?)",
      [now, now, now],
    );
    const before = await counts(db);
    expect(before.entitlements).toBe(50);

    const dump = join(dir, 'licensor.dump');
    const dumped = spawnSync('pg_dump', ['--format=custom', `--file=${dump}`, source!.url], { encoding: 'utf8' });
    expect(dumped.status, dumped.stderr).toBe(0);
    const listed = spawnSync('pg_restore', ['--list', dump], { encoding: 'utf8' });
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.stdout).toContain('TABLE public signing_keys');

    const restored = spawnSync('pg_restore', ['--no-owner', '--exit-on-error', `--dbname=${drill!.url}`, dump], {
      encoding: 'utf8',
    });
    expect(restored.status, restored.stderr).toBe(0);

    const status = await runCli(['--json', 'db', 'status'], {
      LICENSOR_DATABASE_URL: drill!.url,
      LICENSOR_DATA_DIR: dir,
    });
    expect(status.code, status.stderr).toBe(0);
    expect(status.json()).toMatchObject({ backend: 'postgres', current: true, pending: [] });

    expect(await counts(drill!.open())).toEqual(before);
    // Identity columns continue after the restored ids: a new row does not collide with a restored one.
    const again = drill!.open();
    await again.run(
      "INSERT INTO outbox (kind, payload, status, next_attempt_at, created_at, updated_at) VALUES ('y', '{}', 'pending', 0, ?, ?)",
      [now, now],
    );
    expect((await again.first<{ n: number }>('SELECT COUNT(*) AS n FROM outbox'))!.n).toBe(2);
  });
});
