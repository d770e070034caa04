import { LicensorError } from '@licensor/shared';
import express, { type Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../context';
import { parseInput, route } from '../http/errors';
import { listTenants, showTenant } from './queries';

/**
 * Admin API (mounted under /api/admin/v1 behind adminAuth; read-only, so read-scope tokens may use it):
 *   GET /kit/tenants                           enterprises bound to instances, newest first, paged
 *   GET /kit/tenants/:instanceId/:tenantId     one enterprise: apps (never the client secret), org tree, users
 * The seller's own credential application has an empty instance id; address it as `-`.
 */

const pathSchema = z.object({
  instanceId: z.string().trim().min(1, 'use - for the empty instance id').max(64, 'at most 64 characters'),
  tenantId: z.string().trim().min(1, 'must not be empty').max(64, 'at most 64 characters'),
});

export function kitAdminRouter(ctx: AppContext): Router {
  const router = express.Router();
  router.get(
    '/kit/tenants',
    route(async (req, res) => {
      res.json(await listTenants(ctx.db, req.query as Record<string, unknown>));
    }),
  );
  router.get(
    '/kit/tenants/:instanceId/:tenantId',
    route(async (req, res) => {
      const p = parseInput(pathSchema, req.params, 'path');
      const detail = await showTenant(ctx.db, p.instanceId, p.tenantId);
      if (!detail) {
        throw new LicensorError(
          'NOT_FOUND',
          `Nothing was synced for tenant ${p.tenantId} of instance ${p.instanceId}; list them with GET /kit/tenants`,
        );
      }
      res.json(detail);
    }),
  );
  return router;
}
