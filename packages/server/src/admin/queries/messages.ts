import { z } from 'zod';
import type { Db, Row } from '../../db/database';
import { add, chunks, type Dataset, paginate, type Where, where } from '../pagination';
import { bit, bool, common, exportOptions, instant, text } from './shared';

export const messageFilterSchema = z
  .object({
    ...common,
    direction: z.enum(['in', 'out']).optional(),
    activity: text(100).optional(),
    resultCode: text(32).optional(),
    failed: bool.optional(),
    q: text(200).optional(),
    since: instant.optional(),
  })
  .strict();
export type MessageFilter = z.infer<typeof messageFilterSchema>;

export const messageExportSchema = messageFilterSchema
  .omit({ limit: true, page: true, cursor: true })
  .extend(exportOptions);

/** Result codes that mean the call did what it was asked (production interface and open APIs). */
export const SUCCESS_RESULT_CODES = ['000000', '000004', '92020000', 'CBC.0000', 'MKT.0000'] as const;
export const FAILED_SQL = `(error IS NOT NULL OR http_status >= 400 OR (result_code IS NOT NULL AND result_code != '' AND result_code NOT IN (${SUCCESS_RESULT_CODES.map(
  (c) => `'${c}'`,
).join(', ')})))`;

export function messageView(r: Row) {
  return {
    id: r.id as number,
    at: r.created_at as string,
    direction: r.direction as 'in' | 'out',
    activity: r.activity as string,
    method: (r.method as string | null) ?? null,
    path: (r.path as string | null) ?? null,
    resultCode: (r.result_code as string | null) ?? null,
    httpStatus: (r.http_status as number | null) ?? null,
    latencyMs:
      r.latency_ms === null || r.latency_ms === undefined ? null : Math.round((r.latency_ms as number) * 10) / 10,
    failed: bit(r.failed),
    error: (r.error as string | null) ?? null,
    entitlementId: (r.entitlement_id as string | null) ?? null,
    orderId: (r.order_id as string | null) ?? null,
    code: (r.code as string | null) ?? null,
    eventId: (r.event_id as string | null) ?? null,
    outboxId: (r.outbox_id as number | null) ?? null,
    test: bit(r.test),
  };
}
export type MessageView = ReturnType<typeof messageView>;
export const MESSAGE_COLUMNS: (keyof MessageView)[] = [
  'id',
  'at',
  'direction',
  'activity',
  'method',
  'path',
  'resultCode',
  'httpStatus',
  'latencyMs',
  'failed',
  'error',
  'entitlementId',
  'orderId',
  'code',
  'eventId',
  'outboxId',
  'test',
];

const messages: Dataset<MessageView> = {
  from: 'marketplace_messages',
  select: `*, ${FAILED_SQL} AS failed`,
  sort: ['id'],
  map: messageView,
};

function messageWhere(f: Omit<MessageFilter, 'limit' | 'page' | 'cursor'>): Where {
  const w = where();
  if (!f.includeTest) add(w, 'test = 0');
  if (f.direction) add(w, 'direction = ?', f.direction);
  if (f.activity) add(w, 'activity = ?', f.activity);
  if (f.resultCode) add(w, 'result_code = ?', f.resultCode);
  if (f.failed === true) add(w, FAILED_SQL);
  if (f.failed === false) add(w, `NOT ${FAILED_SQL}`);
  if (f.since) add(w, 'created_at >= ?', f.since);
  if (f.q) add(w, 'code = ? OR order_id = ? OR event_id = ? OR entitlement_id = ?', f.q, f.q, f.q, f.q);
  return w;
}

export const listMessages = (db: Db, f: MessageFilter) => paginate(db, messages, messageWhere(f), f);
export const exportMessages = (db: Db, f: Omit<MessageFilter, 'limit' | 'page' | 'cursor'>) =>
  chunks(db, messages, messageWhere(f));
