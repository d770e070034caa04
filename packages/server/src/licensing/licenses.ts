import { randomUUID } from 'node:crypto';
import { generateLicenseCode, LicensorError } from '@licensor/shared';
import { z } from 'zod';
import { inTx, type Storage } from '../db/storage';
import { parseInput } from '../http/errors';
import { type ActivationRow, activeActivations, deviceSummary, releaseActivation } from './activations';
import type { LicensingContext } from './context';
import {
  announceCreated,
  audit,
  changeEntitlement,
  derivedSeats,
  type EntitlementPatch,
  type EntitlementRow,
  findEntitlement,
  findEntitlementByCode,
  SEAT_INPUTS,
} from './entitlements';
import { featuresSchema } from './features';
import { policyFor, seatLimit } from './policy';

/**
 * Direct licenses (sold outside KooGallery) and the operator's changes to any license: seats, expiry, SKU and
 * customer. Shared by the admin API (POST/PATCH /entitlements) and the CLI (`licensor licenses create|update`).
 * Every change is audited and reaches devices at their next check-in (the License file is re-issued from the
 * row). Seats lowered below the devices holding them are refused with SEATS_IN_USE and the devices, unless
 * the caller asks to release the oldest devices.
 */

type Ctx = Pick<LicensingContext, 'db' | 'now' | 'entitlementChanged' | 'activationChanged'>;

const text = (what: string, max: number) =>
  z.string().trim().min(1, `${what} must not be empty`).max(max, `${what}: at most ${max} characters`);
const seats = z
  .number({ error: 'seats is a whole number of devices' })
  .int('seats is a whole number of devices')
  .min(1, 'at least 1 seat')
  .max(1_000_000, 'at most 1000000 seats');
const expiry = z.iso.datetime({ offset: true, error: 'expected an ISO date-time such as 2027-01-31T00:00:00Z' });

export const createLicenseSchema = z
  .object({
    productId: text('productId', 128),
    sku: text('sku', 128).optional(),
    seats: seats.optional(),
    /** The license's own edition over its SKU's. */
    edition: text('edition', 64).optional(),
    /** The license's own features over its SKU's and product's (false switches an inherited one off). */
    features: featuresSchema.optional(),
    /** ISO date-time; absent or null: no expiry. */
    expiresAt: expiry.nullable().optional(),
    customer: text('customer', 200).optional(),
  })
  .strict();
export type CreateLicenseInput = z.input<typeof createLicenseSchema>;

export const updateLicenseSchema = z
  .object({
    /** The license's own seat count; null: follow its ordered quantity or SKU (catalogue) again. */
    seats: seats.nullable().optional(),
    /** The license's own edition; null: its SKU's again. */
    edition: text('edition', 64).nullable().optional(),
    /** The license's own features (replacing any it had); null: only its SKU's and product's again. */
    features: featuresSchema.nullable().optional(),
    /** ISO date-time; null: no expiry. */
    expiresAt: expiry.nullable().optional(),
    sku: text('sku', 128).optional(),
    customer: text('customer', 200).nullable().optional(),
    /** Lowering seats below the devices in use releases the oldest devices instead of refusing. */
    releaseOldest: z.boolean().optional(),
  })
  .strict()
  .refine(
    (u) =>
      u.seats !== undefined ||
      u.expiresAt !== undefined ||
      u.sku !== undefined ||
      u.customer !== undefined ||
      u.edition !== undefined ||
      u.features !== undefined,
    { message: 'name at least one of seats, expiresAt, sku, customer, edition, features' },
  );
export type UpdateLicenseInput = z.input<typeof updateLicenseSchema>;

/**
 * A direct license's product must be in the catalogue: a typo would issue a code no install of the software
 * accepts. (Marketplace products and SKUs are never refused; this is the operator's own input.)
 */
async function requireCatalogueProduct(db: Storage, productId: string): Promise<void> {
  if (await db.first('SELECT 1 FROM catalog_products WHERE product_id = ?', [productId])) return;
  const known = (
    await db.all<{ product_id: string }>('SELECT product_id FROM catalog_products ORDER BY product_id')
  ).map((r) => r.product_id);
  throw new LicensorError(
    'INVALID_INPUT',
    known.length
      ? `No product ${productId} in the catalogue; use one of: ${known.join(', ')}`
      : `No product ${productId} in the catalogue, which is empty; add it first (licensor catalog set-product ${productId} --edition … or licensor catalog apply catalog.yaml)`,
    { problems: [{ field: 'productId', message: 'not in the catalogue' }], knownProducts: known },
  );
}

/** A SKU an operator names must be in the catalogue (marketplace SKUs are never refused; a typo here would be). */
async function requireCatalogueSku(db: Storage, productId: string, sku: string): Promise<void> {
  if (await db.first('SELECT 1 FROM catalog_skus WHERE product_id = ? AND sku_code = ?', [productId, sku])) return;
  const known = (
    await db.all<{ sku_code: string }>('SELECT sku_code FROM catalog_skus WHERE product_id = ? ORDER BY sku_code', [
      productId,
    ])
  ).map((r) => r.sku_code);
  throw new LicensorError(
    'INVALID_INPUT',
    known.length
      ? `Product ${productId} has no SKU ${sku} in the catalogue; use one of: ${known.join(', ')}`
      : `Product ${productId} has no SKUs in the catalogue; add ${sku} first (licensor catalog set-sku ${productId} ${sku} --edition …)`,
    { problems: [{ field: 'sku', message: 'not in the catalogue' }], knownSkus: known },
  );
}

/** Devices named in a SEATS_IN_USE message; the error's detail lists them all. */
const NAMED_DEVICES = 10;

/**
 * Why lowering the seats was refused and how to proceed: the devices holding seats (oldest first), the command
 * that frees one, and the option that frees the oldest ones instead.
 */
function seatsInUseMessage(licenseId: string, limit: number, inUse: ActivationRow[], excess: number): string {
  const name = (a: ActivationRow) => {
    const label = a.label ?? a.hostname;
    return `${a.id}${label ? ` (${label}, last seen ${a.last_seen_at.slice(0, 10)})` : ` (last seen ${a.last_seen_at.slice(0, 10)})`}`;
  };
  const named = inUse.slice(0, NAMED_DEVICES).map(name).join(', ');
  const more = inUse.length > NAMED_DEVICES ? ` and ${inUse.length - NAMED_DEVICES} more` : '';
  const oldest = inUse.slice(0, excess).map((a) => a.id);
  return (
    `${inUse.length} devices hold seats of license ${licenseId}, more than the ${limit} it would have: ${named}${more}. ` +
    `Free ${excess} of them first (\`licensor seats free ${oldest[0]}\`, or POST /api/admin/v1/activations/{id}/free), ` +
    `or apply the change with --release-oldest (releaseOldest: true), which frees the ${excess} oldest: ${oldest.join(', ')}.`
  );
}

const sortedJson = (o: Record<string, unknown>) =>
  JSON.stringify(
    Object.fromEntries(
      Object.keys(o)
        .sort()
        .map((k) => [k, o[k]]),
    ),
  );

function refusePastExpiry(expiresAt: string | null | undefined, now: Date): void {
  if (expiresAt && Date.parse(expiresAt) <= now.getTime()) {
    throw new LicensorError('INVALID_INPUT', `The expiry ${expiresAt} is in the past; give a later date-time`, {
      problems: [{ field: 'expiresAt', message: 'in the past' }],
    });
  }
}

/** Issues a direct license: a new `LSR-…` code the customer types, with the SKU's terms unless overridden. */
export async function createDirectLicense(ctx: Ctx, input: unknown, actor: string): Promise<EntitlementRow> {
  const data = parseInput(createLicenseSchema, input, 'license');
  const { db } = ctx;
  const now = ctx.now();
  refusePastExpiry(data.expiresAt, now);
  return await db.transaction(async (tx) => {
    await requireCatalogueProduct(tx, data.productId);
    if (data.sku) await requireCatalogueSku(tx, data.productId, data.sku);
    let code = generateLicenseCode();
    // 95 random bits make a collision practically impossible; the unique index is the real guard.
    while (await findEntitlementByCode(tx, code)) code = generateLicenseCode();
    const id = `ent_${randomUUID().replaceAll('-', '').slice(0, 20)}`;
    const at = now.toISOString();
    const seatCount = await derivedSeats(tx, {
      product_id: data.productId,
      sku_code: data.sku ?? null,
      seats_override: data.seats ?? null,
      ordered_seats: null,
    });
    await tx.run(
      `INSERT INTO entitlements (id, family, code, product_id, sku_code, edition, features, customer_name, seats,
         seats_override, starts_at, expires_at, status, test, created_at, updated_at)
       VALUES (?, 'direct', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', 0, ?, ?)`,
      [
        id,
        code,
        data.productId,
        data.sku ?? null,
        data.edition ?? null,
        data.features ? sortedJson(data.features) : null,
        data.customer ?? null,
        seatCount,
        data.seats ?? null,
        at,
        data.expiresAt ? new Date(data.expiresAt).toISOString() : null,
        at,
        at,
      ],
    );
    const ent = (await findEntitlement(tx, id))!;
    await audit(tx, {
      actor,
      action: 'entitlement.created',
      entitlementId: id,
      after: {
        code,
        productId: ent.product_id,
        skuCode: ent.sku_code,
        edition: ent.edition,
        features: data.features ?? null,
        seats: ent.seats,
        expiresAt: ent.expires_at,
        customer: ent.customer_name,
      },
      detail: { direct: true },
      at: now,
    });
    await announceCreated(inTx(ctx, tx), ent, actor, 'entitlement.created', now);
    return ent;
  });
}

/**
 * Changes seats, expiry, SKU or customer of a license (any family). Lowering its seats below the devices
 * holding them is refused (SEATS_IN_USE, detail.devices oldest first) unless releaseOldest, which frees the
 * oldest devices' seats first. Returns the license after the change and the devices released.
 */
export async function updateLicense(
  ctx: Ctx,
  ent: EntitlementRow,
  input: unknown,
  actor: string,
): Promise<{ entitlement: EntitlementRow; releasedDevices: string[] }> {
  const data = parseInput(updateLicenseSchema, input, 'license change');
  const { db } = ctx;
  const now = ctx.now();
  refusePastExpiry(data.expiresAt, now);
  return await db.transaction(async (tx) => {
    const current = (await findEntitlement(tx, ent.id)) ?? ent;
    if (data.sku !== undefined && data.sku !== current.sku_code) {
      if (!current.product_id) {
        throw new LicensorError('INVALID_INPUT', `License ${current.id} has no product, so it cannot take a SKU`);
      }
      await requireCatalogueSku(tx, current.product_id, data.sku);
    }
    const patch: EntitlementPatch = {};
    if (data.seats !== undefined) patch.seats_override = data.seats;
    if (data.sku !== undefined) patch.sku_code = data.sku;
    if (data.expiresAt !== undefined) patch.expires_at = data.expiresAt ? new Date(data.expiresAt).toISOString() : null;
    if (data.customer !== undefined) patch.customer_name = data.customer;
    if (data.edition !== undefined) patch.edition = data.edition;
    // Stored as JSON text: a key-order-independent form, so the same features given again change nothing.
    if (data.features !== undefined) patch.features = data.features === null ? null : sortedJson(data.features);
    if (current.status === 'expired' && patch.expires_at !== undefined) {
      // A later expiry given by the merchant brings an expired license back, like a marketplace renewal.
      if (patch.expires_at === null || Date.parse(patch.expires_at) > now.getTime()) patch.status = 'active';
    }

    // The seat limit after the change (the policy's maxDevices, if set, still caps it) against devices in use.
    // Seats are re-derived only when something that feeds them changes: a customer or expiry change never
    // re-counts devices (a catalogue change may have left more devices than seats, and they keep them).
    const next = { ...current, ...patch } as EntitlementRow;
    const seatsChange = SEAT_INPUTS.some((k) => patch[k] !== undefined && patch[k] !== current[k]);
    const limit = seatLimit(await policyFor(tx, next), seatsChange ? await derivedSeats(tx, next) : current.seats);
    const inUse = await activeActivations(tx, current.id);
    const excess = seatsChange ? inUse.length - limit : 0;
    const releasedDevices: string[] = [];
    if (excess > 0) {
      if (!data.releaseOldest) {
        throw new LicensorError('SEATS_IN_USE', seatsInUseMessage(current.id, limit, inUse, excess), {
          seats: limit,
          inUse: inUse.length,
          devices: inUse.map((a) => deviceSummary(a)),
        });
      }
      for (const device of inUse.slice(0, excess)) {
        await releaseActivation(inTx(ctx, tx), device.id, actor, now);
        await audit(tx, {
          actor,
          action: 'activation.freed',
          entitlementId: current.id,
          activationId: device.id,
          detail: { reason: `seats lowered to ${limit}: oldest device released` },
          at: now,
        });
        releasedDevices.push(device.id);
      }
    }
    const entitlement = await changeEntitlement(
      inTx(ctx, tx),
      current,
      patch,
      actor,
      'entitlement.updated',
      { releasedDevices },
      now,
    );
    return { entitlement, releasedDevices };
  });
}
