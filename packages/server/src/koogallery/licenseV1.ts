import { randomUUID } from 'node:crypto';
import { generateLicenseCode } from '@licensor/shared';
import { z } from 'zod';
import type { AppContext } from '../context';
import { inTx } from '../db/storage';
import {
  announceCreated,
  audit,
  changeEntitlement,
  derivedSeats,
  type EntitlementRow,
  recordChange,
} from '../licensing';
import { entitlementChangeHandler } from './entitlementChange';
import { noteOrder } from './orderKeys';
import { type Answer, fail, ok, RESULT } from './resultCodes';
import { reviveForDialTest } from './testTraffic';
import { parseCompactTime } from './time';
import { compactTime, intLike, optStr, str, testFlag, validate } from './validate';

/**
 * Family A (License 1.0): GET requests signed with scheme A. The merchant mints the license code for each
 * order; `getLicense` is idempotent on orderId and returns the same instanceId and license every time.
 * Replay protection (timeStamp window, recorded answer per authToken) lives in produce.ts; here an expiry
 * or release signed before the instance's last applied renewal is acknowledged and ignored, so an old URL
 * replayed after a renewal cannot expire the license again.
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

const findA = (ctx: AppContext, instanceId: string) =>
  ctx.db.first<EntitlementRow>(`SELECT * FROM entitlements WHERE id = ? AND family = 'A'`, [instanceId]);

export async function getLicense(ctx: AppContext, params: Record<string, string>): Promise<Answer> {
  const v = validate(getLicenseSchema, params);
  if ('answer' in v) return v.answer;
  const p = v.data;
  const answerFor = (row: { id: string; code: string | null }) => ok({ instanceId: row.id, license: row.code });
  return await ctx.db.transaction(async (tx) => {
    const t = inTx(ctx, tx);
    const existing = await tx.first<EntitlementRow>(`SELECT * FROM entitlements WHERE family = 'A' AND order_id = ?`, [
      p.orderId,
    ]);
    if (existing) {
      await reviveForDialTest(t, existing, p.testFlag, 'marketplace:getLicense');
      return answerFor(existing);
    }
    const now = ctx.now().toISOString();
    const id = randomUUID();
    let code = generateLicenseCode();
    // 95 random bits make a collision practically impossible; the unique index is the real guard.
    while (await tx.first('SELECT 1 FROM entitlements WHERE code = ?', [code])) code = generateLicenseCode();
    // No quantity in the call is no quantity (NULL), not 1: the SKU's or product's seats then apply (derivedSeats).
    const ordered = p.amount !== undefined && p.amount > 0 ? p.amount : null;
    const seats = await derivedSeats(tx, {
      product_id: p.productId,
      sku_code: p.skuCode ?? null,
      seats_override: null,
      ordered_seats: ordered,
    });
    await tx.run(
      `INSERT INTO entitlements (id, family, code, order_id, product_id, sku_code, customer_id, customer_name,
         charging_mode, period_type, period_number, seats, ordered_seats, starts_at, expires_at, status, test, created_at, updated_at)
       VALUES (?, 'A', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?)`,
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
        seats,
        ordered,
        now,
        p.expireTime?.toISOString() ?? null,
        p.testFlag ? 1 : 0,
        now,
        now,
      ],
    );
    await noteOrder(tx, p.orderId, '', now);
    await audit(tx, {
      actor: 'marketplace:getLicense',
      action: 'entitlement.created',
      entitlementId: id,
      after: { orderId: p.orderId, productId: p.productId, skuCode: p.skuCode ?? null, seats, orderedSeats: ordered },
      detail: { businessId: p.businessId, test: p.testFlag },
    });
    await announceCreated(t, (await findA(t, id))!, 'marketplace:getLicense', 'entitlement.created', ctx.now());
    return answerFor({ id, code });
  });
}

export const refreshLicense = entitlementChangeHandler<typeof refreshSchema, Record<string, string>>({
  activity: 'refreshLicense',
  schema: refreshSchema,
  find: (ctx, p) => findA(ctx, p.instanceId),
  missing: (p) => fail(RESULT.notFound, `Instance ${p.instanceId} does not exist`),
  reviveForDialTest: true,
  change: async (ctx, ent, p, params) => {
    const signedAt = signedTime(params);
    if (!(await recordChange(ctx.db, ent.id, 'renew', p.orderId, { expireTime: p.expireTime.toISOString(), signedAt })))
      return;
    await changeEntitlement(
      ctx,
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
  },
});

/** The request's signed timeStamp as ISO text (produce.ts has verified it before any handler runs). */
function signedTime(params: Record<string, string>): string | null {
  return parseCompactTime(params.timeStamp ?? '')?.toISOString() ?? null;
}

/**
 * The newest signing time among the instance's renewals. Read in code rather than with SQLite's json_extract
 * (PostgreSQL spells JSON access differently); an instance has one renewal row per renewal order, a handful.
 */
async function lastRenewalSignedAt(ctx: AppContext, entitlementId: string): Promise<string | null> {
  let last: string | null = null;
  for (const { detail } of await ctx.db.all<{ detail: string | null }>(
    "SELECT detail FROM entitlement_changes WHERE entitlement_id = ? AND kind = 'renew'",
    [entitlementId],
  )) {
    const at = detail ? (JSON.parse(detail) as { signedAt?: unknown }).signedAt : undefined;
    if (typeof at === 'string' && (last === null || at > last)) last = at;
  }
  return last;
}

/**
 * True when the request was signed before the last renewal applied to the instance: such an expiry or
 * release describes a state the renewal has superseded (a late retry or a replayed URL), so it is not applied.
 */
async function supersededByRenewal(
  ctx: AppContext,
  ent: EntitlementRow,
  params: Record<string, string>,
): Promise<boolean> {
  const signedAt = signedTime(params);
  const last = await lastRenewalSignedAt(ctx, ent.id);
  if (!signedAt || !last || signedAt >= last) return false;
  await audit(ctx.db, {
    actor: `marketplace:${params.activity}`,
    action: 'marketplace.superseded_request_ignored',
    entitlementId: ent.id,
    detail: { activity: params.activity, signedAt, lastRenewalSignedAt: last },
    at: ctx.now(),
  });
  return true;
}

export const expireLicense = entitlementChangeHandler<typeof instanceSchema, Record<string, string>>({
  activity: 'expireLicense',
  schema: instanceSchema,
  find: (ctx, p) => findA(ctx, p.instanceId),
  // Unknown instance: answered as success, like a repeated expiry (documented in the server README).
  missing: () => ok(),
  reviveForDialTest: true,
  change: async (ctx, ent, _p, params) => {
    if (ent.status === 'expired' || (await supersededByRenewal(ctx, ent, params))) return;
    await changeEntitlement(ctx, ent, { status: 'expired' }, 'marketplace:expireLicense', 'entitlement.expired');
  },
});

export const releaseLicense = entitlementChangeHandler<typeof instanceSchema, Record<string, string>>({
  activity: 'releaseLicense',
  schema: instanceSchema,
  find: (ctx, p) => findA(ctx, p.instanceId),
  missing: () => ok(),
  reviveForDialTest: false,
  change: async (ctx, ent, _p, params) => {
    if (await supersededByRenewal(ctx, ent, params)) return;
    await changeEntitlement(ctx, ent, { status: 'released' }, 'marketplace:releaseLicense', 'entitlement.released');
  },
});

/** The License 1.0 activities (family A, GET with scheme A), by name. */
export const licenseV1Activities: Record<string, (ctx: AppContext, params: Record<string, string>) => Promise<Answer>> =
  {
    getLicense,
    refreshLicense,
    expireLicense,
    releaseLicense,
  };
