import { z } from 'zod';
import type { Storage } from '../../db/storage';
import type { Row } from '../../db/types';
import type { OutboxItem } from '../../outbox/outbox';
import { add, type Dataset, pageSchema, paginate, where } from '../pagination';
import { columns, listOf, text } from './shared';

export const OUTBOX_STATUSES = ['pending', 'running', 'done', 'failed'] as const;

export const outboxFilterSchema = z
  .object({
    ...pageSchema,
    status: listOf(OUTBOX_STATUSES).optional(),
    kind: text(100).optional(),
  })
  .strict();
export type OutboxFilter = z.infer<typeof outboxFilterSchema>;

export function outboxView(row: Row | OutboxItem) {
  const c = columns('outbox', row);
  const status = c.oneOf('status', OUTBOX_STATUSES);
  return {
    id: c.number('id'),
    kind: c.string('kind'),
    status,
    attempts: c.number('attempts'),
    nextAttemptAt: status === 'done' ? null : new Date(c.number('next_attempt_at')).toISOString(),
    lastError: c.stringOrNull('last_error'),
    dedupeKey: c.stringOrNull('dedupe_key'),
    payload: c.jsonOrNull('payload'),
    createdAt: c.string('created_at'),
    updatedAt: c.string('updated_at'),
  };
}

const outbox: Dataset<ReturnType<typeof outboxView>> = { from: 'outbox', select: '*', sort: ['id'], map: outboxView };

export async function listOutbox(db: Storage, f: OutboxFilter) {
  const w = where();
  // By default what an operator has to look at: work not yet done.
  const statuses = f.status ?? ['pending', 'running', 'failed'];
  add(w, `status IN (${statuses.map(() => '?').join(', ')})`, ...statuses);
  if (f.kind) add(w, 'kind = ?', f.kind);
  return await paginate(db, outbox, w, f);
}
