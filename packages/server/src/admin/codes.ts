import { LicensorError, normalizeLicenseCode } from '@licensor/shared';
import express, { type Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../context';
import { inTx } from '../db/storage';
import { parseInput, route } from '../http/errors';
import { formatCompactTime } from '../koogallery/time';
import { compactTime } from '../koogallery/validate';
import { type EntitlementRow, findEntitlementByCode, type RegisterCodeInput, registerCode } from '../licensing';
import { actorOf } from './auth';

const registerSchema = z
  .object({
    code: z.string().trim().min(1).max(64),
    test: z.boolean().optional(),
    productId: z.string().min(1).max(64).optional(),
    seats: z.number().int().min(1).max(100_000).optional(),
    expireTime: z.union([compactTime, z.iso.datetime().transform((s) => new Date(s))]).optional(),
  })
  .strict();

/**
 * What an operator's registration stores: the code in the form activation looks it up by (so `plabc` is
 * `PLABC`, as a customer typing it would reach it), and a product — the one given, else LICENSOR_PRODUCT_ID.
 * A live code needs one: without it, it could not activate any software. A test code (the marketplace's debug
 * calls, dial tests) may be registered without one; activation refuses such a code before taking a seat.
 */
export async function operatorRegistration(
  ctx: Pick<AppContext, 'config' | 'db'>,
  input: Omit<RegisterCodeInput, 'status' | 'orderId'>,
  how: { productOption: string },
): Promise<RegisterCodeInput> {
  const code = normalizeLicenseCode(input.code);
  const productId = input.productId?.trim() || ctx.config.productId;
  // Registering a known code again changes nothing (registerCode returns it), so it needs no product.
  if (!productId && !input.test && !(await findEntitlementByCode(ctx.db, code))) {
    throw new LicensorError(
      'INVALID_INPUT',
      `Code ${code} needs a product: pass ${how.productOption} <product id> (the product id your software activates as), or set LICENSOR_PRODUCT_ID on the server for a default product.`,
      { problems: ['productId: required (no LICENSOR_PRODUCT_ID default configured)'] },
    );
  }
  return { ...input, code, ...(productId ? { productId } : {}) };
}

/** The admin view of a license code: `expireTime` in the marketplace's UTC yyyyMMddHHmmss form. */
export function codeView(e: EntitlementRow) {
  return {
    code: e.code,
    entitlementId: e.id,
    family: e.family,
    status: e.status,
    expireTime: e.expires_at ? formatCompactTime(new Date(e.expires_at)) : null,
    expiresAt: e.expires_at,
    productId: e.product_id,
    seats: e.seats,
    test: e.test === 1,
    createdAt: e.created_at,
    updatedAt: e.updated_at,
  };
}

export function codesRouter(ctx: AppContext): Router {
  const router = express.Router();
  router.post(
    '/codes',
    route(async (req, res) => {
      const parsed = parseInput(registerSchema, req.body, 'code registration');
      const input = await operatorRegistration(ctx, parsed, { productOption: '"productId"' });
      const { entitlement, created } = await ctx.db.transaction(async (tx) => {
        const t = inTx(ctx, tx);
        return registerCode(t, input, actorOf(res));
      });
      if (!created && entitlement.family !== 'B') {
        throw new LicensorError('CONFLICT', `${input.code} is already used by a family-${entitlement.family} license`);
      }
      res.status(created ? 201 : 200).json(codeView(entitlement));
    }),
  );
  router.get(
    '/codes/:code',
    route(async (req, res) => {
      const ent = await findEntitlementByCode(ctx.db, String(req.params.code));
      if (!ent) throw new LicensorError('NOT_FOUND', `No license code ${String(req.params.code)}`);
      res.json(codeView(ent));
    }),
  );
  return router;
}
