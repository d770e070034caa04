import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAILED_MESSAGE_PREDICATE, ORDER_KEYS_BACKFILL } from '../../db/migrations/019_order_keys';
import { openSqliteDatabase, type SqliteDatabase } from '../../db/sqlite';
import type { Storage } from '../../db/storage';
import { deliveryFilterSchema, listDeliveries } from '../../webhooks/store';
import { COUNT_CAP, encodeCursor } from '../pagination';
import {
  activationFilterSchema,
  auditFilterSchema,
  entitlementFilterSchema,
  listActivationsPage,
  listAudit,
  listCodes,
  listEntitlements,
  listMessages,
  listOrders,
  listOutbox,
  messageFilterSchema,
  orderFilterSchema,
  outboxFilterSchema,
} from '.';
import { FAILED_SQL } from './messages';
import { summary } from './summary';

/**
 * The console's lists stay fast at a million rows because every page is read off an index (or the table's own
 * id order) and stops at LIMIT: this checks SQLite's query plan of each list's queries (first page, a page
 * by cursor, the common filters) rather than timing them. Rules, per query:
 * - no `USE TEMP B-TREE FOR ORDER BY` (that sorts every match before the first row comes out), and no
 *   AUTOMATIC index (built from a whole table on every run);
 * - a `SCAN t` without an index only on the table whose key is the list's order (a walk newest-first that
 *   LIMIT stops) or, for orders, on order_keys in a capped count, never a scan of another table (e.g. a subquery building a set);
 * - every COUNT is capped (counts at most COUNT_CAP + 1 rows).
 * The measured timings at 1M rows: packages/server/bench/console-lists-bench.ts.
 */

/** The SQL a list runs, recorded by wrapping the storage. */
async function recorded(db: Storage, run: (d: Storage) => unknown) {
  const seen: { sql: string; params: unknown[] }[] = [];
  const note = (sql: string, params: readonly unknown[] = []) => seen.push({ sql, params: [...params] });
  const wrapped: Storage = {
    dialect: db.dialect,
    all: (sql, params) => {
      note(sql, params);
      return db.all(sql, params);
    },
    first: (sql, params) => {
      note(sql, params);
      return db.first(sql, params);
    },
    run: (sql, params) => db.run(sql, params),
    transaction: (fn, o) => db.transaction(fn, o),
    batched: (fn, o) => db.batched(fn, o),
    lockRow: (table, keyColumn, key) => db.lockRow(table, keyColumn, key),
  };
  await run(wrapped);
  return seen;
}

/**
 * A database with some rows; with `analyze`, statistics too. A server's database has none (nothing runs ANALYZE),
 * so the planner's heuristics must find the index as well as its statistics-driven choice.
 */
async function populated(analyze: boolean): Promise<SqliteDatabase> {
  const db = openSqliteDatabase(':memory:');
  await db.exec(`
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
    INSERT INTO entitlements (id, family, code, product_id, seats, status, test, created_at, updated_at)
      SELECT 'e' || i, CASE i % 3 WHEN 0 THEN 'B' ELSE 'direct' END, 'LSR-' || i, 'prod-' || (i % 20), 1,
             CASE i % 4 WHEN 0 THEN 'frozen' ELSE 'active' END, CASE WHEN i % 10 = 0 THEN 1 ELSE 0 END,
             '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z' FROM n;
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
    INSERT INTO activations (id, entitlement_id, status, seat, fingerprint, device_public_key, device_key_hash,
                             hostname, created_at, last_seen_at)
      SELECT 'a' || i, 'e' || i, 'active', 0, '{}', 'pk', 'h', 'host-' || i, '2026-01-01', '2026-01-01' FROM n;
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
    INSERT INTO outbox (kind, payload, status, attempts, next_attempt_at, created_at, updated_at)
      SELECT 'k', '{}', CASE WHEN i % 50 = 0 THEN 'failed' ELSE 'done' END, 1, 0, '2026-01-01', '2026-01-01' FROM n;
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
    INSERT INTO order_notifications (order_id, order_line_id, test, received_at)
      SELECT 'CS' || i, 'CS' || i || '-1', CASE WHEN i % 10 = 0 THEN 1 ELSE 0 END, '2026-01-01T00:00:' || (i % 60) FROM n;
    INSERT INTO orders (order_id, order_line_id, order_type, info, fetched_at)
      SELECT order_id, order_line_id, 'NEW', '{}', received_at FROM order_notifications WHERE rowid % 3 = 0;
    UPDATE entitlements SET family = 'C', order_id = 'CS' || substr(id, 2), order_line_id = 'CS' || substr(id, 2) || '-1'
      WHERE rowid % 3 = 1;
    ${ORDER_KEYS_BACKFILL}
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
    INSERT INTO marketplace_messages (direction, activity, result_code, http_status, test, created_at)
      SELECT 'in', 'newInstance', CASE WHEN i % 100 = 1 THEN '000003' ELSE '000000' END, 200, 0, '2026-01-01' FROM n;
  `);
  if (analyze) await db.exec('ANALYZE');
  return db;
}

const cursor = encodeCursor([1000]);
const orderCursor = encodeCursor(['2026-01-01T00:00:30', 'CS1000', 'CS1000-1']);
const LISTS: [string, (d: Storage) => unknown][] = [
  ['licenses', (d) => listEntitlements(d, entitlementFilterSchema.parse({}))],
  ['licenses by cursor', (d) => listEntitlements(d, entitlementFilterSchema.parse({ cursor }))],
  ['licenses of a status', (d) => listEntitlements(d, entitlementFilterSchema.parse({ status: 'frozen', cursor }))],
  ['licenses of a product', (d) => listEntitlements(d, entitlementFilterSchema.parse({ productId: 'prod-7', cursor }))],
  ['codes', (d) => listCodes(d, entitlementFilterSchema.parse({ cursor }))],
  ['devices', (d) => listActivationsPage(d, activationFilterSchema.parse({}))],
  ['devices by cursor', (d) => listActivationsPage(d, activationFilterSchema.parse({ cursor }))],
  ['active devices', (d) => listActivationsPage(d, activationFilterSchema.parse({ status: 'active', cursor }))],
  ['audit log', (d) => listAudit(d, auditFilterSchema.parse({ cursor }))],
  ['audit of a license', (d) => listAudit(d, auditFilterSchema.parse({ entitlementId: 'e7', cursor }))],
  ['marketplace messages', (d) => listMessages(d, messageFilterSchema.parse({ cursor }))],
  ['failed marketplace messages', (d) => listMessages(d, messageFilterSchema.parse({ failed: 'true' }))],
  [
    'failed marketplace messages by cursor',
    (d) => listMessages(d, messageFilterSchema.parse({ failed: 'true', cursor })),
  ],
  ['orders', (d) => listOrders(d, orderFilterSchema.parse({}))],
  ['orders by cursor', (d) => listOrders(d, orderFilterSchema.parse({ cursor: orderCursor }))],
  ['orders since a day', (d) => listOrders(d, orderFilterSchema.parse({ since: '2026-01-01', cursor: orderCursor }))],
  [
    'orders with test orders',
    (d) => listOrders(d, orderFilterSchema.parse({ includeTest: 'true', cursor: orderCursor })),
  ],
  ['outbox of a status', (d) => listOutbox(d, outboxFilterSchema.parse({ status: 'done', cursor }))],
  ['webhook deliveries', (d) => listDeliveries(d, deliveryFilterSchema.parse({ cursor }))],
  ['deliveries of an endpoint', (d) => listDeliveries(d, deliveryFilterSchema.parse({ endpointId: 'we_1', cursor }))],
  ['deliveries of a status', (d) => listDeliveries(d, deliveryFilterSchema.parse({ status: 'failed', cursor }))],
];

describe.each([
  ['without statistics (a server database)', false],
  ['with ANALYZE statistics', true],
])('list query plans %s', (_label, analyze) => {
  let db: SqliteDatabase;
  beforeAll(async () => {
    db = await populated(analyze);
  });
  afterAll(() => db.close());

  /** Each query a list ran, with its plan and a description for failure messages (the query and its plan). */
  const plansOf = async (run: (d: Storage) => unknown) => {
    const queries = [];
    for (const q of await recorded(db, run)) {
      const plan = (await db.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${q.sql}`, q.params)).map((p) => p.detail);
      queries.push({ ...q, plan, where: `${q.sql.replace(/\s+/g, ' ')}\n  plan: ${plan.join(' / ')}` });
    }
    return queries;
  };

  it.each(LISTS)(
    '%s: read in key order off an index or the table key, stopped by LIMIT; count capped',
    async (_name, run) => {
      const queries = await plansOf(run);
      expect(queries.length).toBeGreaterThan(0);
      for (const { plan, where, ...q } of queries) {
        if (/COUNT\(\*\)/.test(q.sql)) {
          expect(q.sql, where).toMatch(/LIMIT \?\) AS c$/);
          expect(q.params.at(-1), where).toBe(COUNT_CAP + 1);
        }
        expect(
          plan.filter((p) => p.includes('TEMP B-TREE')),
          where,
        ).toEqual([]);
        // An automatic index is built by reading a whole table, on every run of the query.
        expect(
          plan.filter((p) => p.includes('AUTOMATIC')),
          where,
        ).toEqual([]);
        // The table the list walks in key order: the one its ORDER BY names (alias or table).
        const ordered = /ORDER BY (?:(\w+)\.)?(?:seq|id) DESC/.exec(q.sql);
        const walked = ordered?.[1] ?? /FROM (\w+)/.exec(q.sql)?.[1];
        const bareScans = plan.filter((p) => /^SCAN \w+$/.test(p)).map((p) => p.slice(5));
        // The orders list walks order_keys (alias k): its capped count may read it in any order.
        const keys = /FROM order_keys (\w+)/.exec(q.sql)?.[1];
        const allowed = [walked, keys, 'c']; // `c`: the capped count's own subquery
        expect(
          bareScans.filter((s) => !allowed.includes(s)),
          where,
        ).toEqual([]);
        if (/COUNT\(\*\)/.test(q.sql)) continue;
        expect(q.sql, where).toMatch(/ORDER BY .* LIMIT \?/);
      }
    },
  );

  it('failed messages: a page and its count read the partial index of failed messages, not the whole log', async () => {
    for (const { plan, where } of await plansOf((d) =>
      listMessages(d, messageFilterSchema.parse({ failed: 'true', cursor })),
    )) {
      expect(
        plan.filter((p) => / marketplace_messages /.test(`${p} `)),
        where,
      ).toEqual([expect.stringMatching(/USING INDEX marketplace_messages_failed\b/)]);
    }
  });

  it('orders: the page walks order_keys on its seen-time index and looks up each order by key', async () => {
    const [page] = await plansOf((d) => listOrders(d, orderFilterSchema.parse({ cursor: orderCursor })));
    expect(page!.plan[0]).toMatch(
      /^SEARCH k USING COVERING INDEX order_keys_seen \(\(seen_at,order_id,order_line_id\)<\(\?,\?,\?\)\)$/,
    );
    // Every other step is a keyed lookup (orders, notices, the order's licenses): no scan anywhere.
    expect(page!.plan.filter((p) => p.startsWith('SCAN'))).toEqual([]);
  });

  const exactSearches: [string, (d: Storage) => unknown][] = [
    ...['CS1500', 'CS1500-1', 'e1501', 'LSR-1501'].map((q): [string, (d: Storage) => unknown] => [
      `orders q=${q}`,
      (d) => listOrders(d, orderFilterSchema.parse({ q })),
    ]),
    ...['e1501', 'LSR-1502', 'CS1501'].map((q): [string, (d: Storage) => unknown] => [
      `licenses q=${q}`,
      (d) => listEntitlements(d, entitlementFilterSchema.parse({ q })),
    ]),
  ];
  it.each(exactSearches)(
    'exact search %s: through indexes only, so it sorts just the few rows it found',
    async (_n, run) => {
      for (const { plan, where } of await plansOf(run)) {
        // Each table is reached by an equality on an index (order id, order line id, license id, code or order id):
        // the matches are an order's lines or a license (and its order's), so the sort that follows (TEMP B-TREE)
        // is over a handful of rows. A search falling back to text would SCAN and fail here.
        expect(
          plan.filter((p) => p.startsWith('SCAN') && p !== 'SCAN c'),
          where,
        ).toEqual([]);
        expect(
          plan.filter((p) => p.startsWith('SEARCH') && !/\((\w+=\?)( AND \w+=\?)*\)( LEFT-JOIN)?$/.test(p)),
          where,
        ).toEqual([]);
        expect(
          plan.filter((p) => p.includes('AUTOMATIC')),
          where,
        ).toEqual([]);
      }
    },
  );
});

describe('failed messages partial index', () => {
  it('has the very predicate the failed filter uses (SQLite uses a partial index only for that term)', () => {
    // SUCCESS_CODES changed? The index no longer matches the filter: add a migration with the new predicate.
    expect(FAILED_SQL).toBe(FAILED_MESSAGE_PREDICATE);
  });
});

describe('the dashboard summary', () => {
  it.each([false, true])(
    'counts licenses in one pass over the table, not through the status index (test data %s)',
    async (includeTest) => {
      const db = await populated(false);
      const [groups] = await recorded(db, (d) => summary(d, { includeTest, now: new Date('2026-01-02T00:00:00Z') }));
      const plan = (await db.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${groups!.sql}`, groups!.params)).map(
        (p) => p.detail,
      );
      expect(groups!.sql).toMatch(/FROM entitlements/);
      expect(plan).toEqual(['SCAN entitlements', 'USE TEMP B-TREE FOR GROUP BY']);
      await db.close();
    },
  );
});
