import { z } from 'zod';
import type { Storage } from '../../db/storage';
import type { Row } from '../../db/types';
import { add, type Dataset, paginate, where } from '../pagination';
import { columns, common, instant, text } from './shared';

export const orderFilterSchema = z.object({ ...common, q: text(200).optional(), since: instant.optional() }).strict();
export type OrderFilter = z.infer<typeof orderFilterSchema>;

export function orderView(row: Row) {
  const c = columns('order', row);
  return {
    orderId: c.string('order_id'),
    orderLineId: c.string('order_line_id'),
    orderType: c.stringOrNull('order_type'),
    entitlementId: c.stringOrNull('entitlement_id'),
    receivedAt: c.stringOrNull('received_at'),
    fetchedAt: c.stringOrNull('fetched_at'),
    appliedAt: c.stringOrNull('applied_at'),
    outcome: c.stringOrNull('outcome'),
    /** The license family the order made (A: License 1.0, C: License code), null before it was applied. */
    family: c.stringOrNull('family'),
    test: c.flag('test'),
    info: c.json('info'),
  };
}

// Orders are recorded in several tables — notified by the marketplace (order_notifications), fetched through the
// order API (orders), and for License 1.0 (family A, scheme-A getLicense) and family C purchases the license the
// order created (entitlements; a License 1.0 order has no order row and no lines: its line is ''). The list walks
// `order_keys` (one row per order line, written beside each of them: koogallery/orderKeys.ts) newest first on its
// index and looks up each shown order's details by key, so a page costs the same at a million orders as at ten.
// `at` is when the server first learnt of the order: it never changes, so a cursor keeps its place.
const ORDERS_FROM = `(
  SELECT k.order_id, k.order_line_id, k.seen_at AS at,
    COALESCE(o.order_type, CASE WHEN a.id IS NOT NULL THEN 'getLicense' END) AS order_type,
    o.info, o.fetched_at, COALESCE(n.received_at, a.created_at) AS received_at,
    COALESCE(n.applied_at, a.created_at) AS applied_at, COALESCE(n.outcome, CASE WHEN a.id IS NOT NULL THEN 'issued' END) AS outcome,
    COALESCE(a.id, (SELECT e.id FROM entitlements e WHERE e.order_id = k.order_id
       AND (e.order_line_id = k.order_line_id OR e.order_line_id IS NULL) LIMIT 1)) AS entitlement_id,
    COALESCE(a.family, (SELECT e.family FROM entitlements e WHERE e.order_id = k.order_id
       AND (e.order_line_id = k.order_line_id OR e.order_line_id IS NULL) LIMIT 1)) AS family,
    CASE WHEN n.test = 1 OR EXISTS (SELECT 1 FROM entitlements e WHERE e.order_id = k.order_id AND e.test = 1)
      THEN 1 ELSE 0 END AS test
  FROM order_keys k
  LEFT JOIN orders o ON o.order_id = k.order_id AND o.order_line_id = k.order_line_id
  LEFT JOIN order_notifications n ON n.order_id = k.order_id AND n.order_line_id = k.order_line_id
  LEFT JOIN entitlements a ON a.family = 'A' AND a.order_id = k.order_id AND k.order_line_id = ''
) ord`;

const orders: Dataset<ReturnType<typeof orderView>> = {
  from: ORDERS_FROM,
  select: '*',
  sort: ['at', 'order_id', 'order_line_id'],
  map: orderView,
};

/**
 * `q` finds orders by an exact identifier, each through an index: the order id (every line of it), an order line
 * id, or a license's id or code (the order that bought it). What an operator pastes from the seller center, a
 * customer's e-mail or the license page; a substring search would read every order.
 */
export async function listOrders(db: Storage, f: OrderFilter) {
  const w = where();
  if (!f.includeTest) add(w, 'test = 0');
  if (f.since) add(w, 'at >= ?', f.since);
  if (f.q) {
    add(
      w,
      'order_id = ? OR order_line_id = ? OR order_id IN (SELECT e.order_id FROM entitlements e WHERE e.id = ? OR e.code = ?)',
      f.q,
      f.q,
      f.q,
      f.q,
    );
  }
  return await paginate(db, orders, w, f);
}
