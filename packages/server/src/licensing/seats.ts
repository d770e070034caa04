import { type DevicesResponse, LicensorError } from '@licensor/shared';
import type { Storage } from '../db/storage';
import { resolveCode } from './activate';
import { activeActivations, cullLapsedLeases, deviceSummary, findActivation, releaseActivation } from './activations';
import type { LicensingContext } from './context';
import { audit, type EntitlementRow } from './entitlements';
import { type Policy, policyFor, seatLimit } from './policy';

const DAY = 86_400_000;

async function entitlementForHolder(db: Storage, code: string): Promise<EntitlementRow> {
  const ent = await resolveCode(db, code);
  // Unknown and never-activated codes look the same: this endpoint must not confirm that a code exists.
  if (!ent) {
    throw new LicensorError('NOT_FOUND', 'No activated license with this code. Check the code and type it again.');
  }
  return ent;
}

/** Self-service seat releases of an entitlement inside the policy's window, oldest first. */
async function transfersInWindow(db: Storage, ent: EntitlementRow, policy: Policy, now: Date): Promise<string[]> {
  const since = new Date(now.getTime() - policy.transferLimit.periodDays * DAY).toISOString();
  return (
    await db.all<{ at: string }>('SELECT at FROM seat_transfers WHERE entitlement_id = ? AND at > ? ORDER BY at', [
      ent.id,
      since,
    ])
  ).map((r) => r.at);
}

async function devicesView(db: Storage, ent: EntitlementRow, policy: Policy, now: Date): Promise<DevicesResponse> {
  if (policy.mode === 'floating') await cullLapsedLeases(db, now, ent.id);
  return {
    seats: seatLimit(policy, ent.seats),
    devices: (await activeActivations(db, ent.id)).map((a) => deviceSummary(a)),
    transfers: {
      used: (await transfersInWindow(db, ent, policy, now)).length,
      limit: policy.transferLimit.count,
      periodDays: policy.transferLimit.periodDays,
    },
  };
}

/** What the holder of a code sees: the devices holding its seats (no fingerprints) and the transfer budget. */
export async function devicesForCode(
  ctx: Pick<LicensingContext, 'db' | 'now'>,
  code: string,
): Promise<DevicesResponse> {
  const ent = await entitlementForHolder(ctx.db, code);
  return await devicesView(ctx.db, ent, await policyFor(ctx.db, ent), ctx.now());
}

/**
 * The holder frees the seat of one of its devices (a lost or dead computer), within the policy's transfer
 * limit per window; beyond it TRANSFER_LIMIT_REACHED says when the next release becomes possible. Freeing
 * a device that no longer holds a seat changes nothing and costs nothing. Call inside a write transaction.
 */
export async function releaseSeatByHolder(
  ctx: Pick<LicensingContext, 'db' | 'now' | 'activationChanged'>,
  code: string,
  activationId: string,
): Promise<DevicesResponse & { released: boolean }> {
  const { db } = ctx;
  const now = ctx.now();
  const ent = await entitlementForHolder(db, code);
  const policy = await policyFor(db, ent);
  const activation = await findActivation(db, activationId);
  if (!activation || activation.entitlement_id !== ent.id) {
    throw new LicensorError(
      'NOT_FOUND',
      'No such device on this license. List the devices again and pick one of them.',
    );
  }
  if (activation.status !== 'active') return { released: false, ...(await devicesView(db, ent, policy, now)) };

  const { count, periodDays } = policy.transferLimit;
  const used = await transfersInWindow(db, ent, policy, now);
  if (used.length >= count) {
    const oldest = used[used.length - count];
    const nextAvailableAt = count > 0 && oldest ? new Date(Date.parse(oldest) + periodDays * DAY).toISOString() : null;
    throw new LicensorError(
      'TRANSFER_LIMIT_REACHED',
      count === 0
        ? 'Seats of this license cannot be freed by self-service. Ask the vendor to free the seat.'
        : `Seats of this license can be freed ${count} time${count === 1 ? '' : 's'} every ${periodDays} days; the next one is possible on ${nextAvailableAt?.slice(0, 10)}. Ask the vendor if you cannot wait.`,
      { limit: count, periodDays, nextAvailableAt },
    );
  }
  await releaseActivation(ctx, activation.id, 'holder', now);
  await db.run(
    'INSERT INTO seat_transfers (activation_id, entitlement_id, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
    [activation.id, ent.id, now.toISOString()],
  );
  await audit(db, {
    actor: 'holder',
    action: 'activation.released_by_holder',
    entitlementId: ent.id,
    activationId: activation.id,
    at: now,
  });
  return { released: true, ...(await devicesView(db, ent, policy, now)) };
}
