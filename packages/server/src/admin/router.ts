import { X509Certificate } from 'node:crypto';
import express, { type Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../context';
import { parseInput, route } from '../http/errors';
import { nextDailyDuty } from '../jobs/daily';
import { createDirectLicense, policyOverridesSchema, updateLicense } from '../licensing';
import {
  actions,
  createToken,
  entitlementDetail,
  listTokens,
  requireEntitlement,
  retryOutboxItem,
  revokeToken,
} from './actions';
import { actorOf, requireScope, SCOPES } from './auth';
import { streamExport } from './csv';
import {
  ACTIVATION_COLUMNS,
  activationExportSchema,
  activationFilterSchema,
  auditFilterSchema,
  ENTITLEMENT_COLUMNS,
  entitlementExportSchema,
  entitlementFilterSchema,
  entitlementView,
  exportActivations,
  exportEntitlements,
  exportMessages,
  listActivationsPage,
  listAudit,
  listCodes,
  listEntitlements,
  listMessages,
  listOrders,
  listOutbox,
  MESSAGE_COLUMNS,
  messageExportSchema,
  messageFilterSchema,
  orderFilterSchema,
  outboxFilterSchema,
  summary,
  summaryFilterSchema,
} from './queries';

/**
 * The merchant operators' API under /api/admin/v1 (bearer tokens checked by adminAuth before this router;
 * read-scope tokens only reach the GET routes, admin-scope tokens alone reach /tokens). Lists page with `limit` (≤200) and `cursor` or `page`;
 * every action goes through the same service functions as the CLI and writes the audit log.
 */

const id = z.string().trim().min(1, 'must not be empty').max(128, 'at most 128 characters');
const paramsOf = (req: express.Request, what: string) => parseInput(z.object({ id }), req.params, what).id;

const reasonSchema = z.object({ reason: z.string().trim().min(1).max(500).optional() }).strict();
const bodyOf = <T extends z.ZodTypeAny>(schema: T, body: unknown, what: string): z.infer<T> =>
  // An action without a body is fine: express.json leaves req.body undefined.
  parseInput(schema, body ?? {}, what);

const moveSchema = z
  .object({ to: id.describe('target license: id or code'), reason: z.string().trim().min(1).max(500).optional() })
  .strict();

/** `null` removes the license's own overrides (product defaults apply again). */
const policySchema = z.object({ policy: policyOverridesSchema.nullable() }).strict();

const offlineSchema = z
  .object({
    request: z
      .string({ error: 'expected the armoured request text (-----BEGIN LICENSOR ACTIVATION REQUEST----- …)' })
      .min(1)
      .max(64 * 1024),
  })
  .strict();

const tokenSchema = z.object({ name: z.string().trim().min(1).max(100), scope: z.enum(SCOPES) }).strict();

/** When the root and each signing key expire (revoked keys marked): the overview shows them before they bite. */
function keyExpiry(ctx: AppContext) {
  const revoked = new Set(ctx.keys.revokedKeyIds());
  return {
    rootKeyId: ctx.keys.rootKeyId,
    rootNotAfter: new Date(new X509Certificate(ctx.keys.rootCertificatePem).validTo).toISOString(),
    signing: ctx.keys.list().map((k) => ({ ...k, revoked: revoked.has(k.keyId) })),
  };
}

const exportName = (what: string, now: Date) => `${what}-${now.toISOString().slice(0, 19).replace(/[-:]/g, '')}`;

export function adminRouter(ctx: AppContext): Router {
  const router = express.Router();
  const { db } = ctx;

  router.get(
    '/summary',
    route(async (req, res) => {
      const { includeTest } = parseInput(summaryFilterSchema, req.query, 'query');
      await ctx.messages.flush(); // count the calls of the last moments too, as the message list shows them
      res.json({
        ...(await summary(db, { includeTest, now: ctx.now() })),
        outbox: await ctx.outbox.depth(),
        nextDailyDuty: await nextDailyDuty(ctx),
        keys: keyExpiry(ctx),
      });
    }),
  );

  // ------------------------------------------------------------------------------------ entitlements
  router.get(
    '/entitlements',
    route(async (req, res) => {
      res.json(await listEntitlements(db, parseInput(entitlementFilterSchema, req.query, 'query')));
    }),
  );
  // A direct license (sold outside KooGallery): a new LSR-… code with its SKU's terms unless overridden.
  router.post(
    '/entitlements',
    route(async (req, res) => {
      const ent = await createDirectLicense(ctx, req.body ?? {}, actorOf(res));
      res.status(201).json({ entitlement: entitlementView(ent) });
    }),
  );
  // Seats, expiry, SKU or customer of any license; 409 SEATS_IN_USE lists the devices unless releaseOldest.
  router.patch(
    '/entitlements/:id',
    route(async (req, res) => {
      const ent = await requireEntitlement(db, paramsOf(req, 'entitlement id'));
      const { entitlement, releasedDevices } = await updateLicense(ctx, ent, req.body ?? {}, actorOf(res));
      res.json({ entitlement: entitlementView(entitlement), releasedDevices });
    }),
  );
  router.get(
    '/entitlements/:id',
    route(async (req, res) => {
      res.json(await entitlementDetail(ctx, await requireEntitlement(db, paramsOf(req, 'entitlement id'))));
    }),
  );
  router.put(
    '/entitlements/:id/policy',
    route(async (req, res) => {
      const entitlementId = paramsOf(req, 'entitlement id');
      const { policy } = bodyOf(policySchema, req.body, 'policy');
      res.json(await actions.setPolicy(ctx, entitlementId, policy, actorOf(res)));
    }),
  );
  for (const action of ['suspend', 'reinstate', 'revoke'] as const) {
    router.post(
      `/entitlements/:id/${action}`,
      route(async (req, res) => {
        const entitlementId = paramsOf(req, 'entitlement id');
        const { reason } = bodyOf(reasonSchema, req.body, `${action} request`);
        res.json(await actions[action](ctx, entitlementId, actorOf(res), reason));
      }),
    );
  }

  // ---------------------------------------------------------------------------- codes, orders, devices
  router.get(
    '/codes',
    route(async (req, res) => {
      res.json(await listCodes(db, parseInput(entitlementFilterSchema, req.query, 'query')));
    }),
  );
  router.get(
    '/orders',
    route(async (req, res) => {
      res.json(await listOrders(db, parseInput(orderFilterSchema, req.query, 'query')));
    }),
  );
  router.get(
    '/activations',
    route(async (req, res) => {
      res.json(await listActivationsPage(db, parseInput(activationFilterSchema, req.query, 'query')));
    }),
  );
  router.post(
    '/activations/:id/free',
    route(async (req, res) => {
      const activationId = paramsOf(req, 'activation id');
      const { reason } = bodyOf(reasonSchema, req.body, 'free request');
      res.json(await actions.freeSeat(ctx, activationId, actorOf(res), reason));
    }),
  );
  router.post(
    '/activations/:id/move',
    route(async (req, res) => {
      const activationId = paramsOf(req, 'activation id');
      const { to, reason } = bodyOf(moveSchema, req.body, 'move request');
      res.json(await actions.move(ctx, activationId, to, actorOf(res), reason));
    }),
  );
  router.post(
    '/offline-responses',
    route(async (req, res) => {
      const { request } = bodyOf(offlineSchema, req.body, 'offline request');
      res.status(201).json(await actions.offlineResponse(ctx, request, actorOf(res)));
    }),
  );

  // ----------------------------------------------------------------------------------- logs, outbox
  router.get(
    '/audit',
    route(async (req, res) => {
      res.json(await listAudit(db, parseInput(auditFilterSchema, req.query, 'query')));
    }),
  );
  router.get(
    '/messages',
    route(async (req, res) => {
      await ctx.messages.flush(); // show calls made in the last moments too
      res.json(await listMessages(db, parseInput(messageFilterSchema, req.query, 'query')));
    }),
  );
  router.get(
    '/outbox',
    route(async (req, res) => {
      res.json(await listOutbox(db, parseInput(outboxFilterSchema, req.query, 'query')));
    }),
  );
  router.post(
    '/outbox/:id/retry',
    route(async (req, res) => {
      const raw = paramsOf(req, 'outbox item id');
      const itemId = parseInput(z.object({ id: z.coerce.number().int().positive() }), { id: raw }, 'outbox item id').id;
      res.json(await retryOutboxItem(ctx, itemId, actorOf(res)));
    }),
  );

  // -------------------------------------------------------------------------------------- exports
  router.get(
    '/export/entitlements',
    route(async (req, res) => {
      const f = parseInput(entitlementExportSchema, req.query, 'query');
      await streamExport(
        res,
        { format: f.format, bom: f.bom, filename: exportName('entitlements', ctx.now()), columns: ENTITLEMENT_COLUMNS },
        await exportEntitlements(db, f),
      );
    }),
  );
  router.get(
    '/export/activations',
    route(async (req, res) => {
      const f = parseInput(activationExportSchema, req.query, 'query');
      await streamExport(
        res,
        { format: f.format, bom: f.bom, filename: exportName('activations', ctx.now()), columns: ACTIVATION_COLUMNS },
        await exportActivations(db, f),
      );
    }),
  );
  router.get(
    '/export/messages',
    route(async (req, res) => {
      await ctx.messages.flush();
      const f = parseInput(messageExportSchema, req.query, 'query');
      await streamExport(
        res,
        { format: f.format, bom: f.bom, filename: exportName('messages', ctx.now()), columns: MESSAGE_COLUMNS },
        exportMessages(db, f),
      );
    }),
  );

  // -------------------------------------------------------------------------------------- tokens
  // Token management is the admin scope's alone: each route says so itself (adminAuth's path check is the second lock).
  const adminOnly = requireScope('admin');
  router.get(
    '/tokens',
    adminOnly,
    route(async (_req, res) => {
      res.json({ items: await listTokens(db) });
    }),
  );
  router.post(
    '/tokens',
    adminOnly,
    route(async (req, res) => {
      const input = bodyOf(tokenSchema, req.body, 'token');
      res.status(201).json(await createToken(db, input.name, input.scope, actorOf(res)));
    }),
  );
  router.delete(
    '/tokens/:id',
    adminOnly,
    route(async (req, res) => {
      res.json(await revokeToken(db, paramsOf(req, 'token id'), actorOf(res)));
    }),
  );

  return router;
}
