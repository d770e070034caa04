import { z } from 'zod';
import type { Db, Row } from '../../db/database';
import type { OutboxItem } from '../../outbox/outbox';
import { add, type Dataset, pageSchema, paginate, where } from '../pagination';
import { listOf, parseJson, text } from './shared';

export const OUTBOX_STATUSES = ['pending', 'running', 'done', 'failed'] as const;

export const outboxFilterSchema = z
  .object({
    ...pageSchema,
    status: listOf(OUTBOX_STATUSES).optional(),
    kind: text(100).optional(),
  })
  .strict();
export type OutboxFilter = z.infer<typeof outboxFilterSchema>;

export function outboxView(r: Row | OutboxItem) {
  const o = r as OutboxItem;
  return {
    id: o.id,
    kind: o.kind,
    status: o.status,
    attempts: o.attempts,
    nextAttemptAt: o.status === 'done' ? null : new Date(o.next_attempt_at).toISOString(),
    lastError: o.last_error,
    dedupeKey: o.dedupe_key,
    payload: parseJson(o.payload),
    createdAt: o.created_at,
    updatedAt: o.updated_at,
  };
}

const outbox: Dataset<ReturnType<typeof outboxView>> = { from: 'outbox', select: '*', sort: ['id'], map: outboxView };

export function listOutbox(db: Db, f: OutboxFilter) {
  const w = where();
  // By default what an operator has to look at: work not yet done.
  const statuses = f.status ?? ['pending', 'running', 'failed'];
  add(w, `status IN (${statuses.map(() => '?').join(', ')})`, ...statuses);
  if (f.kind) add(w, 'kind = ?', f.kind);
  return paginate(db, outbox, w, f);
}
