import { openScratchDatabase, type TestDatabase } from '@licensor/testkit/server';
import { afterEach, describe, expect, it } from 'vitest';
import { noteOrder } from '../../koogallery/orderKeys';
import { listOrders, orderFilterSchema } from '.';

/** Every page of the orders list by following nextCursor, as the console's Next page does. */
async function walk(db: TestDatabase, query: Record<string, string> = {}) {
  const seen: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const page = await listOrders(db, orderFilterSchema.parse({ ...query, limit: '3', ...(cursor ? { cursor } : {}) }));
    seen.push(...page.items.map((o) => `${o.orderId}/${o.orderLineId}`));
    if (!page.nextCursor) return seen;
    cursor = page.nextCursor;
  }
  throw new Error('the cursor chain does not end');
}

const opened: TestDatabase[] = [];
const scratch = async () => {
  const db = await openScratchDatabase();
  opened.push(db);
  return db;
};
afterEach(async () => {
  await Promise.all(opened.splice(0).map((db) => db.close()));
});

describe('orders list keyset paging', () => {
  it('visits every order exactly once, newest first, across orders first seen at the same instant', async () => {
    const db = await scratch();
    const same = '2025-06-01T00:00:00.000Z';
    // Ten lines seen at one instant (a batch of notices within a millisecond), between an older and a newer one;
    // an order with two lines; a License 1.0 order ('' line). Inserted out of key order on purpose.
    const keys: [string, string, string][] = [
      ['CS-NEW', 'CS-NEW-1', '2025-06-02T00:00:00.000Z'],
      ...[7, 2, 9, 0, 5, 3, 8, 1, 6, 4].map((i): [string, string, string] => [`CS-${i}`, `CS-${i}-1`, same]),
      ['CS-3', 'CS-3-2', same],
      ['CS-A', '', same],
      ['CS-OLD', 'CS-OLD-1', '2025-05-31T00:00:00.000Z'],
    ];
    for (const [o, l, at] of keys) await noteOrder(db, o, l, at);
    const expected = [...keys]
      .sort((x, y) =>
        x[2] !== y[2] ? (x[2] < y[2] ? 1 : -1) : x[0] !== y[0] ? (x[0] < y[0] ? 1 : -1) : x[1] < y[1] ? 1 : -1,
      )
      .map(([o, l]) => `${o}/${l}`);
    const seen = await walk(db);
    expect(seen).toEqual(expected);
    expect(new Set(seen).size).toBe(keys.length);
    expect(seen.slice(0, 2)).toEqual(['CS-NEW/CS-NEW-1', 'CS-A/']);
    expect(seen.at(-1)).toBe('CS-OLD/CS-OLD-1');
  });

  it('keeps its place while orders arrive and when a known order is noted again', async () => {
    const db = await scratch();
    for (let i = 0; i < 6; i++) await noteOrder(db, `CS-${i}`, `CS-${i}-1`, `2025-06-0${i + 1}T00:00:00.000Z`);
    const first = await listOrders(db, orderFilterSchema.parse({ limit: '3' }));
    expect(first.items.map((o) => o.orderId)).toEqual(['CS-5', 'CS-4', 'CS-3']);
    // A new order, and an old one delivered again later (its first sighting stands).
    await noteOrder(db, 'CS-9', 'CS-9-1', '2025-07-01T00:00:00.000Z');
    await noteOrder(db, 'CS-1', 'CS-1-1', '2025-07-02T00:00:00.000Z');
    expect(await db.all('SELECT seen_at FROM order_keys WHERE order_id = ?', ['CS-1'])).toEqual([
      { seen_at: '2025-06-02T00:00:00.000Z' },
    ]);
    const next = await listOrders(db, orderFilterSchema.parse({ limit: '3', cursor: first.nextCursor! }));
    expect(next.items.map((o) => o.orderId)).toEqual(['CS-2', 'CS-1', 'CS-0']);
    expect(next.nextCursor).toBeNull();
  });

  it('leaves test orders out unless asked for, also across pages, and filters by first sighting', async () => {
    const db = await scratch();
    for (let i = 0; i < 8; i++) {
      const at = `2025-06-0${i + 1}T00:00:00.000Z`;
      await db.run('INSERT INTO order_notifications (order_id, order_line_id, test, received_at) VALUES (?, ?, ?, ?)', [
        `CS-${i}`,
        `CS-${i}-1`,
        i % 2,
        at,
      ]);
      await noteOrder(db, `CS-${i}`, `CS-${i}-1`, at);
    }
    expect(await walk(db)).toEqual(['CS-6/CS-6-1', 'CS-4/CS-4-1', 'CS-2/CS-2-1', 'CS-0/CS-0-1']);
    expect(await walk(db, { includeTest: 'true' })).toHaveLength(8);
    expect(await walk(db, { since: '2025-06-05' })).toEqual(['CS-6/CS-6-1', 'CS-4/CS-4-1']);
  });
});
