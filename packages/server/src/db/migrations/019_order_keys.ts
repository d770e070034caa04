import type { Migration } from '../types';

/**
 * What the console's orders and failed-messages lists need to page at a million rows.
 *
 * `order_keys`: one row per order (line) the server has recorded — notified (orderNotify), fetched through the
 * order API, bought through newInstance (family C) or getLicense (family A, line ''). Orders live in several
 * tables, so the list had no single indexed key to page on and built their union on every page; now it walks
 * `order_keys_seen` newest first and looks up each shown order's details by key. `seen_at` is when the server
 * first learnt of the order and never changes, so a cursor keeps its place. Every writer of those tables notes
 * the order in the same transaction (koogallery/orderKeys.ts: noteOrder); this backfills what exists.
 * `order_keys_line` and `entitlements_order` serve the exact search (order id, order line id, license) and the
 * per-order lookups of the list and of order application (which scanned every license per notice).
 *
 * `marketplace_messages_failed`: the failed messages alone, in id order, so "failed first" reads a page off it
 * instead of walking the whole log for the rare failure. Its predicate must stay the one admin/queries/messages.ts
 * filters with (FAILED_SQL; a test checks both): SQLite uses a partial index only for that very term.
 */
export const FAILED_MESSAGE_PREDICATE = `(error IS NOT NULL OR http_status >= 400 OR (result_code IS NOT NULL AND result_code != '' AND result_code NOT IN ('000000', '000004', '92020000', 'CBC.0000', 'MKT.0000')))`;

/** Fills order_keys from the tables that record orders (also used by the console-lists benchmark). */
export const ORDER_KEYS_BACKFILL = `
INSERT INTO order_keys (order_id, order_line_id, seen_at)
  SELECT order_id, order_line_id, MIN(at) FROM (
    SELECT order_id, order_line_id, received_at AS at FROM order_notifications
    UNION ALL SELECT order_id, order_line_id, fetched_at FROM orders
    UNION ALL SELECT order_id, '', created_at FROM entitlements WHERE family = 'A' AND order_id IS NOT NULL
    UNION ALL SELECT order_id, order_line_id, created_at FROM entitlements
      WHERE family = 'C' AND order_id IS NOT NULL AND order_line_id IS NOT NULL
  ) seen
  GROUP BY order_id, order_line_id
ON CONFLICT (order_id, order_line_id) DO NOTHING;
`;

export const m019_order_keys: Migration = {
  version: 19,
  name: 'order_keys',
  sql: `
CREATE TABLE order_keys (
  order_id        TEXT NOT NULL,
  order_line_id   TEXT NOT NULL,               -- '' for a License 1.0 (family A) order: it has no lines
  seen_at         TEXT NOT NULL,               -- first time the server learnt of the order: the list's sort key
  PRIMARY KEY (order_id, order_line_id)
);
CREATE INDEX order_keys_seen ON order_keys(seen_at, order_id, order_line_id);
CREATE INDEX order_keys_line ON order_keys(order_line_id);
CREATE INDEX entitlements_order ON entitlements(order_id);
CREATE INDEX marketplace_messages_failed ON marketplace_messages(id) WHERE ${FAILED_MESSAGE_PREDICATE};
${ORDER_KEYS_BACKFILL}`,
};
