import type { Db } from '../db/database';

export type EntitlementStatus = 'provisioning' | 'active' | 'frozen' | 'expired' | 'suspended' | 'revoked' | 'released';

export interface EntitlementRow {
  id: string;
  family: 'A' | 'B' | 'C' | 'direct';
  code: string | null;
  order_id: string | null;
  order_line_id: string | null;
  product_id: string | null;
  sku_code: string | null;
  edition: string | null;
  customer_id: string | null;
  customer_name: string | null;
  charging_mode: string | null;
  period_type: string | null;
  period_number: number | null;
  seats: number;
  starts_at: string | null;
  expires_at: string | null;
  status: EntitlementStatus;
  policy: string | null;
  test: number;
  created_at: string;
  updated_at: string;
}

export type EntitlementPatch = Partial<Omit<EntitlementRow, 'id' | 'family' | 'created_at' | 'updated_at'>>;

export const findEntitlement = (db: Db, id: string): EntitlementRow | undefined =>
  db.first<EntitlementRow>('SELECT * FROM entitlements WHERE id = ?', [id]);

export const findEntitlementByCode = (db: Db, code: string): EntitlementRow | undefined =>
  db.first<EntitlementRow>('SELECT * FROM entitlements WHERE code = ?', [code]);

export interface AuditEntry {
  actor: string;
  action: string;
  entitlementId?: string | null;
  activationId?: string | null;
  before?: unknown;
  after?: unknown;
  detail?: unknown;
  at?: Date;
}

const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));

export function audit(db: Db, e: AuditEntry): void {
  db.run(
    `INSERT INTO audit_log (at, actor, action, entitlement_id, activation_id, before, after, detail)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      (e.at ?? new Date()).toISOString(),
      e.actor,
      e.action,
      e.entitlementId ?? null,
      e.activationId ?? null,
      json(e.before),
      json(e.after),
      json(e.detail),
    ],
  );
}

/** One change of an entitlement as changeEntitlement wrote it: only the fields that changed, before → after. */
export interface EntitlementChange {
  /** The entitlement as it was before the change. */
  entitlement: EntitlementRow;
  before: Record<string, unknown>;
  after: Record<string, unknown>;
  actor: string;
  action: string;
  at: Date;
}

/** Where entitlement changes go: the database, and the port that hears each change (LicensingPorts). */
export interface EntitlementWriter {
  db: Db;
  entitlementChanged(change: EntitlementChange): void;
}

/**
 * Applies a change to an entitlement and writes the audit entry (only the fields that changed, before →
 * after), then tells the entitlementChanged port. Returns the updated row. Call inside a transaction.
 */
export function changeEntitlement(
  w: EntitlementWriter,
  current: EntitlementRow,
  patch: EntitlementPatch,
  actor: string,
  action: string,
  detail?: unknown,
  now: Date = new Date(),
): EntitlementRow {
  const before: Record<string, unknown> = {};
  const after: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(patch)) {
    const old = current[k as keyof EntitlementRow];
    if (v !== undefined && v !== old) {
      before[k] = old;
      after[k] = v;
    }
  }
  const { db } = w;
  const keys = Object.keys(after);
  if (keys.length > 0) {
    db.run(`UPDATE entitlements SET ${keys.map((k) => `${k} = ?`).join(', ')}, updated_at = ? WHERE id = ?`, [
      ...keys.map((k) => after[k]),
      now.toISOString(),
      current.id,
    ]);
  }
  audit(db, { actor, action, entitlementId: current.id, before, after, detail, at: now });
  if (keys.length > 0) w.entitlementChanged({ entitlement: current, before, after, actor, action, at: now });
  return {
    ...current,
    ...(after as EntitlementPatch),
    updated_at: keys.length ? now.toISOString() : current.updated_at,
  };
}

/** Records that a marketplace order was applied; false when it had been applied before (a retry). */
export function recordChange(db: Db, entitlementId: string, kind: string, orderId: string, detail?: unknown): boolean {
  const r = db.run(
    `INSERT OR IGNORE INTO entitlement_changes (entitlement_id, kind, order_id, detail, created_at) VALUES (?, ?, ?, ?, ?)`,
    [entitlementId, kind, orderId, json(detail), new Date().toISOString()],
  );
  return r.changes === 1;
}

/**
 * The marketplace's FREEZE / UNFREEZE (families B and C): frozen ↔ active. Unfreezing also lifts a
 * marketplace expiry, but never a merchant's own suspension or revocation. Call inside a transaction.
 */
export function applyMarketplaceStatus(
  w: EntitlementWriter,
  ent: EntitlementRow,
  status: 'FREEZE' | 'UNFREEZE',
  actor: string,
): void {
  if (status === 'FREEZE' && ent.status !== 'frozen') {
    changeEntitlement(w, ent, { status: 'frozen' }, actor, 'entitlement.frozen');
  } else if (status === 'UNFREEZE' && (ent.status === 'frozen' || ent.status === 'expired')) {
    changeEntitlement(w, ent, { status: 'active' }, actor, 'entitlement.unfrozen');
  }
}

export interface RegisterCodeInput {
  code: string;
  test?: boolean;
  productId?: string;
  seats?: number;
  expireTime?: Date | null;
  status?: 'active' | 'frozen' | 'released';
  orderId?: string;
}

/**
 * Registers a family-B code (operator action, or first activation after the marketplace confirmed it).
 * Idempotent: an existing code is returned unchanged. Call inside a transaction.
 */
export function registerCode(
  ctx: { db: Db; now: () => Date },
  input: RegisterCodeInput,
  actor: string,
): { entitlement: EntitlementRow; created: boolean } {
  const existing = findEntitlementByCode(ctx.db, input.code);
  if (existing) return { entitlement: existing, created: false };
  const now = ctx.now().toISOString();
  ctx.db.run(
    `INSERT INTO entitlements (id, family, code, order_id, product_id, seats, starts_at, expires_at, status, test, created_at, updated_at)
     VALUES (?, 'B', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      input.code,
      input.code,
      input.orderId ?? null,
      input.productId ?? null,
      Math.max(1, input.seats ?? 1),
      now,
      input.expireTime?.toISOString() ?? null,
      input.status ?? 'active',
      input.test ? 1 : 0,
      now,
      now,
    ],
  );
  audit(ctx.db, { actor, action: 'entitlement.registered', entitlementId: input.code, after: { ...input } });
  return { entitlement: findEntitlementByCode(ctx.db, input.code)!, created: true };
}
