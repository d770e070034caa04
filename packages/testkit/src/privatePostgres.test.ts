import { existsSync } from 'node:fs';
import { openPostgres } from '@licensor/server';
import { afterAll, describe, expect, it } from 'vitest';
import { type PrivatePostgres, privatePostgresUnavailable, startPrivatePostgres } from './privatePostgres';

const settings = {
  poolSize: 2,
  statementTimeoutMs: 10_000,
  connectTimeoutMs: 2000,
  ssl: undefined,
  sslCaFile: undefined,
  applicationName: 'licensor-private-pg-test',
};

const canRun = privatePostgresUnavailable() === undefined || process.env.CI === 'true';
let pg: PrivatePostgres | undefined;
afterAll(async () => {
  await pg?.destroy();
});

describe.skipIf(!canRun)('startPrivatePostgres', () => {
  it('runs a cluster of its own with durable commits; a restart keeps committed rows and refuses while down', {
    timeout: 120_000,
  }, async () => {
    pg = await startPrivatePostgres({ label: 'privatePostgres.test' });
    expect(pg).toBeDefined();
    const { url, port, dataDir } = pg!;
    expect(port).not.toBe(5432);
    const db = openPostgres(url, { settings });
    try {
      expect((await db.first<{ s: string }>('SELECT current_setting(?) AS s', ['synchronous_commit']))?.s).toBe('on');
      expect((await db.first<{ s: string }>('SELECT current_setting(?) AS s', ['fsync']))?.s).toBe('on');
      await db.exec('CREATE TABLE t (id integer PRIMARY KEY)');
      await db.run('INSERT INTO t (id) VALUES (?)', [1]);

      // While it is down, queries fail (they do not hang); once up, the same pool reconnects and the row is there.
      const restarted = pg!.restart({ outageMs: 1500 });
      await new Promise((r) => setTimeout(r, 700));
      await expect(db.ping()).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
      const { downAt, upAt } = await restarted;
      expect(upAt - downAt).toBeGreaterThanOrEqual(1500);
      let rows: { id: number }[] | undefined;
      for (let i = 0; i < 20 && !rows; i++) {
        rows = await db.all<{ id: number }>('SELECT id FROM t').catch(() => undefined);
      }
      expect(rows).toEqual([{ id: 1 }]);
    } finally {
      await db.close();
    }
    await pg!.destroy();
    expect(existsSync(dataDir)).toBe(false);
    await pg!.destroy(); // twice is harmless
  });
});
