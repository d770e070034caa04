import { LicensorError } from '@licensor/shared';
import type { AppContext } from '../context';
import type { Db } from '../db/database';
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

export function requireEntitlement(db: Db, idOrCode: string): EntitlementRow {
  const ent = findEntitlementRef(db, idOrCode);
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
export function entitlementDetail(ctx: Pick<AppContext, 'db' | 'now' | 'licenseModel'>, ent: EntitlementRow) {
  const { db } = ctx;
  const policy = policyFor(db, ent);
  const activations = activationsOf(db, ent.id);
  const since = new Date(ctx.now().getTime() - 30 * 86_400_000).toISOString().slice(0, 10);
  // Family-B codes record each device's use per day (for the marketplace's usage report); other licenses
  // know when each device activated, last checked in and was released, which spans the days it was in use.
  const usage =
    ent.family === 'B' && ent.code
      ? db.all<{ day: string; devices: number }>(
          'SELECT day, COUNT(DISTINCT device) AS devices FROM code_usage WHERE code = ? AND day >= ? GROUP BY day ORDER BY day DESC',
          [ent.code, since],
        )
      : usageFromDevices(activations, since, ctx.now());
  return {
    entitlement: entitlementView(ent),
    // The edition and features its License files carry (license > SKU > product, from the catalogue).
    model: ctx.licenseModel(ent),
    policy,
    seats: { limit: seatLimit(policy, ent.seats), used: activations.filter((a) => a.status === 'active').length },
    activations,
    usage,
    audit: auditTrail(db, ent.id, 100),
  };
}

const entitlementResult = (before: EntitlementRow, after: EntitlementRow) => ({
  changed: before.status !== after.status || before.updated_at !== after.updated_at,
  entitlement: entitlementView(after),
});

type Ctx = Pick<AppContext, 'db' | 'now' | 'entitlementChanged' | 'activationChanged'>;

export const actions = {
  suspend(ctx: Ctx, idOrCode: string, actor: string, reason?: string) {
    const before = requireEntitlement(ctx.db, idOrCode);
    return entitlementResult(before, suspendEntitlement(ctx, before.id, actor, { reason, now: ctx.now() }));
  },
  reinstate(ctx: Ctx, idOrCode: string, actor: string, reason?: string) {
    const before = requireEntitlement(ctx.db, idOrCode);
    return entitlementResult(before, reinstateEntitlement(ctx, before.id, actor, { reason, now: ctx.now() }));
  },
  revoke(ctx: Ctx, idOrCode: string, actor: string, reason?: string) {
    const before = requireEntitlement(ctx.db, idOrCode);
    return entitlementResult(before, revokeEntitlement(ctx, before.id, actor, { reason, now: ctx.now() }));
  },
  freeSeat(ctx: Ctx, activationId: string, actor: string, reason?: string) {
    return freeSeat(ctx, activationId, actor, { reason, now: ctx.now() });
  },
  move(ctx: Ctx, activationId: string, target: string, actor: string, reason?: string) {
    return { activation: moveLicense(ctx, activationId, target, actor, { reason, now: ctx.now() }) };
  },
  setPolicy(ctx: Ctx, idOrCode: string, overrides: PolicyOverrides | null, actor: string) {
    const ent = setEntitlementPolicy(ctx, requireEntitlement(ctx.db, idOrCode).id, overrides, actor);
    return { entitlement: entitlementView(ent), policy: policyFor(ctx.db, ent) };
  },
  /** Verifies a device's offline request and issues its License file (a seat is bound like online). */
  async offlineResponse(ctx: AppContext, requestText: string, actor: string) {
    const license = await issueOfflineResponse(ctx, requestText, actor);
    return { license };
  },
};

/** Operator action: run a failed (or waiting) outbox item again now. */
export function retryOutboxItem(ctx: Pick<AppContext, 'db' | 'outbox' | 'now'>, id: number, actor: string) {
  return ctx.db.transaction(() => {
    const item = ctx.outbox.get(id);
    if (!item) throw new LicensorError('NOT_FOUND', `No outbox item ${id}: list them with the outbox list`);
    if (!ctx.outbox.retry(id)) {
      throw new LicensorError(
        'CONFLICT',
        `Outbox item ${id} is ${item.status}; only failed or pending items can be retried${item.status === 'running' ? ' (wait for the running attempt)' : ''}`,
      );
    }
    audit(ctx.db, {
      actor,
      action: 'outbox.retried',
      detail: { id, kind: item.kind, previousStatus: item.status, attempts: item.attempts },
      at: ctx.now(),
    });
    return outboxView(ctx.outbox.get(id)!);
  });
}

export const tokenView = (t: ReturnType<typeof listAdminTokens>[number]) => ({
  id: t.id,
  name: t.name,
  scope: t.scope,
  createdAt: t.created_at,
  lastUsedAt: t.last_used_at,
  revokedAt: t.revoked_at,
});

export function createToken(db: Db, name: string, scope: Scope, actor: string) {
  return db.transaction(() => {
    const created = createAdminToken(db, name, scope);
    audit(db, { actor, action: 'admin_token.created', detail: { id: created.id, name, scope } });
    // The secret is shown once; only its hash is stored.
    return { id: created.id, name, scope, token: created.token };
  });
}

export const listTokens = (db: Db) => listAdminTokens(db).map(tokenView);

/** Revokes a token; revoking a revoked token changes nothing (`changed: false`). */
export function revokeToken(db: Db, id: string, actor: string) {
  return db.transaction(() => {
    const existing = listAdminTokens(db).find((t) => t.id === id);
    if (!existing) throw new LicensorError('NOT_FOUND', `No admin token ${id}: list them with the tokens list`);
    const changed = revokeAdminToken(db, id);
    if (changed) audit(db, { actor, action: 'admin_token.revoked', detail: { id, name: existing.name } });
    return { changed, token: tokenView(listAdminTokens(db).find((t) => t.id === id)!) };
  });
}
