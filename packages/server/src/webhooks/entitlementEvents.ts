import type { Storage } from '../db/storage';
import { type ActivationChange, type EntitlementChange, type EntitlementRow, findEntitlement } from '../licensing';
import { emit, type WebhookEventType } from './store';

const STATUS_EVENTS: Partial<Record<string, WebhookEventType>> = {
  frozen: 'license.frozen',
  suspended: 'license.suspended',
  revoked: 'license.revoked',
  released: 'license.released',
};

/** Which event a change of an entitlement is: a status event, a renewal (later expiry, same SKU), else a change. */
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
  // A move to another SKU is a change even when the new order also runs longer (upgrade, RENEWAL_CHANGE).
  if ('sku_code' in after) return 'license.changed';
  if (
    typeof after.expires_at === 'string' &&
    (typeof before.expires_at !== 'string' || after.expires_at > before.expires_at)
  ) {
    return 'license.renewed';
  }
  return 'license.changed';
}

/** A column name as the payload spells its fields: `expires_at` → `expiresAt`, `sku_code` → `skuCode`. */
const camel = (column: string) => column.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** Columns stored as JSON text are sent as the objects they hold (a license's own features and policy). */
const JSON_COLUMNS = new Set(['features', 'policy']);
function value(column: string, v: unknown): unknown {
  if (!JSON_COLUMNS.has(column) || typeof v !== 'string') return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

/**
 * Emits the webhook event of an entitlement change, in the caller's transaction: the licensing core's
 * entitlementChanged port (licensing/context.ts), wired by the app factory and the CLI's session.
 */
export async function emitEntitlementChange(db: Storage, change: EntitlementChange): Promise<void> {
  const { entitlement: current, before, after, actor, action, at: now } = change;
  const next = { ...current, ...after } as EntitlementRow;
  await emit(
    { db, now: () => now },
    {
      type: change.created ? 'license.created' : entitlementEventType(before, after),
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
        customerName: next.customer_name,
        test: next.test === 1,
        changes: Object.fromEntries(
          Object.keys(after).map((k) => [camel(k), { before: value(k, before[k]), after: value(k, after[k]) }]),
        ),
        actor,
        action,
      },
    },
  );
}

/**
 * Emits `activation.created` / `activation.released` for a device that took or gave back a seat, in the
 * caller's transaction: the licensing core's activationChanged port. No fingerprint, only what an operator sees.
 */
export async function emitActivationChange(db: Storage, change: ActivationChange): Promise<void> {
  const { activation: a, actor, at } = change;
  const ent = change.entitlement ?? (await findEntitlement(db, a.entitlement_id));
  await emit(
    { db, now: () => at },
    {
      type: change.type === 'created' ? 'activation.created' : 'activation.released',
      data: {
        activationId: a.id,
        licenseId: a.entitlement_id,
        code: ent?.code ?? null,
        productId: ent?.product_id ?? null,
        test: ent?.test === 1,
        status: a.status,
        seat: a.seat,
        label: a.label,
        hostname: a.hostname,
        platform: a.platform,
        appVersion: a.app_version,
        offline: a.offline === 1,
        actor,
      },
    },
  );
}
