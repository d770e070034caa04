import type { Storage } from '../db/storage';

/**
 * Notes an order (line) in `order_keys`, the index the console's orders list pages on (migration 019): call it
 * in the transaction of every write that records an order — orderNotify, the order API's answer, newInstance,
 * getLicense. The first sighting's time is kept (a later one changes nothing), so the same order delivered again
 * leaves one row in place and a cursor over the list never skips or repeats it. A License 1.0 order has no
 * lines: its line is ''.
 */
export async function noteOrder(db: Storage, orderId: string, orderLineId: string, seenAt: string): Promise<void> {
  await db.run(
    `INSERT INTO order_keys (order_id, order_line_id, seen_at) VALUES (?, ?, ?)
     ON CONFLICT (order_id, order_line_id) DO NOTHING`,
    [orderId, orderLineId, seenAt],
  );
}
