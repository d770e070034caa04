import { z } from 'zod';
import type { Storage } from '../../db/storage';
import type { Row } from '../../db/types';
import { add, type Dataset, paginate, textSearch, type Where, where } from '../pagination';
import { columns, common, instant, text } from './shared';

export const auditFilterSchema = z
  .object({
    ...common,
    entitlementId: text(128).optional(),
    activationId: text(128).optional(),
    actor: text(200).optional(),
    action: text(200).optional(),
    q: text(200).optional(),
    since: instant.optional(),
  })
  .strict();
export type AuditFilter = z.infer<typeof auditFilterSchema>;

export function auditView(row: Row) {
  const c = columns('audit log', row);
  return {
    id: c.number('id'),
    at: c.string('at'),
    actor: c.string('actor'),
    action: c.string('action'),
    entitlementId: c.stringOrNull('entitlement_id'),
    activationId: c.stringOrNull('activation_id'),
    before: c.jsonOrNull('before'),
    after: c.jsonOrNull('after'),
    detail: c.jsonOrNull('detail'),
  };
}
export type AuditView = ReturnType<typeof auditView>;

const auditLog: Dataset<AuditView> = { from: 'audit_log', select: '*', sort: ['id'], map: auditView };

function auditWhere(dialect: Storage['dialect'], f: Omit<AuditFilter, 'limit' | 'page' | 'cursor'>): Where {
  const w = where();
  if (!f.includeTest) {
    add(w, 'NOT EXISTS (SELECT 1 FROM entitlements e WHERE e.id = audit_log.entitlement_id AND e.test = 1)');
  }
  if (f.entitlementId) add(w, 'entitlement_id = ?', f.entitlementId);
  if (f.activationId) add(w, 'activation_id = ?', f.activationId);
  if (f.actor) add(w, 'actor = ?', f.actor);
  if (f.action) add(w, 'action = ?', f.action);
  if (f.since) add(w, 'at >= ?', f.since);
  if (f.q) {
    add(w, ...textSearch(dialect, ['action', 'actor', 'detail'], f.q));
  }
  return w;
}

export const listAudit = (db: Storage, f: AuditFilter) => paginate(db, auditLog, auditWhere(db.dialect, f), f);

/** Recent audit trail of one entitlement (newest first). */
export const auditTrail = async (db: Storage, entitlementId: string, limit = 100): Promise<AuditView[]> =>
  (
    await db.all<Row>('SELECT * FROM audit_log WHERE entitlement_id = ? ORDER BY id DESC LIMIT ?', [
      entitlementId,
      limit,
    ])
  ).map(auditView);
