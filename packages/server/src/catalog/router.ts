import express, { type Router } from 'express';
import { z } from 'zod';
import { actorOf } from '../admin/auth';
import type { AppContext } from '../context';
import { parseInput, route } from '../http/errors';
import { policyOverridesSchema, resolvePolicy, setProductPolicy } from '../licensing';
import { productIdSchema, skuCodeSchema } from './model';
import {
  applyCatalog,
  getProduct,
  listUnknownSkus,
  readCatalog,
  removeProduct,
  removeSku,
  requireProduct,
  resolveModel,
  setProduct,
  setSku,
} from './store';

/** Catalogue and product-policy routes of the admin API (mounted under /api/admin/v1 after adminAuth). */

const applySchema = z
  .object({ catalog: z.unknown(), dryRun: z.boolean().default(false), prune: z.boolean().default(false) })
  .strict();
const unknownSkuQuery = z.object({ includeTest: z.enum(['true', 'false']).optional() }).strict();
const resolveQuery = z.object({ productId: productIdSchema, skuCode: skuCodeSchema.optional() }).strict();
const policyBody = z.object({ policy: policyOverridesSchema }).strict();
const productParam = (req: express.Request) =>
  parseInput(z.object({ productId: productIdSchema }).passthrough(), req.params, 'product id').productId;
/** Policy routes also take `*`: the defaults of every product. */
const policyParam = (req: express.Request) =>
  parseInput(z.object({ productId: z.union([productIdSchema, z.literal('*')]) }), req.params, 'product id').productId;

export function catalogRouter(ctx: AppContext): Router {
  const router = express.Router();
  const { db } = ctx;

  router.get(
    '/catalog',
    route(async (_req, res) => {
      res.json(await readCatalog(db));
    }),
  );
  router.post(
    '/catalog/apply',
    route(async (req, res) => {
      const body = parseInput(applySchema, req.body ?? {}, 'apply request');
      res.json(await applyCatalog(ctx, body.catalog, { ...body, actor: actorOf(res) }));
    }),
  );
  router.get(
    '/catalog/unknown-skus',
    route(async (req, res) => {
      const q = parseInput(unknownSkuQuery, req.query, 'query');
      res.json({ items: await listUnknownSkus(db, { includeTest: q.includeTest === 'true' }) });
    }),
  );
  router.get(
    '/catalog/resolve',
    route(async (req, res) => {
      const q = parseInput(resolveQuery, req.query, 'query');
      res.json(await resolveModel(db, q.productId, q.skuCode));
    }),
  );
  router.get(
    '/catalog/products/:productId',
    route(async (req, res) => {
      res.json(await requireProduct(db, productParam(req)));
    }),
  );
  router.put(
    '/catalog/products/:productId',
    route(async (req, res) => {
      const id = productParam(req);
      const existed = (await getProduct(db, id)) !== undefined;
      const body = req.body && typeof req.body === 'object' ? req.body : {};
      res.status(existed ? 200 : 201).json(await setProduct(ctx, { ...body, id }, actorOf(res)));
    }),
  );
  router.delete(
    '/catalog/products/:productId',
    route(async (req, res) => {
      res.json({ removed: await removeProduct(ctx, productParam(req), actorOf(res)) });
    }),
  );
  router.put(
    '/catalog/products/:productId/skus/:skuCode',
    route(async (req, res) => {
      const id = productParam(req);
      const code = parseInput(z.object({ skuCode: skuCodeSchema }).passthrough(), req.params, 'SKU code').skuCode;
      const body = req.body && typeof req.body === 'object' ? req.body : {};
      res.json(await setSku(ctx, id, { ...body, code }, actorOf(res)));
    }),
  );
  router.delete(
    '/catalog/products/:productId/skus/:skuCode',
    route(async (req, res) => {
      const id = productParam(req);
      const code = parseInput(z.object({ skuCode: skuCodeSchema }).passthrough(), req.params, 'SKU code').skuCode;
      res.json({ removed: await removeSku(ctx, id, code, actorOf(res)) });
    }),
  );

  // Product policy defaults (`*` = every product): the same row the catalogue's `policy` field writes.
  router.get(
    '/policies/:productId',
    route(async (req, res) => {
      res.json(await policyView(ctx, policyParam(req)));
    }),
  );
  router.put(
    '/policies/:productId',
    route(async (req, res) => {
      const id = policyParam(req);
      const { policy } = parseInput(policyBody, req.body ?? {}, 'policy');
      await setProductPolicy(db, id, policy, actorOf(res));
      res.json(await policyView(ctx, id));
    }),
  );
  router.delete(
    '/policies/:productId',
    route(async (req, res) => {
      const id = policyParam(req);
      await setProductPolicy(db, id, null, actorOf(res));
      res.json(await policyView(ctx, id));
    }),
  );
  return router;
}

/** A product's own policy overrides and the effective policy its licenses get (before SKU and license overrides). */
export async function policyView(ctx: Pick<AppContext, 'db'>, productId: string) {
  const row = await ctx.db.first<{ policy: string }>('SELECT policy FROM product_policies WHERE product_id = ?', [
    productId,
  ]);
  const own = row ? (JSON.parse(row.policy) as object) : null;
  const global = await ctx.db.first<{ policy: string }>(`SELECT policy FROM product_policies WHERE product_id = '*'`);
  const effective = resolvePolicy(row?.policy, global ? JSON.parse(global.policy) : {});
  return { productId, overrides: own, effective };
}
