import { decodeOfflineRequest, LicensorError, normalizeLicenseCode } from '@licensor/shared';
import type { Storage } from '../db/storage';
import { inTx } from '../db/storage';
import { textSearch } from '../db/textSearch';
import { activate, assertUsable, resolveCode } from './activate';
import {
  type ActivationFilter,
  type ActivationRow,
  type ActivationView,
  type ActivationWriter,
  activationView,
  findActivation,
  freeSeatSlot,
  releaseActivation,
} from './activations';
import type { LicensingContext } from './context';
import {
  audit,
  changeEntitlement,
  type EntitlementRow,
  type EntitlementStatus,
  type EntitlementWriter,
  findEntitlement,
  findEntitlementByCode,
} from './entitlements';
import { type PolicyOverrides, policyFor, policyOverridesSchema, seatLimit } from './policy';

/**
 * Merchant actions on licenses, called by the admin API and the `licensor` CLI. Each runs in its own
 * transaction, writes the audit log with the given actor (`admin:<token id>`, `cli:<user>`…), and throws a
 * LicensorError (NOT_FOUND, CONFLICT, …) whose message says what to do instead. The effect reaches devices at
 * their next check-in.
 */

export interface ActionOptions {
  /** Why (kept in the audit log). */
  reason?: string;
  now?: Date;
}

/** An entitlement by id (instanceId, family-B code, ent_…) or by the license code people type. */
export async function findEntitlementRef(db: Storage, idOrCode: string): Promise<EntitlementRow | undefined> {
  const ref = idOrCode.trim();
  return (
    (await findEntitlement(db, ref)) ??
    (await findEntitlementByCode(db, normalizeLicenseCode(ref))) ??
    (await resolveCode(db, ref))
  );
}

async function requireEntitlement(db: Storage, idOrCode: string): Promise<EntitlementRow> {
  const ent = await findEntitlementRef(db, idOrCode);
  if (!ent)
    throw new LicensorError('NOT_FOUND', `No license ${idOrCode}; search by code, instance id or order id first`);
  return ent;
}

/** Statuses a suspension or revocation may return to. */
const RESTORABLE: EntitlementStatus[] = ['active', 'frozen', 'expired'];

/** The status before the latest suspension/revocation, from the audit log (active when unknown). */
async function statusBeforeHold(db: Storage, id: string): Promise<EntitlementStatus> {
  const rows = await db.all<{ before: string | null }>(
    `SELECT before FROM audit_log WHERE entitlement_id = ? AND action IN ('entitlement.suspended', 'entitlement.revoked')
     ORDER BY id DESC LIMIT 10`,
    [id],
  );
  for (const row of rows) {
    const before = row.before ? (JSON.parse(row.before) as { status?: EntitlementStatus }) : {};
    if (before.status && RESTORABLE.includes(before.status)) return before.status;
  }
  return 'active';
}

async function hold(
  w: EntitlementWriter,
  idOrCode: string,
  status: 'suspended' | 'revoked',
  actor: string,
  opts: ActionOptions,
): Promise<EntitlementRow> {
  const { db } = w;
  return await db.transaction(async (tx) => {
    const ent = await requireEntitlement(tx, idOrCode);
    if (ent.status === status) return ent;
    if (ent.status === 'released') {
      throw new LicensorError(
        'CONFLICT',
        `License ${ent.id} was released by the marketplace; there is nothing to ${status === 'revoked' ? 'revoke' : 'suspend'}`,
      );
    }
    if (status === 'suspended' && ent.status === 'revoked') {
      throw new LicensorError(
        'CONFLICT',
        `License ${ent.id} is revoked; reinstate it first if it should only be suspended`,
      );
    }
    return changeEntitlement(
      inTx(w, tx),
      ent,
      { status },
      actor,
      `entitlement.${status}`,
      { reason: opts.reason },
      opts.now,
    );
  });
}

/** Suspends a license (a merchant hold, e.g. a payment dispute): devices lock at their next check-in. */
export const suspendEntitlement = (
  w: EntitlementWriter,
  idOrCode: string,
  actor: string,
  opts: ActionOptions = {},
): Promise<EntitlementRow> => hold(w, idOrCode, 'suspended', actor, opts);

/** Revokes a license for good (fraud, refund outside the marketplace): devices get REVOKED and no file. */
export const revokeEntitlement = (
  w: EntitlementWriter,
  idOrCode: string,
  actor: string,
  opts: ActionOptions = {},
): Promise<EntitlementRow> => hold(w, idOrCode, 'revoked', actor, opts);

/**
 * Lifts a suspension or revocation: the license returns to the status it had before (active, or frozen /
 * expired if the marketplace had put it there). Reinstating a license that is not held changes nothing.
 */
export async function reinstateEntitlement(
  w: EntitlementWriter,
  idOrCode: string,
  actor: string,
  opts: ActionOptions = {},
): Promise<EntitlementRow> {
  const { db } = w;
  return await db.transaction(async (tx) => {
    const ent = await requireEntitlement(tx, idOrCode);
    if (ent.status !== 'suspended' && ent.status !== 'revoked') return ent;
    const status = await statusBeforeHold(tx, ent.id);
    return changeEntitlement(
      inTx(w, tx),
      ent,
      { status },
      actor,
      'entitlement.reinstated',
      { reason: opts.reason },
      opts.now,
    );
  });
}

/** Replaces (or with null removes) a license's own policy overrides; product defaults apply underneath. */
export async function setEntitlementPolicy(
  w: EntitlementWriter,
  idOrCode: string,
  overrides: PolicyOverrides | null,
  actor: string,
): Promise<EntitlementRow> {
  const checked = overrides === null ? null : policyOverridesSchema.safeParse(overrides);
  if (checked && !checked.success) {
    const problems = checked.error.issues.map((i) => `${i.path.join('.') || 'policy'}: ${i.message}`);
    throw new LicensorError('INVALID_INPUT', `Invalid policy: ${problems.join('; ')}`, { problems });
  }
  return await w.db.transaction(async (tx) => {
    const t = inTx(w, tx);
    const ent = await requireEntitlement(tx, idOrCode);
    return changeEntitlement(
      t,
      ent,
      { policy: checked ? JSON.stringify(checked.data) : null },
      actor,
      'entitlement.policy_set',
    );
  });
}

/** Grants or withdraws named users (policy.requireNamedUser). Returns the authorised users afterwards. */
export async function setAuthorizedUsers(
  db: Storage,
  idOrCode: string,
  change: { add?: string[]; remove?: string[] },
  actor: string,
): Promise<string[]> {
  return await db.transaction(async (tx) => {
    const ent = await requireEntitlement(tx, idOrCode);
    const now = new Date().toISOString();
    for (const user of change.add ?? []) {
      const u = user.trim();
      if (!u || u.length > 256) throw new LicensorError('INVALID_INPUT', 'A user id is 1 to 256 characters');
      await tx.run(
        'INSERT INTO authorized_users (entitlement_id, user_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
        [ent.id, u, now],
      );
    }
    for (const user of change.remove ?? []) {
      await tx.run('DELETE FROM authorized_users WHERE entitlement_id = ? AND user_id = ?', [ent.id, user.trim()]);
    }
    await audit(tx, { actor, action: 'entitlement.users_changed', entitlementId: ent.id, detail: change });
    return (
      await tx.all<{ user_id: string }>(
        'SELECT user_id FROM authorized_users WHERE entitlement_id = ? ORDER BY user_id',
        [ent.id],
      )
    ).map((r) => r.user_id);
  });
}

async function requireActivation(db: Storage, activationId: string): Promise<ActivationRow> {
  const act = await findActivation(db, activationId);
  if (!act) throw new LicensorError('NOT_FOUND', `No activation ${activationId}; list the license's activations first`);
  return act;
}

const viewOf = async (db: Storage, act: ActivationRow): Promise<ActivationView> =>
  activationView({ ...act, code: (await findEntitlement(db, act.entitlement_id))?.code ?? null });

/**
 * Frees a device's seat (a dead or lost machine). Not counted against the holder's transfer limit. The device,
 * if it ever checks in again, is told NOT_FOUND and must activate anew. Idempotent: `released` is false when
 * the seat was already free.
 */
export async function freeSeat(
  w: ActivationWriter,
  activationId: string,
  actor: string,
  opts: ActionOptions = {},
): Promise<{ released: boolean; activation: ActivationView }> {
  const { db } = w;
  return await db.transaction(async (tx) => {
    const act = await requireActivation(tx, activationId);
    const now = opts.now ?? w.now();
    const released = await releaseActivation(inTx(w, tx), act.id, actor, now);
    if (released) {
      await audit(tx, {
        actor,
        action: 'activation.freed',
        entitlementId: act.entitlement_id,
        activationId: act.id,
        detail: { reason: opts.reason },
        at: now,
      });
    }
    return { released, activation: await viewOf(tx, (await findActivation(tx, act.id))!) };
  });
}

/**
 * Moves a device's seat to another license (the customer bought a new code, or an operator consolidates
 * orders): same activation id and device key, a seat of the target, the target's terms from the next
 * check-in. The target must be usable, for the same product, and have a free seat. For the merchant's
 * systems it is a release on the old license and a creation on the new one (activation.released, then
 * activation.created), like any other seat that is given back and taken.
 */
export async function moveLicense(
  w: ActivationWriter,
  activationId: string,
  target: string,
  actor: string,
  opts: ActionOptions = {},
): Promise<ActivationView> {
  const { db } = w;
  return await db.transaction(async (tx) => {
    const act = await requireActivation(tx, activationId);
    if (act.status !== 'active') {
      throw new LicensorError(
        'CONFLICT',
        `Activation ${act.id} does not hold a seat (${act.status}); the device must activate again`,
      );
    }
    const to = await requireEntitlement(tx, target);
    if (to.id === act.entitlement_id) return viewOf(tx, act);
    const from = await findEntitlement(tx, act.entitlement_id);
    if (from?.product_id && to.product_id && from.product_id !== to.product_id) {
      throw new LicensorError(
        'PRODUCT_MISMATCH',
        `License ${to.id} is for product ${to.product_id}, not ${from.product_id}`,
      );
    }
    const now = opts.now ?? w.now();
    assertUsable(to, now);
    const policy = await policyFor(tx, to);
    const slot = await freeSeatSlot(tx, to.id, seatLimit(policy, to.seats));
    if (slot === null) {
      throw new LicensorError('TOO_MANY_DEVICES', `All seats of license ${to.id} are in use; free one first`, {
        seats: seatLimit(policy, to.seats),
      });
    }
    const lease =
      policy.mode === 'floating' ? new Date(now.getTime() + policy.leaseMinutes * 60_000).toISOString() : null;
    await tx.run('UPDATE activations SET entitlement_id = ?, seat = ?, lease_expires_at = ? WHERE id = ?', [
      to.id,
      slot,
      lease,
      act.id,
    ]);
    await audit(tx, {
      actor,
      action: 'activation.moved',
      entitlementId: to.id,
      activationId: act.id,
      before: { entitlementId: act.entitlement_id },
      after: { entitlementId: to.id },
      detail: { reason: opts.reason },
      at: now,
    });
    // The old license's seat is free: its release event carries the activation as it left (seat given back).
    await w.activationChanged(tx, {
      type: 'released',
      activation: { ...act, status: 'released', seat: null, released_at: now.toISOString(), released_by: actor },
      actor,
      at: now,
    });
    const moved = (await findActivation(tx, act.id))!;
    await w.activationChanged(tx, { type: 'created', activation: moved, actor, at: now });
    return viewOf(tx, moved);
  });
}

/**
 * Offline activation: an operator receives a device's signed request file and hands back a License file.
 * The request is verified (signature by the device key it carries), then activated exactly like an online
 * activation — same status, product and seat checks, re-activation of a known device — except that the file
 * has no refresh deadline. Returns the License file text.
 */
export async function issueOfflineResponse(ctx: LicensingContext, requestText: string, actor: string): Promise<string> {
  const request = decodeOfflineRequest(requestText);
  const { license, activation } = await activate(ctx, request, { offline: true, actor });
  ctx.log.info({ activationId: activation.id, actor }, 'offline activation issued');
  return license;
}

/** Activations for the admin list and export; newest first. */
export async function listActivations(
  db: Storage,
  filter: ActivationFilter = {},
): Promise<{ items: ActivationView[]; total: number }> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.entitlementId) {
    where.push('a.entitlement_id = ?');
    params.push(filter.entitlementId);
  }
  if (filter.code) {
    const ent = await resolveCode(db, filter.code);
    if (!ent) return { items: [], total: 0 };
    where.push('a.entitlement_id = ?');
    params.push(ent.id);
  }
  if (filter.status && filter.status !== 'all') {
    where.push('a.status = ?');
    params.push(filter.status);
  }
  if (filter.q) {
    const [sql, ...patterns] = textSearch(db.dialect, ['a.id', 'a.label', 'a.hostname', 'a.user_id'], filter.q);
    where.push(`(${sql})`);
    params.push(...patterns);
  }
  if (filter.seenSince) {
    where.push('a.last_seen_at >= ?');
    params.push(filter.seenSince);
  }
  const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
  const limit = Math.min(Math.max(Math.trunc(filter.limit ?? 100), 1), 1000);
  const offset = Math.max(Math.trunc(filter.offset ?? 0), 0);
  const total = (await db.first<{ n: number }>(`SELECT COUNT(*) AS n FROM activations a ${clause}`, params))?.n ?? 0;
  const rows = await db.all<ActivationRow & { code: string | null }>(
    `SELECT a.*, e.code AS code FROM activations a JOIN entitlements e ON e.id = a.entitlement_id ${clause}
     ORDER BY a.created_at DESC, a.id DESC LIMIT ? OFFSET ?`,
    [...params, limit, offset],
  );
  return { items: rows.map(activationView), total };
}
