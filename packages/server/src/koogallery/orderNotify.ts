import { z } from 'zod';
import type { AppContext } from '../context';
import { noteOrder } from './orderKeys';
import { type Answer, ok } from './resultCodes';
import { str, testFlag, validate } from './validate';

/**
 * `orderNotify` (the generic interface, its own access key): KooGallery tells the merchant an order changed.
 * The notification only records the order line once and queues `order.apply` (onlineLicense.ts), which reads
 * the order from the marketplace and applies it: the answer goes back at once, the work survives a restart.
 */
const orderNotifySchema = z.object({ orderId: str(64), orderLineId: str(64), testFlag });

export async function orderNotify(ctx: AppContext, body: Record<string, unknown>): Promise<Answer> {
  const v = validate(orderNotifySchema, body);
  if ('answer' in v) return v.answer;
  const p = v.data;
  await ctx.db.transaction(async (tx) => {
    const receivedAt = ctx.now().toISOString();
    const r = await tx.run(
      `INSERT INTO order_notifications (order_id, order_line_id, test, received_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (order_id, order_line_id) DO NOTHING`,
      [p.orderId, p.orderLineId, p.testFlag ? 1 : 0, receivedAt],
    );
    await noteOrder(tx, p.orderId, p.orderLineId, receivedAt);
    if (r.changes === 1) {
      await ctx.outbox.enqueue(
        tx,
        'order.apply',
        { orderId: p.orderId, orderLineId: p.orderLineId },
        { dedupeKey: `notify:${p.orderId}:${p.orderLineId}` },
      );
    }
  });
  return ok({}, 'success');
}

/** The generic interface's activities, by name. */
export const genericActivities: Record<string, (ctx: AppContext, body: Record<string, unknown>) => Promise<Answer>> = {
  orderNotify,
};
