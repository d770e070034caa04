import express, { type Router } from 'express';
import { z } from 'zod';
import { actorOf, requireScope } from '../admin/auth';
import type { AppContext } from '../context';
import { parseInput, route } from '../http/errors';
import { SecretBox } from '../kit/secretBox';
import {
  createEndpoint,
  deliveryDetail,
  deliveryFilterSchema,
  listDeliveries,
  listEndpoints,
  replayDelivery,
  requireEndpoint,
  setEndpointEnabled,
  WEBHOOK_EVENTS,
  type WebhookDeps,
} from './store';

/** The services endpoint management needs, from the app's context (the CLI builds the same from its session). */
export const webhookDeps = (ctx: Pick<AppContext, 'db' | 'config' | 'now'>): WebhookDeps => ({
  db: ctx.db,
  get box() {
    return SecretBox.forDataDir(ctx.config.dataDir);
  },
  allowPrivate: ctx.config.webhookAllowPrivate,
  now: ctx.now,
});

const idParam = (req: express.Request, what: string) =>
  parseInput(z.object({ id: z.string().min(1).max(64) }), req.params, what).id;

/** Webhook routes of the admin API (mounted under /api/admin/v1 after adminAuth). */
export function webhooksRouter(ctx: AppContext): Router {
  const router = express.Router();
  const deps = webhookDeps(ctx);

  router.get('/webhooks/event-types', (_req, res) => {
    res.json({ items: WEBHOOK_EVENTS });
  });
  router.get(
    '/webhooks/endpoints',
    route(async (_req, res) => {
      res.json({ items: await listEndpoints(ctx.db) });
    }),
  );
  router.post(
    '/webhooks/endpoints',
    // Pointing events at a URL sends license codes and customer names there: admin scope, like token management.
    requireScope('admin'),
    route(async (req, res) => {
      res.status(201).json(await createEndpoint(deps, req.body ?? {}, actorOf(res)));
    }),
  );
  router.get(
    '/webhooks/endpoints/:id',
    route(async (req, res) => {
      res.json(await requireEndpoint(ctx.db, idParam(req, 'endpoint id')));
    }),
  );
  for (const action of ['enable', 'disable'] as const) {
    router.post(
      `/webhooks/endpoints/:id/${action}`,
      // Resuming deliveries to a URL is as sensitive as registering it; pausing them is not.
      requireScope(action === 'enable' ? 'admin' : 'write'),
      route(async (req, res) => {
        res.json(await setEndpointEnabled(deps, idParam(req, 'endpoint id'), action === 'enable', actorOf(res)));
      }),
    );
  }
  router.get(
    '/webhooks/deliveries',
    route(async (req, res) => {
      res.json(await listDeliveries(ctx.db, parseInput(deliveryFilterSchema, req.query, 'query')));
    }),
  );
  router.get(
    '/webhooks/deliveries/:id',
    route(async (req, res) => {
      res.json(await deliveryDetail(ctx.db, idParam(req, 'delivery id')));
    }),
  );
  router.post(
    '/webhooks/deliveries/:id/replay',
    route(async (req, res) => {
      res.json(await replayDelivery(ctx, idParam(req, 'delivery id'), actorOf(res)));
    }),
  );
  return router;
}
