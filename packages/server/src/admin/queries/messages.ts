import { z } from 'zod';
import type { Storage } from '../../db/storage';
import type { Row } from '../../db/types';
import { SUCCESS_CODES } from '../../koogallery/resultCodes';
import { add, chunks, type Dataset, paginate, type Where, where } from '../pagination';
import { bool, columns, common, exportOptions, instant, text } from './shared';

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

// A message failed unless its result code is one of the success codes (production interface and open APIs).
export const FAILED_SQL = `(error IS NOT NULL OR http_status >= 400 OR (result_code IS NOT NULL AND result_code != '' AND result_code NOT IN (${SUCCESS_CODES.map(
  (c) => `'${c}'`,
).join(', ')})))`;

export function messageView(row: Row) {
  const c = columns('marketplace message', row);
  const latencyMs = c.numberOrNull('latency_ms');
  return {
    id: c.number('id'),
    at: c.string('created_at'),
    direction: c.oneOf('direction', ['in', 'out'] as const),
    activity: c.string('activity'),
    method: c.stringOrNull('method'),
    path: c.stringOrNull('path'),
    resultCode: c.stringOrNull('result_code'),
    httpStatus: c.numberOrNull('http_status'),
    latencyMs: latencyMs === null ? null : Math.round(latencyMs * 10) / 10,
    // Computed in SQL, where a message with neither an error nor a status nor a result code yields NULL.
    failed: c.flagOrFalse('failed'),
    error: c.stringOrNull('error'),
    entitlementId: c.stringOrNull('entitlement_id'),
    orderId: c.stringOrNull('order_id'),
    code: c.stringOrNull('code'),
    eventId: c.stringOrNull('event_id'),
    outboxId: c.numberOrNull('outbox_id'),
    test: c.flag('test'),
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
  // A flag as 0/1 on both backends (a bare condition is a boolean on PostgreSQL).
  select: `*, CASE WHEN ${FAILED_SQL} THEN 1 ELSE 0 END AS failed`,
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

export const listMessages = (db: Storage, f: MessageFilter) => paginate(db, messages, messageWhere(f), f);
export const exportMessages = (db: Storage, f: Omit<MessageFilter, 'limit' | 'page' | 'cursor'>) =>
  chunks(db, messages, messageWhere(f));
