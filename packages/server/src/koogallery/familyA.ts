import { randomUUID } from 'node:crypto';
import { generateLicenseCode } from '@licensor/shared';
import { z } from 'zod';
import { audit, changeEntitlement, type EntitlementRow, recordChange } from '../licensing/entitlements';
import type { KooContext } from './context';
import { type Answer, fail, ok, RESULT } from './resultCodes';
import { compactTime, intLike, optStr, str, testFlag, validate } from './validate';

/**
 * Family A (License 1.0): GET requests signed with scheme A. The merchant mints the license code for each
 * order; `getLicense` is idempotent on orderId and returns the same instanceId and license every time.
 */

const getLicenseSchema = z.object({
  customerId: str(100),
  customerName: optStr(64),
  businessId: str(64),
  orderId: str(64),
  skuCode: optStr(64),
  productId: str(64),
  expireTime: compactTime.optional(),
  periodType: z.enum(['year', 'month', 'day', 'week', 'hour']).optional(),
  periodNumber: intLike.optional(),
  amount: intLike.optional(),
  testFlag,
});

const refreshSchema = z.object({
  orderId: str(64),
  instanceId: str(64),
  productId: optStr(64),
  expireTime: compactTime,
  periodType: optStr(10),
  periodNumber: intLike.optional(),
  testFlag,
});

const instanceSchema = z.object({ orderId: optStr(64), instanceId: str(64), testFlag });

const findA = (ctx: KooContext, instanceId: string) =>
  ctx.db.first<EntitlementRow>(`SELECT * FROM entitlements WHERE id = ? AND family = 'A'`, [instanceId]);

export function getLicense(ctx: KooContext, params: Record<string, string>): Answer {
  const v = validate(getLicenseSchema, params);
  if ('answer' in v) return v.answer;
  const p = v.data;
  const answerFor = (row: { id: string; code: string | null }) => ok({ instanceId: row.id, license: row.code });
  return ctx.db.transaction(() => {
    const existing = ctx.db.first<{ id: string; code: string }>(
      `SELECT id, code FROM entitlements WHERE family = 'A' AND order_id = ?`,
      [p.orderId],
    );
    if (existing) return answerFor(existing);
    const now = ctx.now().toISOString();
    const id = randomUUID();
    let code = generateLicenseCode();
    // 95 random bits make a collision practically impossible; the unique index is the real guard.
    while (ctx.db.first('SELECT 1 FROM entitlements WHERE code = ?', [code])) code = generateLicenseCode();
    ctx.db.run(
      `INSERT INTO entitlements (id, family, code, order_id, product_id, sku_code, customer_id, customer_name,
         charging_mode, period_type, period_number, seats, starts_at, expires_at, status, test, created_at, updated_at)
       VALUES (?, 'A', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?)`,
      [
        id,
        code,
        p.orderId,
        p.productId,
        p.skuCode ?? null,
        p.customerId,
        p.customerName ?? null,
        p.periodType ? 'PERIOD' : 'ONE_TIME',
        p.periodType ?? null,
        p.periodNumber ?? null,
        Math.max(1, p.amount ?? 1),
        now,
        p.expireTime?.toISOString() ?? null,
        p.testFlag ? 1 : 0,
        now,
        now,
      ],
    );
    audit(ctx.db, {
      actor: 'marketplace:getLicense',
      action: 'entitlement.created',
      entitlementId: id,
      after: { orderId: p.orderId, productId: p.productId, seats: Math.max(1, p.amount ?? 1) },
      detail: { businessId: p.businessId, test: p.testFlag },
    });
    return answerFor({ id, code });
  });
}

export function refreshLicense(ctx: KooContext, params: Record<string, string>): Answer {
  const v = validate(refreshSchema, params);
  if ('answer' in v) return v.answer;
  const p = v.data;
  return ctx.db.transaction(() => {
    const ent = findA(ctx, p.instanceId);
    if (!ent || ent.status === 'released') return fail(RESULT.notFound, `Instance ${p.instanceId} does not exist`);
    if (!recordChange(ctx.db, ent.id, 'renew', p.orderId, { expireTime: p.expireTime.toISOString() })) return ok();
    changeEntitlement(
      ctx.db,
      ent,
      {
        expires_at: p.expireTime.toISOString(),
        product_id: p.productId || ent.product_id,
        // Renewal during the freeze period brings the license back.
        status: ent.status === 'expired' || ent.status === 'frozen' ? 'active' : ent.status,
      },
      'marketplace:refreshLicense',
      'entitlement.renewed',
      { orderId: p.orderId },
    );
    return ok();
  });
}

export function expireLicense(ctx: KooContext, params: Record<string, string>): Answer {
  const v = validate(instanceSchema, params);
  if ('answer' in v) return v.answer;
  return ctx.db.transaction(() => {
    const ent = findA(ctx, v.data.instanceId);
    // Unknown instance: answered as success, like a repeated expiry (documented in the server README).
    if (!ent || ent.status === 'expired' || ent.status === 'released') return ok();
    changeEntitlement(ctx.db, ent, { status: 'expired' }, 'marketplace:expireLicense', 'entitlement.expired');
    return ok();
  });
}

export function releaseLicense(ctx: KooContext, params: Record<string, string>): Answer {
  const v = validate(instanceSchema, params);
  if ('answer' in v) return v.answer;
  return ctx.db.transaction(() => {
    const ent = findA(ctx, v.data.instanceId);
    if (!ent || ent.status === 'released') return ok();
    changeEntitlement(ctx.db, ent, { status: 'released' }, 'marketplace:releaseLicense', 'entitlement.released');
    return ok();
  });
}

export const familyA: Record<string, (ctx: KooContext, params: Record<string, string>) => Answer> = {
  getLicense,
  refreshLicense,
  expireLicense,
  releaseLicense,
};
