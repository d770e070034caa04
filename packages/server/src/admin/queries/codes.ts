import type { Storage } from '../../db/storage';
import type { Row } from '../../db/types';
import { add, type Dataset, paginate } from '../pagination';
import { type EntitlementFilter, entitlementWhere } from './entitlements';
import { columns } from './shared';

export function codeRowView(row: Row) {
  const c = columns('license code', row);
  return {
    code: c.string('code'),
    entitlementId: c.string('id'),
    family: c.string('family'),
    status: c.string('status'),
    productId: c.stringOrNull('product_id'),
    seats: c.number('seats'),
    expiresAt: c.stringOrNull('expires_at'),
    lastUsedDay: c.stringOrNull('last_used_day'),
    test: c.flag('test'),
    createdAt: c.string('created_at'),
    updatedAt: c.string('updated_at'),
  };
}

const codes: Dataset<ReturnType<typeof codeRowView>> = {
  from: 'entitlements',
  select: '*, (SELECT MAX(day) FROM code_usage u WHERE u.code = entitlements.code) AS last_used_day',
  sort: ['seq'],
  map: codeRowView,
};

export async function listCodes(db: Storage, f: EntitlementFilter) {
  const w = await entitlementWhere(db, f);
  add(w, 'code IS NOT NULL');
  return await paginate(db, codes, w, f);
}
