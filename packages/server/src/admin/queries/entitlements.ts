import { z } from 'zod';
import type { Db, Row } from '../../db/database';
import type { EntitlementRow } from '../../licensing/entitlements';
import { add, chunks, type Dataset, likeAnywhere, paginate, type Where, where } from '../pagination';
import { bit, common, exportOptions, instant, listOf, parseJson, text } from './shared';

export const ENTITLEMENT_STATUSES = [
  'provisioning',
  'active',
  'frozen',
  'expired',
  'suspended',
  'revoked',
  'released',
] as const;
export const FAMILIES = ['A', 'B', 'C', 'direct'] as const;
export const entitlementFilterSchema = z
  .object({
    ...common,
    status: listOf(ENTITLEMENT_STATUSES).optional(),
    family: listOf(FAMILIES).optional(),
    productId: text(64).optional(),
    q: text(200).optional(),
    since: instant.optional(),
    expiresBefore: instant.optional(),
  })
  .strict();
export type EntitlementFilter = z.infer<typeof entitlementFilterSchema>;

export const entitlementExportSchema = entitlementFilterSchema
  .omit({ limit: true, page: true, cursor: true })
  .extend(exportOptions);
export function entitlementView(row: Row | EntitlementRow) {
  const r = row as Row;
  return {
    id: r.id as string,
    family: r.family as string,
    code: (r.code as string | null) ?? null,
    status: r.status as string,
    productId: (r.product_id as string | null) ?? null,
    skuCode: (r.sku_code as string | null) ?? null,
    edition: (r.edition as string | null) ?? null,
    seats: r.seats as number,
    customerId: (r.customer_id as string | null) ?? null,
    customerName: (r.customer_name as string | null) ?? null,
    orderId: (r.order_id as string | null) ?? null,
    orderLineId: (r.order_line_id as string | null) ?? null,
    chargingMode: (r.charging_mode as string | null) ?? null,
    periodType: (r.period_type as string | null) ?? null,
    periodNumber: (r.period_number as number | null) ?? null,
    startsAt: (r.starts_at as string | null) ?? null,
    expiresAt: (r.expires_at as string | null) ?? null,
    policy: r.policy ? parseJson(r.policy) : null,
    test: bit(r.test),
    createdAt: r.created_at as string,
    updatedAt: r.updated_at as string,
  };
}
export type EntitlementView = ReturnType<typeof entitlementView>;
export const ENTITLEMENT_COLUMNS: (keyof EntitlementView)[] = [
  'id',
  'family',
  'code',
  'status',
  'productId',
  'skuCode',
  'edition',
  'seats',
  'customerId',
  'customerName',
  'orderId',
  'orderLineId',
  'chargingMode',
  'periodType',
  'periodNumber',
  'startsAt',
  'expiresAt',
  'policy',
  'test',
  'createdAt',
  'updatedAt',
];

/*
 * Licenses and devices are listed newest first in the order they were created: by rowid, which SQLite
 * assigns in insertion order and walks backwards on the table itself, so a page, a cursor and every export
 * chunk cost a few index steps instead of sorting the whole table (no created_at index is needed).
 */
const entitlements: Dataset<EntitlementView> = {
  from: 'entitlements',
  select: '*, rowid AS rowid',
  sort: ['rowid'],
  map: entitlementView,
};

export function entitlementWhere(f: Omit<EntitlementFilter, 'limit' | 'page' | 'cursor'>): Where {
  const w = where();
  if (!f.includeTest) add(w, 'test = 0');
  if (f.status) add(w, `status IN (${f.status.map(() => '?').join(', ')})`, ...f.status);
  if (f.family) add(w, `family IN (${f.family.map(() => '?').join(', ')})`, ...f.family);
  if (f.productId) add(w, 'product_id = ?', f.productId);
  if (f.since) add(w, 'created_at >= ?', f.since);
  if (f.expiresBefore) add(w, 'expires_at IS NOT NULL AND expires_at < ?', f.expiresBefore);
  if (f.q) {
    const p = likeAnywhere(f.q);
    add(
      w,
      `id LIKE ? ESCAPE '\\' OR code LIKE ? ESCAPE '\\' OR order_id LIKE ? ESCAPE '\\' OR customer_id LIKE ? ESCAPE '\\'
       OR customer_name LIKE ? ESCAPE '\\' OR product_id LIKE ? ESCAPE '\\' OR sku_code LIKE ? ESCAPE '\\'`,
      p,
      p,
      p,
      p,
      p,
      p,
      p,
    );
  }
  return w;
}

export const listEntitlements = (db: Db, f: EntitlementFilter) => paginate(db, entitlements, entitlementWhere(f), f);
export const exportEntitlements = (db: Db, f: Omit<EntitlementFilter, 'limit' | 'page' | 'cursor'>) =>
  chunks(db, entitlements, entitlementWhere(f));
