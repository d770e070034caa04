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
    route((_req, res) => {
      res.json(readCatalog(db));
    }),
  );
  router.post(
    '/catalog/apply',
    route((req, res) => {
      const body = parseInput(applySchema, req.body ?? {}, 'apply request');
      res.json(applyCatalog(ctx, body.catalog, { ...body, actor: actorOf(res) }));
    }),
  );
  router.get(
    '/catalog/unknown-skus',
    route((req, res) => {
      const q = parseInput(unknownSkuQuery, req.query, 'query');
      res.json({ items: listUnknownSkus(db, { includeTest: q.includeTest === 'true' }) });
    }),
  );
  router.get(
    '/catalog/resolve',
    route((req, res) => {
      const q = parseInput(resolveQuery, req.query, 'query');
      res.json(resolveModel(db, q.productId, q.skuCode));
    }),
  );
  router.get(
    '/catalog/products/:productId',
    route((req, res) => {
      res.json(requireProduct(db, productParam(req)));
    }),
  );
  router.put(
    '/catalog/products/:productId',
    route((req, res) => {
      const id = productParam(req);
      const existed = getProduct(db, id) !== undefined;
      const body = req.body && typeof req.body === 'object' ? req.body : {};
      res.status(existed ? 200 : 201).json(setProduct(ctx, { ...body, id }, actorOf(res)));
    }),
  );
  router.delete(
    '/catalog/products/:productId',
    route((req, res) => {
      res.json({ removed: removeProduct(ctx, productParam(req), actorOf(res)) });
    }),
  );
  router.put(
    '/catalog/products/:productId/skus/:skuCode',
    route((req, res) => {
      const id = productParam(req);
      const code = parseInput(z.object({ skuCode: skuCodeSchema }).passthrough(), req.params, 'SKU code').skuCode;
      const body = req.body && typeof req.body === 'object' ? req.body : {};
      res.json(setSku(ctx, id, { ...body, code }, actorOf(res)));
    }),
  );
  router.delete(
    '/catalog/products/:productId/skus/:skuCode',
    route((req, res) => {
      const id = productParam(req);
      const code = parseInput(z.object({ skuCode: skuCodeSchema }).passthrough(), req.params, 'SKU code').skuCode;
      res.json({ removed: removeSku(ctx, id, code, actorOf(res)) });
    }),
  );

  // Product policy defaults (`*` = every product): the same row the catalogue's `policy` field writes.
  router.get(
    '/policies/:productId',
    route((req, res) => {
      res.json(policyView(ctx, policyParam(req)));
    }),
  );
  router.put(
    '/policies/:productId',
    route((req, res) => {
      const id = policyParam(req);
      const { policy } = parseInput(policyBody, req.body ?? {}, 'policy');
      setProductPolicy(db, id, policy, actorOf(res));
      res.json(policyView(ctx, id));
    }),
  );
  router.delete(
    '/policies/:productId',
    route((req, res) => {
      const id = policyParam(req);
      setProductPolicy(db, id, null, actorOf(res));
      res.json(policyView(ctx, id));
    }),
  );
  return router;
}

/** A product's own policy overrides and the effective policy its licenses get (before SKU and license overrides). */
export function policyView(ctx: Pick<AppContext, 'db'>, productId: string) {
  const row = ctx.db.first<{ policy: string }>('SELECT policy FROM product_policies WHERE product_id = ?', [productId]);
  const own = row ? (JSON.parse(row.policy) as object) : null;
  const global = ctx.db.first<{ policy: string }>(`SELECT policy FROM product_policies WHERE product_id = '*'`);
  const effective = resolvePolicy(row?.policy, global ? JSON.parse(global.policy) : {});
  return { productId, overrides: own, effective };
}
