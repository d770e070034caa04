import { createTestPostgres } from '@licensor/testkit/postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PgDb } from '../db/postgres/facade';
import { migratePostgres } from '../db/postgres/migrate';
import { claimDue, complete, fail } from './pgLeases';

const pgTest = await createTestPostgres('outbox leases');

async function enqueue(db: PgDb, count: number, dueAt: number): Promise<void> {
  await db.run(
    `INSERT INTO outbox (kind, payload, status, attempts, next_attempt_at, created_at, updated_at)
     SELECT 'test', json_build_object('n', g)::text, 'pending', 0, ?, 'now', 'now' FROM generate_series(1, ?) AS g`,
    [dueAt, count],
  );
}

describe.skipIf(!pgTest)('outbox leases on PostgreSQL', () => {
  let a: PgDb;
  let b: PgDb;
  beforeAll(async () => {
    a = pgTest!.open();
    b = pgTest!.open();
    await migratePostgres(a);
  });
  afterAll(() => pgTest?.drop());
  beforeEach(async () => {
    await a.run('DELETE FROM outbox');
  });

  it('two instances claiming concurrently never get the same item: 1000 items, each run exactly once', async () => {
    await enqueue(a, 1000, 0);
    const runs = new Map<number, string[]>();
    // Two workers per instance, each instance on its own pool: claim a few, "run" them, complete, repeat.
    const worker = async (db: PgDb, name: string) => {
      let ran = 0;
      for (;;) {
        const items = await claimDue(db, Date.now(), 7, 60_000);
        if (items.length === 0) return ran;
        for (const item of items) {
          runs.set(item.id, [...(runs.get(item.id) ?? []), name]);
          expect(item.status).toBe('running');
          expect(await complete(db, item, Date.now())).toBe(true);
          ran++;
        }
      }
    };
    const counts = await Promise.all([worker(a, 'a1'), worker(a, 'a2'), worker(b, 'b1'), worker(b, 'b2')]);
    expect(counts.reduce((x, y) => x + y, 0)).toBe(1000);
    expect(runs.size).toBe(1000);
    expect([...runs.values()].filter((by) => by.length !== 1)).toEqual([]);
    // Both instances took part (the claim is not serialised on one of them).
    expect(counts[0]! + counts[1]!).toBeGreaterThan(0);
    expect(counts[2]! + counts[3]!).toBeGreaterThan(0);
    expect(await a.all('SELECT status, attempts, COUNT(*) AS n FROM outbox GROUP BY status, attempts')).toEqual([
      { status: 'done', attempts: 1, n: 1000 },
    ]);
  });

  it("a crashed holder's items are claimed by the other instance once the lease ends, and the late holder cannot finish them", async () => {
    const t = 1_800_000_000_000;
    await enqueue(a, 5, t);
    const held = await claimDue(a, t, 10, 30_000); // instance A claims, then "dies"
    expect(held).toHaveLength(5);
    expect(await claimDue(b, t + 29_999, 10, 30_000)).toEqual([]); // lease still live: B must not steal it
    const taken = await claimDue(b, t + 30_001, 10, 30_000);
    expect(taken.map((i) => i.id).sort()).toEqual(held.map((i) => i.id).sort());
    expect(taken.every((i) => i.attempts === 2)).toBe(true);
    // A comes back late: its completion and its failure change nothing, B's do.
    expect(await complete(a, held[0]!, t + 31_000)).toBe(false);
    expect(await fail(a, held[1]!, t + 31_000, { error: 'late', backoffMs: () => 0 })).toBe(false);
    for (const item of taken) expect(await complete(b, item, t + 31_000)).toBe(true);
    expect(await a.all("SELECT COUNT(*) AS n FROM outbox WHERE status = 'done'")).toEqual([{ n: 5 }]);
  });

  it('a failed attempt goes back to pending after its backoff, or to failed when giving up', async () => {
    const t = 1_800_000_000_000;
    await enqueue(a, 2, t);
    const [x, y] = await claimDue(a, t, 2, 30_000);
    expect(await fail(a, x!, t, { error: 'E'.repeat(2000), backoffMs: (n) => n * 10_000 })).toBe(true);
    expect(await fail(a, y!, t, { error: 'permanent', backoffMs: () => 0, giveUp: true })).toBe(true);
    const rows = await a.all<{ id: number; status: string; next_attempt_at: number; last_error: string }>(
      'SELECT id, status, next_attempt_at, last_error FROM outbox ORDER BY id',
    );
    expect(rows.map((r) => [r.status, r.next_attempt_at, r.last_error.length])).toEqual([
      ['pending', t + 10_000, 1000],
      ['failed', t, 9],
    ]);
    expect(await claimDue(b, t + 9_999, 10, 30_000)).toEqual([]);
    expect((await claimDue(b, t + 10_000, 10, 30_000)).map((i) => i.id)).toEqual([x!.id]);
  });

  it('a backoff with a fraction of a millisecond (the default one has jitter) is stored as whole milliseconds', async () => {
    const t = 1_800_000_000_000;
    await enqueue(a, 1, t);
    const [x] = await claimDue(a, t, 1, 30_000);
    // next_attempt_at is a bigint: PostgreSQL refuses 1800000001234.5678 (22P02), which left the item running
    // until its lease ended instead of waiting out its backoff.
    expect(await fail(a, x!, t, { error: 'retry', backoffMs: () => 1234.5678 })).toBe(true);
    expect(await a.all('SELECT status, next_attempt_at FROM outbox')).toEqual([
      { status: 'pending', next_attempt_at: t + 1235 },
    ]);
  });
});
