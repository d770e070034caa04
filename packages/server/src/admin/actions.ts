import { LicensorError } from '@licensor/shared';
import type { AppContext } from '../context';
import type { Storage } from '../db/storage';
import {
  audit,
  type EntitlementRow,
  findEntitlementRef,
  freeSeat,
  issueOfflineResponse,
  moveLicense,
  type PolicyOverrides,
  policyFor,
  reinstateEntitlement,
  revokeEntitlement,
  seatLimit,
  setEntitlementPolicy,
  suspendEntitlement,
} from '../licensing';
import { createAdminToken, listAdminTokens, revokeAdminToken, type Scope } from './auth';
import { activationsOf, auditTrail, entitlementView, outboxView } from './queries';

/**
 * Operator actions shared by the admin API and the CLI: thin wrappers over the licensing core's service
 * functions (which validate state, run in a transaction and write the audit log), returning the views both
 * front ends print. The actor is `admin:<token id>` or `cli:<user>`.
 */

export async function requireEntitlement(db: Storage, idOrCode: string): Promise<EntitlementRow> {
  const ent = await findEntitlementRef(db, idOrCode);
  if (!ent) {
    throw new LicensorError(
      'NOT_FOUND',
      `No license ${idOrCode}: search for it by code, customer or order id with the entitlements list`,
    );
  }
  return ent;
}

/** Devices in use per UTC day since `since` (newest first, days without any left out): activation to last check-in or release. */
export function usageFromDevices(
  devices: { createdAt: string; lastSeenAt: string | null; releasedAt: string | null }[],
  since: string,
  now: Date,
): { day: string; devices: number }[] {
  const out: { day: string; devices: number }[] = [];
  for (let t = now.getTime(); ; t -= 86_400_000) {
    const day = new Date(t).toISOString().slice(0, 10);
    if (day < since) break;
    const devicesThatDay = devices.filter((d) => {
      const end = (d.releasedAt ?? d.lastSeenAt ?? d.createdAt).slice(0, 10);
      return d.createdAt.slice(0, 10) <= day && end >= day;
    }).length;
    if (devicesThatDay > 0) out.push({ day, devices: devicesThatDay });
  }
  return out;
}

/** One entitlement with its policy, seats, devices, recent usage and audit trail. */
export async function entitlementDetail(ctx: Pick<AppContext, 'db' | 'now' | 'licenseModel'>, ent: EntitlementRow) {
  const { db } = ctx;
  const policy = await policyFor(db, ent);
  const activations = await activationsOf(db, ent.id);
  const since = new Date(ctx.now().getTime() - 30 * 86_400_000).toISOString().slice(0, 10);
  // Family-B codes record each device's use per day (for the marketplace's usage report); other licenses
  // know when each device activated, last checked in and was released, which spans the days it was in use.
  const usage =
    ent.family === 'B' && ent.code
      ? await db.all<{ day: string; devices: number }>(
          'SELECT day, COUNT(DISTINCT device) AS devices FROM code_usage WHERE code = ? AND day >= ? GROUP BY day ORDER BY day DESC',
          [ent.code, since],
        )
      : usageFromDevices(activations, since, ctx.now());
  return {
    entitlement: entitlementView(ent),
    // The edition and features its License files carry (license > SKU > product, from the catalogue).
    model: await ctx.licenseModel(ctx.db, ent),
    policy,
    seats: { limit: seatLimit(policy, ent.seats), used: activations.filter((a) => a.status === 'active').length },
    activations,
    usage,
    audit: await auditTrail(db, ent.id, 100),
  };
}

const entitlementResult = (before: EntitlementRow, after: EntitlementRow) => ({
  changed: before.status !== after.status || before.updated_at !== after.updated_at,
  entitlement: entitlementView(after),
});

type Ctx = Pick<AppContext, 'db' | 'now' | 'entitlementChanged' | 'activationChanged'>;

export const actions = {
  async suspend(ctx: Ctx, idOrCode: string, actor: string, reason?: string) {
    const before = await requireEntitlement(ctx.db, idOrCode);
    return entitlementResult(before, await suspendEntitlement(ctx, before.id, actor, { reason, now: ctx.now() }));
  },
  async reinstate(ctx: Ctx, idOrCode: string, actor: string, reason?: string) {
    const before = await requireEntitlement(ctx.db, idOrCode);
    return entitlementResult(before, await reinstateEntitlement(ctx, before.id, actor, { reason, now: ctx.now() }));
  },
  async revoke(ctx: Ctx, idOrCode: string, actor: string, reason?: string) {
    const before = await requireEntitlement(ctx.db, idOrCode);
    return entitlementResult(before, await revokeEntitlement(ctx, before.id, actor, { reason, now: ctx.now() }));
  },
  async freeSeat(ctx: Ctx, activationId: string, actor: string, reason?: string) {
    return await freeSeat(ctx, activationId, actor, { reason, now: ctx.now() });
  },
  async move(ctx: Ctx, activationId: string, target: string, actor: string, reason?: string) {
    return { activation: await moveLicense(ctx, activationId, target, actor, { reason, now: ctx.now() }) };
  },
  async setPolicy(ctx: Ctx, idOrCode: string, overrides: PolicyOverrides | null, actor: string) {
    const ent = await setEntitlementPolicy(ctx, (await requireEntitlement(ctx.db, idOrCode)).id, overrides, actor);
    return { entitlement: entitlementView(ent), policy: await policyFor(ctx.db, ent) };
  },
  /** Verifies a device's offline request and issues its License file (a seat is bound like online). */
  async offlineResponse(ctx: AppContext, requestText: string, actor: string) {
    const license = await issueOfflineResponse(ctx, requestText, actor);
    return { license };
  },
};

/** Operator action: run a failed (or waiting) outbox item again now. */
export async function retryOutboxItem(ctx: Pick<AppContext, 'db' | 'outbox' | 'now'>, id: number, actor: string) {
  return await ctx.db.transaction(async (tx) => {
    const item = await ctx.outbox.get(id, tx);
    if (!item) throw new LicensorError('NOT_FOUND', `No outbox item ${id}: list them with the outbox list`);
    if (!(await ctx.outbox.retry(id, tx))) {
      throw new LicensorError(
        'CONFLICT',
        `Outbox item ${id} is ${item.status}; only failed or pending items can be retried${item.status === 'running' ? ' (wait for the running attempt)' : ''}`,
      );
    }
    await audit(tx, {
      actor,
      action: 'outbox.retried',
      detail: { id, kind: item.kind, previousStatus: item.status, attempts: item.attempts },
      at: ctx.now(),
    });
    return outboxView((await ctx.outbox.get(id, tx))!);
  });
}

export const tokenView = (t: Awaited<ReturnType<typeof listAdminTokens>>[number]) => ({
  id: t.id,
  name: t.name,
  scope: t.scope,
  createdAt: t.created_at,
  lastUsedAt: t.last_used_at,
  revokedAt: t.revoked_at,
});

export async function createToken(db: Storage, name: string, scope: Scope, actor: string) {
  return await db.transaction(async (tx) => {
    const created = await createAdminToken(tx, name, scope);
    await audit(tx, { actor, action: 'admin_token.created', detail: { id: created.id, name, scope } });
    // The secret is shown once; only its hash is stored.
    return { id: created.id, name, scope, token: created.token };
  });
}

export const listTokens = async (db: Storage) => (await listAdminTokens(db)).map(tokenView);

/** Revokes a token; revoking a revoked token changes nothing (`changed: false`). */
export async function revokeToken(db: Storage, id: string, actor: string) {
  return await db.transaction(async (tx) => {
    const existing = (await listAdminTokens(tx)).find((t) => t.id === id);
    if (!existing) throw new LicensorError('NOT_FOUND', `No admin token ${id}: list them with the tokens list`);
    const changed = await revokeAdminToken(tx, id);
    if (changed) await audit(tx, { actor, action: 'admin_token.revoked', detail: { id, name: existing.name } });
    return { changed, token: tokenView((await listAdminTokens(tx)).find((t) => t.id === id)!) };
  });
}
