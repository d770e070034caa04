import type { Db, Row } from '../../db/database';
import { add, type Dataset, paginate } from '../pagination';
import { type EntitlementFilter, entitlementWhere } from './entitlements';
import { bit } from './shared';

export function codeRowView(r: Row) {
  return {
    code: r.code as string,
    entitlementId: r.id as string,
    family: r.family as string,
    status: r.status as string,
    productId: (r.product_id as string | null) ?? null,
    seats: r.seats as number,
    expiresAt: (r.expires_at as string | null) ?? null,
    lastUsedDay: (r.last_used_day as string | null) ?? null,
    test: bit(r.test),
    createdAt: r.created_at as string,
    updatedAt: r.updated_at as string,
  };
}

const codes: Dataset<ReturnType<typeof codeRowView>> = {
  from: 'entitlements',
  select: '*, rowid AS rowid, (SELECT MAX(day) FROM code_usage u WHERE u.code = entitlements.code) AS last_used_day',
  sort: ['rowid'],
  map: codeRowView,
};

export function listCodes(db: Db, f: EntitlementFilter) {
  const w = entitlementWhere(f);
  add(w, 'code IS NOT NULL');
  return paginate(db, codes, w, f);
}
