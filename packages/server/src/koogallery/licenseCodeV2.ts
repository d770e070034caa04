import { z } from 'zod';
import type { AppContext } from '../context';
import {
  applyMarketplaceStatus,
  audit,
  changeEntitlement,
  type EntitlementRow,
  findEntitlementByCode,
  recordChange,
} from '../licensing';
import { type Answer, fail, ok, RESULT } from './resultCodes';
import { reviveForDialTest, usable } from './testTraffic';
import { compactTime, optStr, str, testFlag, validate } from './validate';

/**
 * Family B (license-code 2.0): the marketplace mints `PL…` codes. The server learns a code when a client
 * first activates it or an operator registers it; these notifications change its expiry and status.
 * An unknown code answers 000003 (spec §7.6), except on release, which is answered as success.
 */

const refreshSchema = z.object({
  license: str(64),
  scene: z.enum(['RENEWAL', 'UNSUBSCRIBE_RENEWAL_PERIOD']),
  orderId: str(64),
  orderLineId: str(64),
  productId: optStr(64),
  expireTime: compactTime,
  testFlag,
});

const statusSchema = z.object({
  license: str(64),
  status: z.enum(['FREEZE', 'UNFREEZE']),
  testFlag,
});

const releaseSchema = z.object({
  license: str(64),
  orderId: optStr(64),
  orderLineId: optStr(64),
  testFlag,
});

const findB = (ctx: AppContext, code: string): EntitlementRow | undefined => {
  const ent = findEntitlementByCode(ctx.db, code);
  return ent?.family === 'B' ? ent : undefined;
};

export function refreshLicenseCode(ctx: AppContext, body: Record<string, unknown>): Answer {
  const v = validate(refreshSchema, body);
  if ('answer' in v) return v.answer;
  const p = v.data;
  return ctx.db.transaction(() => {
    const found = findB(ctx, p.license);
    const ent = found && reviveForDialTest(ctx, found, p.testFlag, 'marketplace:refreshLicenseCode');
    if (!usable(ent)) return fail(RESULT.notFound, `License code ${p.license} does not exist`);
    if (!recordChange(ctx.db, ent.id, p.scene, p.orderId, { expireTime: p.expireTime.toISOString() })) return ok();
    changeEntitlement(
      ctx.db,
      ent,
      {
        expires_at: p.expireTime.toISOString(),
        product_id: p.productId || ent.product_id,
        status: ent.status === 'expired' && p.expireTime > ctx.now() ? 'active' : ent.status,
      },
      'marketplace:refreshLicenseCode',
      p.scene === 'RENEWAL' ? 'entitlement.renewed' : 'entitlement.renewal_refunded',
      { orderId: p.orderId, orderLineId: p.orderLineId },
    );
    return ok();
  });
}

export function updateLicenseCodeStatus(ctx: AppContext, body: Record<string, unknown>): Answer {
  const v = validate(statusSchema, body);
  if ('answer' in v) return v.answer;
  const p = v.data;
  return ctx.db.transaction(() => {
    const found = findB(ctx, p.license);
    const ent = found && reviveForDialTest(ctx, found, p.testFlag, 'marketplace:updateLicenseCodeStatus');
    if (!usable(ent)) return fail(RESULT.notFound, `License code ${p.license} does not exist`);
    applyMarketplaceStatus(ctx.db, ent, p.status, 'marketplace:updateLicenseCodeStatus');
    return ok();
  });
}

export function releaseLicenseCode(ctx: AppContext, body: Record<string, unknown>): Answer {
  const v = validate(releaseSchema, body);
  if ('answer' in v) return v.answer;
  const p = v.data;
  return ctx.db.transaction(() => {
    const ent = findB(ctx, p.license);
    if (!ent || ent.status === 'released') return ok();
    changeEntitlement(ctx.db, ent, { status: 'released' }, 'marketplace:releaseLicenseCode', 'entitlement.released', {
      orderId: p.orderId,
      orderLineId: p.orderLineId,
    });
    return ok();
  });
}

/** The license code 2.0 activities (family B), by name. */
export const licenseCodeV2Activities: Record<string, (ctx: AppContext, body: Record<string, unknown>) => Answer> = {
  refreshLicenseCode,
  updateLicenseCodeStatus,
  releaseLicenseCode,
};
