import type { Db } from '../db/database';
import type { EntitlementChange, EntitlementRow } from '../licensing';
import { emit, type WebhookEventType } from './store';

const STATUS_EVENTS: Partial<Record<string, WebhookEventType>> = {
  frozen: 'license.frozen',
  suspended: 'license.suspended',
  revoked: 'license.revoked',
  released: 'license.released',
};

/** Which event a change of an entitlement is: a status event, a renewal (later expiry), else a change. */
export function entitlementEventType(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): WebhookEventType {
  if ('status' in after) {
    const to = String(after.status);
    if (STATUS_EVENTS[to]) return STATUS_EVENTS[to]!;
    // A family-C instance becomes usable once its order is applied: that is when the license exists for the customer.
    if (to === 'active' && before.status === 'provisioning') return 'license.created';
    if (to === 'active' && before.status === 'frozen') return 'license.unfrozen';
  }
  if (
    typeof after.expires_at === 'string' &&
    (typeof before.expires_at !== 'string' || after.expires_at > before.expires_at)
  ) {
    return 'license.renewed';
  }
  return 'license.changed';
}

/**
 * Emits the webhook event of an entitlement change, in the caller's transaction: the licensing core's
 * entitlementChanged port (licensing/context.ts), wired by the app factory and the CLI's session.
 */
export function emitEntitlementChange(db: Db, change: EntitlementChange): void {
  const { entitlement: current, before, after, actor, action, at: now } = change;
  const next = { ...current, ...after } as EntitlementRow;
  emit(
    { db, now: () => now },
    {
      type: entitlementEventType(before, after),
      data: {
        licenseId: next.id,
        code: next.code,
        family: next.family,
        productId: next.product_id,
        skuCode: next.sku_code,
        status: next.status,
        seats: next.seats,
        expiresAt: next.expires_at,
        customerId: next.customer_id,
        test: next.test === 1,
        changes: Object.fromEntries(Object.keys(after).map((k) => [k, { before: before[k], after: after[k] }])),
        actor,
        action,
      },
    },
  );
}
