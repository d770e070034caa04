import { z } from 'zod';
import type { Storage } from '../../db/storage';
import type { Row } from '../../db/types';
import type { EntitlementRow } from '../../licensing/entitlements';
import { add, chunks, type Dataset, paginate, textSearch, type Where, where } from '../pagination';
import { columns, common, exportOptions, instant, listOf, text } from './shared';

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
  const c = columns('entitlement', row);
  return {
    id: c.string('id'),
    family: c.string('family'),
    code: c.stringOrNull('code'),
    status: c.string('status'),
    productId: c.stringOrNull('product_id'),
    skuCode: c.stringOrNull('sku_code'),
    /** The license's own edition; null follows its SKU (catalogue). */
    edition: c.stringOrNull('edition'),
    /** The license's own features over its SKU's and product's ({name: true | false | number}); null: none. */
    features: c.json('features') as Record<string, boolean | number> | null,
    seats: c.number('seats'),
    /** The license's own seat count (an operator's choice); null when its seats follow the order or the catalogue. */
    seatsOverride: c.numberOrNull('seats_override'),
    /** The quantity the marketplace order carried; null when it named none (the SKU's or product's seats apply). */
    orderedSeats: c.numberOrNull('ordered_seats'),
    customerId: c.stringOrNull('customer_id'),
    customerName: c.stringOrNull('customer_name'),
    orderId: c.stringOrNull('order_id'),
    orderLineId: c.stringOrNull('order_line_id'),
    chargingMode: c.stringOrNull('charging_mode'),
    periodType: c.stringOrNull('period_type'),
    periodNumber: c.numberOrNull('period_number'),
    startsAt: c.stringOrNull('starts_at'),
    expiresAt: c.stringOrNull('expires_at'),
    policy: c.json('policy'),
    test: c.flag('test'),
    createdAt: c.string('created_at'),
    updatedAt: c.string('updated_at'),
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
 * Licenses and devices are listed newest first in the order they were created: by seq (migration 020: the
 * rowid on SQLite, an identity on PostgreSQL), walked backwards on its unique index, so a page, a cursor and
 * every export chunk cost a few index steps instead of sorting the whole table (no created_at index is needed).
 */
const entitlements: Dataset<EntitlementView> = {
  from: 'entitlements',
  select: '*',
  sort: ['seq'],
  map: entitlementView,
};

/**
 * `q` names a license exactly (its id, its code or its order id: what a customer quotes), found through an index;
 * when nothing matches exactly, it is searched for as text in the id, code, order, customer id and name, product
 * and SKU of every license — a read of the whole table (0.6–1.3 s at a million licenses, bench/console-lists-bench.ts).
 */
const EXACT_SQL = 'id = ? OR code = ? OR order_id = ?';

export async function entitlementWhere(
  db: Storage,
  f: Omit<EntitlementFilter, 'limit' | 'page' | 'cursor'>,
): Promise<Where> {
  const w = filterWhere(f);
  if (!f.q) return w;
  const exact = add({ sql: [...w.sql], params: [...w.params] }, EXACT_SQL, f.q, f.q, f.q);
  const found = await db.first(
    `SELECT 1 AS found FROM entitlements WHERE ${exact.sql.map((s) => `(${s})`).join(' AND ')} LIMIT 1`,
    exact.params,
  );
  if (found) return exact;
  return add(
    w,
    ...textSearch(
      db.dialect,
      ['id', 'code', 'order_id', 'customer_id', 'customer_name', 'product_id', 'sku_code'],
      f.q,
    ),
  );
}

function filterWhere(f: Omit<EntitlementFilter, 'limit' | 'page' | 'cursor'>): Where {
  const w = where();
  if (!f.includeTest) add(w, 'test = 0');
  if (f.status) add(w, `status IN (${f.status.map(() => '?').join(', ')})`, ...f.status);
  if (f.family) add(w, `family IN (${f.family.map(() => '?').join(', ')})`, ...f.family);
  if (f.productId) add(w, 'product_id = ?', f.productId);
  if (f.since) add(w, 'created_at >= ?', f.since);
  if (f.expiresBefore) add(w, 'expires_at IS NOT NULL AND expires_at < ?', f.expiresBefore);
  return w;
}

export const listEntitlements = async (db: Storage, f: EntitlementFilter) =>
  paginate(db, entitlements, await entitlementWhere(db, f), f);
export const exportEntitlements = async (db: Storage, f: Omit<EntitlementFilter, 'limit' | 'page' | 'cursor'>) =>
  chunks(db, entitlements, await entitlementWhere(db, f));
