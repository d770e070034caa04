import { z } from 'zod';
import type { Db, Row } from '../../db/database';
import { add, type Dataset, likeAnywhere, paginate, where } from '../pagination';
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

// Orders are known from two tables — fetched through the order-query API, notified by the marketplace — and,
// for License 1.0 (family A, scheme-A getLicense), from the license the order created: that flow has no order
// row of its own, its order line is ''.
const ORDERS_FROM = `(
  SELECT k.order_id, k.order_line_id, COALESCE(o.order_type, CASE WHEN a.id IS NOT NULL THEN 'getLicense' END) AS order_type,
    o.info, o.fetched_at, COALESCE(n.received_at, a.created_at) AS received_at,
    COALESCE(n.applied_at, a.created_at) AS applied_at, COALESCE(n.outcome, CASE WHEN a.id IS NOT NULL THEN 'issued' END) AS outcome,
    COALESCE(n.received_at, o.fetched_at, a.created_at) AS at,
    COALESCE(a.id, (SELECT e.id FROM entitlements e WHERE e.order_id = k.order_id
       AND (e.order_line_id = k.order_line_id OR e.order_line_id IS NULL) LIMIT 1)) AS entitlement_id,
    COALESCE(a.family, (SELECT e.family FROM entitlements e WHERE e.order_id = k.order_id
       AND (e.order_line_id = k.order_line_id OR e.order_line_id IS NULL) LIMIT 1)) AS family,
    CASE WHEN n.test = 1 OR EXISTS (SELECT 1 FROM entitlements e WHERE e.order_id = k.order_id AND e.test = 1)
      THEN 1 ELSE 0 END AS test
  FROM (SELECT order_id, order_line_id FROM orders UNION SELECT order_id, order_line_id FROM order_notifications
        UNION SELECT order_id, '' FROM entitlements WHERE family = 'A' AND order_id IS NOT NULL) k
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

export function listOrders(db: Db, f: OrderFilter) {
  const w = where();
  if (!f.includeTest) add(w, 'test = 0');
  if (f.since) add(w, 'at >= ?', f.since);
  if (f.q) {
    const p = likeAnywhere(f.q);
    add(
      w,
      `order_id LIKE ? ESCAPE '\\' OR order_line_id LIKE ? ESCAPE '\\' OR entitlement_id LIKE ? ESCAPE '\\'`,
      p,
      p,
      p,
    );
  }
  return paginate(db, orders, w, f);
}
