import { LicensorError } from '@licensor/shared';
import { type DialFamily, ids, MarketplaceCaller, runDialTest } from '@licensor/simulator';
import express, { type Router } from 'express';
import { z } from 'zod';
import { actorOf } from '../admin/auth';
import { operatorRegistration } from '../admin/codes';
import type { AppContext } from '../context';
import { parseInput, route } from '../http/errors';
import { PRODUCE_PATH } from '../koogallery/produce';
import { SUCCESS_CODES } from '../koogallery/resultCodes';
import { audit, registerCode } from '../licensing';

/**
 * Go-live readiness for the console (/api/admin/v1/readiness): which marketplace keys are configured, when
 * each production interface last answered the marketplace successfully, and the simulator's dial-test suites
 * (simulator/dialTest.ts, as `licensor simulate dial-test` runs them) played against this server's own
 * production address (LICENSOR_PUBLIC_URL + /api/koogallery/produce), one family at a time.
 */

const LICENSE_CODE_ACTIVITIES = new Set(['refreshLicenseCode', 'updateLicenseCodeStatus', 'releaseLicenseCode']);
/** The seller-center interface slot an inbound activity belongs to (family A's scheme-A GETs: `familyA`). */
export function interfaceOf(activity: string, method: string | null): string {
  if (method === 'GET') return 'familyA';
  if (LICENSE_CODE_ACTIVITIES.has(activity)) return 'licenseCode';
  if (activity === 'orderNotify') return 'generic';
  if (activity.startsWith('kit')) return 'kit';
  return 'basic';
}

export function productionUrl(ctx: Pick<AppContext, 'config'>): string | null {
  const base = ctx.config.publicUrl;
  return base ? `${base.replace(/\/+$/, '')}${PRODUCE_PATH}` : null;
}

export function readiness(ctx: Pick<AppContext, 'config' | 'db' | 'messages'>) {
  const { koo } = ctx.config;
  ctx.messages.flush();
  const rows = ctx.db.all<{ activity: string; method: string | null; at: string; test: number }>(
    `SELECT activity, method, MAX(created_at) AS at, test FROM marketplace_messages
      WHERE direction = 'in' AND refused = 0 AND error IS NULL
        AND result_code IN (${SUCCESS_CODES.map(() => '?').join(', ')})
      GROUP BY activity, method, test`,
    [...SUCCESS_CODES],
  );
  const lastSuccess: Record<string, { live: string | null; test: string | null; activities: string[] }> = {};
  for (const type of ['familyA', 'basic', 'licenseCode', 'generic', 'kit']) {
    lastSuccess[type] = { live: null, test: null, activities: [] };
  }
  for (const r of rows) {
    const slot = lastSuccess[interfaceOf(r.activity, r.method)]!;
    const which = r.test ? 'test' : 'live';
    if (!slot[which] || slot[which]! < r.at) slot[which] = r.at;
    if (!slot.activities.includes(r.activity)) slot.activities.push(r.activity);
  }
  return {
    productionUrl: productionUrl(ctx),
    keys: {
      familyA: Boolean(koo.key),
      basic: Boolean(koo.accessKeys.basic),
      licenseCode: Boolean(koo.accessKeys.licenseCode),
      generic: Boolean(koo.accessKeys.generic),
      kit: Boolean(koo.accessKeys.kit),
      openApi: Boolean(koo.ak && koo.sk),
    },
    lastSuccess,
  };
}

const dialSchema = z
  .object({
    family: z.enum(['A', 'B', 'C', 'notify']),
    rounds: z.number().int().min(2).max(5).default(2),
    productId: z.string().trim().min(1).max(64).optional(),
  })
  .strict();

export function readinessRouter(ctx: AppContext): Router {
  const router = express.Router();
  router.get(
    '/readiness',
    route((_req, res) => {
      res.json(readiness(ctx));
    }),
  );
  router.post(
    '/readiness/dial-test',
    route(async (req, res) => {
      const input = parseInput(dialSchema, req.body ?? {}, 'dial test');
      const url = productionUrl(ctx);
      if (!url) {
        throw new LicensorError(
          'MARKETPLACE_NOT_CONFIGURED',
          'Set LICENSOR_PUBLIC_URL to the address KooGallery calls (the dial tests go there, as the marketplace does)',
        );
      }
      const family = input.family as DialFamily;
      let testCode: string | undefined;
      if (family === 'B') {
        // A family-B debug case needs a code the server knows: a fresh one, registered as test data.
        const registration = operatorRegistration(
          ctx,
          { code: ids.code(), test: true, ...(input.productId ? { productId: input.productId } : {}) },
          { productOption: '"productId"' },
        );
        testCode =
          ctx.db.transaction(() => registerCode(ctx, registration, actorOf(res))).entitlement.code ?? undefined;
      }
      const { koo } = ctx.config;
      const caller = new MarketplaceCaller({
        url,
        ...(koo.key ? { key: koo.key } : {}),
        accessKeys: { ...koo.accessKeys },
        retryTimeScale: 0,
        timeoutMs: 10_000,
        print: () => {},
      });
      let report: Awaited<ReturnType<typeof runDialTest>>;
      try {
        report = await runDialTest({ caller, rounds: input.rounds, families: [family], testCode });
      } catch (err) {
        // The caller refuses to sign without the family's key: say which variable is missing.
        throw new LicensorError(
          'MARKETPLACE_NOT_CONFIGURED',
          `Cannot play family ${family}: ${(err as Error).message}`,
        );
      }
      audit(ctx.db, {
        actor: actorOf(res),
        action: 'readiness.dial_test',
        detail: {
          family,
          rounds: input.rounds,
          ok: report.ok,
          failed: report.cases.filter((c) => !c.ok).map((c) => c.name),
        },
      });
      res.json({ url, family, ...report });
    }),
  );
  return router;
}
