import { z } from 'zod';
import type { AppContext } from '../context';
import {
  applyMarketplaceStatus,
  changeEntitlement,
  type EntitlementRow,
  findEntitlementByCode,
  recordChange,
} from '../licensing';
import { entitlementChangeHandler } from './entitlementChange';
import { type Answer, fail, ok, RESULT } from './resultCodes';
import { compactTime, optStr, str, testFlag } from './validate';

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

const findB = async (ctx: AppContext, code: string): Promise<EntitlementRow | undefined> => {
  const ent = await findEntitlementByCode(ctx.db, code);
  return ent?.family === 'B' ? ent : undefined;
};

const unknownCode = (p: { license: string }): Answer =>
  fail(RESULT.notFound, `License code ${p.license} does not exist`);

export const refreshLicenseCode = entitlementChangeHandler({
  activity: 'refreshLicenseCode',
  schema: refreshSchema,
  find: (ctx, p) => findB(ctx, p.license),
  missing: unknownCode,
  reviveForDialTest: true,
  change: async (ctx, ent, p) => {
    if (!(await recordChange(ctx.db, ent.id, p.scene, p.orderId, { expireTime: p.expireTime.toISOString() }))) return;
    await changeEntitlement(
      ctx,
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
  },
});

export const updateLicenseCodeStatus = entitlementChangeHandler({
  activity: 'updateLicenseCodeStatus',
  schema: statusSchema,
  find: (ctx, p) => findB(ctx, p.license),
  missing: unknownCode,
  reviveForDialTest: true,
  change: async (ctx, ent, p) => {
    await applyMarketplaceStatus(ctx, ent, p.status, 'marketplace:updateLicenseCodeStatus');
  },
});

export const releaseLicenseCode = entitlementChangeHandler({
  activity: 'releaseLicenseCode',
  schema: releaseSchema,
  find: (ctx, p) => findB(ctx, p.license),
  // Releasing an unknown or released code is answered as success (spec §7.6).
  missing: () => ok(),
  reviveForDialTest: false,
  change: async (ctx, ent, p) => {
    await changeEntitlement(
      ctx,
      ent,
      { status: 'released' },
      'marketplace:releaseLicenseCode',
      'entitlement.released',
      {
        orderId: p.orderId,
        orderLineId: p.orderLineId,
      },
    );
  },
});

/** The license code 2.0 activities (family B), by name. */
export const licenseCodeV2Activities: Record<
  string,
  (ctx: AppContext, body: Record<string, unknown>) => Promise<Answer>
> = {
  refreshLicenseCode,
  updateLicenseCodeStatus,
  releaseLicenseCode,
};
