import type { Storage } from '../db/storage';

export type EntitlementStatus = 'provisioning' | 'active' | 'frozen' | 'expired' | 'suspended' | 'revoked' | 'released';

export interface EntitlementRow {
  id: string;
  family: 'A' | 'B' | 'C' | 'direct';
  code: string | null;
  order_id: string | null;
  order_line_id: string | null;
  product_id: string | null;
  sku_code: string | null;
  /** The license's own edition (over its SKU's and product's); NULL follows the catalogue. */
  edition: string | null;
  /** The license's own features, JSON {name: true | false | number} over the catalogue's; NULL follows it. */
  features: string | null;
  customer_id: string | null;
  customer_name: string | null;
  charging_mode: string | null;
  period_type: string | null;
  period_number: number | null;
  /** Effective seat count every check reads: derived by derivedSeats, never written by hand. */
  seats: number;
  /** The license's own seat count (direct licenses, `licenses update --seats`); NULL follows the catalogue. */
  seats_override: number | null;
  /** The quantity the marketplace order carried: seats when neither the license nor the catalogue names them. */
  ordered_seats: number | null;
  starts_at: string | null;
  expires_at: string | null;
  status: EntitlementStatus;
  policy: string | null;
  test: number;
  created_at: string;
  updated_at: string;
}

export type EntitlementPatch = Partial<Omit<EntitlementRow, 'id' | 'family' | 'created_at' | 'updated_at'>>;

/** What an entitlement's seat count is derived from. */
export type SeatSource = Pick<EntitlementRow, 'product_id' | 'sku_code' | 'seats_override' | 'ordered_seats'>;

/**
 * The seats a license has: its own override (an operator's choice), else the quantity its marketplace order
 * carried, else its SKU's seats, else its product's (the catalogue), else 1. The buyer's paid quantity wins over
 * the catalogue, and an operator's choice over both, so a later catalogue or SKU change never overwrites either.
 * The same precedence as the catalogue's deriveLicenseModel; read here with SQL because the licensing core does
 * not import the catalogue.
 */
export async function derivedSeats(db: Storage, ent: SeatSource): Promise<number> {
  if (ent.seats_override !== null && ent.seats_override !== undefined) return ent.seats_override;
  if (ent.ordered_seats !== null && ent.ordered_seats !== undefined) return ent.ordered_seats;
  const row = await db.first<{ sku: number | null; product: number | null }>(
    `SELECT (SELECT seats FROM catalog_skus WHERE product_id = ? AND sku_code = ?) AS sku,
            (SELECT seats FROM catalog_products WHERE product_id = ?) AS product`,
    [ent.product_id, ent.sku_code, ent.product_id],
  );
  return row?.sku ?? row?.product ?? 1;
}

/**
 * After the catalogue changed a product's or SKU's seats: re-derives the seats of the product's licenses that
 * follow the catalogue (neither an override of their own nor an ordered quantity) through changeEntitlement, so each license whose count moved
 * is audited and heard by the entitlementChanged port (a `license.changed` webhook event). Devices above a
 * lowered count keep their seats until freed (freeSeatSlot hands out no slot above it). Returns how many
 * licenses changed. Call inside the catalogue change's transaction.
 */
export async function rederiveProductSeats(
  w: EntitlementWriter,
  productId: string,
  actor: string,
  now: Date = w.now(),
): Promise<number> {
  // Only licenses that follow the catalogue: an override or an ordered quantity wins over it.
  const rows = await w.db.all<EntitlementRow>(
    'SELECT * FROM entitlements WHERE product_id = ? AND seats_override IS NULL AND ordered_seats IS NULL',
    [productId],
  );
  let changed = 0;
  for (const ent of rows) {
    const seats = await derivedSeats(w.db, ent);
    if (seats === ent.seats) continue;
    await changeEntitlement(
      w,
      ent,
      { seats },
      actor,
      'entitlement.seats_rederived',
      { reason: 'catalogue changed' },
      now,
    );
    changed++;
  }
  return changed;
}

/** Fields whose change re-derives the seat count (changeEntitlement does it unless the patch sets seats). */
export const SEAT_INPUTS = ['product_id', 'sku_code', 'seats_override', 'ordered_seats'] as const;

export const findEntitlement = (db: Storage, id: string): Promise<EntitlementRow | undefined> =>
  db.first<EntitlementRow>('SELECT * FROM entitlements WHERE id = ?', [id]);

export const findEntitlementByCode = (db: Storage, code: string): Promise<EntitlementRow | undefined> =>
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

export async function audit(db: Storage, e: AuditEntry): Promise<void> {
  await db.run(
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
  /** The entitlement came into being for its customer (before is empty): a `license.created` event. */
  created?: boolean;
}

/** Where entitlement changes go: the database, the port that hears each change (LicensingPorts), and the clock. */
export interface EntitlementWriter {
  db: Storage;
  entitlementChanged(db: Storage, change: EntitlementChange): Promise<void>;
  /** The injectable clock every change is stamped with (tests and replays set it; never new Date()). */
  now(): Date;
}

/**
 * Applies a change to an entitlement and writes the audit entry (only the fields that changed, before →
 * after), then tells the entitlementChanged port. Returns the updated row. Call inside a transaction.
 */
export async function changeEntitlement(
  w: EntitlementWriter,
  current: EntitlementRow,
  patch: EntitlementPatch,
  actor: string,
  action: string,
  detail?: unknown,
  now: Date = w.now(),
): Promise<EntitlementRow> {
  const before: Record<string, unknown> = {};
  const after: Record<string, unknown> = {};
  if (patch.seats === undefined && SEAT_INPUTS.some((k) => patch[k] !== undefined && patch[k] !== current[k])) {
    patch = { ...patch, seats: await derivedSeats(w.db, { ...current, ...patch } as SeatSource) };
  }
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
    await db.run(`UPDATE entitlements SET ${keys.map((k) => `${k} = ?`).join(', ')}, updated_at = ? WHERE id = ?`, [
      ...keys.map((k) => after[k]),
      now.toISOString(),
      current.id,
    ]);
  }
  await audit(db, { actor, action, entitlementId: current.id, before, after, detail, at: now });
  if (keys.length > 0)
    await w.entitlementChanged(w.db, { entitlement: current, before, after, actor, action, at: now });
  return {
    ...current,
    ...(after as EntitlementPatch),
    updated_at: keys.length ? now.toISOString() : current.updated_at,
  };
}

/** Tells the entitlementChanged port that an entitlement was created (the row is already written). */
export async function announceCreated(
  w: EntitlementWriter,
  ent: EntitlementRow,
  actor: string,
  action: string,
  at: Date,
) {
  const after: Record<string, unknown> = {
    status: ent.status,
    product_id: ent.product_id,
    sku_code: ent.sku_code,
    seats: ent.seats,
    expires_at: ent.expires_at,
  };
  await w.entitlementChanged(w.db, { entitlement: ent, before: {}, after, actor, action, at, created: true });
}

/** Records that a marketplace order was applied; false when it had been applied before (a retry). */
export async function recordChange(
  db: Storage,
  entitlementId: string,
  kind: string,
  orderId: string,
  detail?: unknown,
): Promise<boolean> {
  const r = await db.run(
    `INSERT INTO entitlement_changes (entitlement_id, kind, order_id, detail, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    [entitlementId, kind, orderId, json(detail), new Date().toISOString()],
  );
  return r.changes === 1;
}

/**
 * The marketplace's FREEZE / UNFREEZE (families B and C): frozen ↔ active. Unfreezing also lifts a
 * marketplace expiry, but never a merchant's own suspension or revocation. Call inside a transaction.
 */
export async function applyMarketplaceStatus(
  w: EntitlementWriter,
  ent: EntitlementRow,
  status: 'FREEZE' | 'UNFREEZE',
  actor: string,
): Promise<void> {
  if (status === 'FREEZE' && ent.status !== 'frozen') {
    await changeEntitlement(w, ent, { status: 'frozen' }, actor, 'entitlement.frozen');
  } else if (status === 'UNFREEZE' && (ent.status === 'frozen' || ent.status === 'expired')) {
    await changeEntitlement(w, ent, { status: 'active' }, actor, 'entitlement.unfrozen');
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
export async function registerCode(
  ctx: EntitlementWriter,
  input: RegisterCodeInput,
  actor: string,
): Promise<{ entitlement: EntitlementRow; created: boolean }> {
  const existing = await findEntitlementByCode(ctx.db, input.code);
  if (existing) return { entitlement: existing, created: false };
  const at = ctx.now();
  const now = at.toISOString();
  // No quantity given is no quantity (NULL), not 1: the catalogue's seats then apply.
  const ordered = input.seats !== undefined && input.seats > 0 ? input.seats : null;
  const seats = await derivedSeats(ctx.db, {
    product_id: input.productId ?? null,
    sku_code: null,
    seats_override: null,
    ordered_seats: ordered,
  });
  await ctx.db.run(
    `INSERT INTO entitlements (id, family, code, order_id, product_id, seats, ordered_seats, starts_at, expires_at, status, test, created_at, updated_at)
     VALUES (?, 'B', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      input.code,
      input.code,
      input.orderId ?? null,
      input.productId ?? null,
      seats,
      ordered,
      now,
      input.expireTime?.toISOString() ?? null,
      input.status ?? 'active',
      input.test ? 1 : 0,
      now,
      now,
    ],
  );
  await audit(ctx.db, { actor, action: 'entitlement.registered', entitlementId: input.code, after: { ...input }, at });
  const entitlement = (await findEntitlementByCode(ctx.db, input.code))!;
  await announceCreated(ctx, entitlement, actor, 'entitlement.registered', at);
  return { entitlement, created: true };
}
