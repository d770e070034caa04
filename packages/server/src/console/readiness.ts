import { createHash } from 'node:crypto';
import { LicensorError } from '@licensor/shared';
import { type DialFamily, ids, MarketplaceCaller, runDialTest } from '@licensor/simulator';
import express, { type Router } from 'express';
import { z } from 'zod';
import { actorOf, requireScope } from '../admin/auth';
import { operatorRegistration } from '../admin/codes';
import type { AppContext } from '../context';
import { inTx } from '../db/storage';
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

const INTERFACES = ['familyA', 'basic', 'licenseCode', 'generic', 'kit'] as const;
type Interface = (typeof INTERFACES)[number];
type Fingerprints = Record<Interface, string | null>;

/** The marketplace key each production interface verifies with (family A's scheme-A GETs: the merchant Key). */
function interfaceKeys(config: AppContext['config']): Record<Interface, string | undefined> {
  const { koo } = config;
  return {
    familyA: koo.key,
    basic: koo.accessKeys.basic,
    licenseCode: koo.accessKeys.licenseCode,
    generic: koo.accessKeys.generic,
    kit: koo.accessKeys.kit,
  };
}

/**
 * A key's fingerprint: enough to tell two keys apart in the configuration log, never the key (12 hex digits of
 * a domain-separated SHA-256; the seller center's keys are random, so this confirms no guess worth making).
 */
export const keyFingerprint = (key: string) =>
  createHash('sha256').update(`licensor marketplace key\0${key}`).digest('hex').slice(0, 12);

function currentFingerprints(config: AppContext['config']): Fingerprints {
  const keys = interfaceKeys(config);
  return Object.fromEntries(INTERFACES.map((i) => [i, keys[i] ? keyFingerprint(keys[i]) : null])) as Fingerprints;
}

/**
 * Records the production address and key fingerprints the server starts with, when they differ from the last
 * record (called by createApp): readiness can then tell which configuration answered the marketplace when.
 */
export async function recordMarketplaceConfig(ctx: Pick<AppContext, 'config' | 'db' | 'now'>): Promise<void> {
  const publicUrl = productionUrl(ctx);
  const fingerprints = JSON.stringify(currentFingerprints(ctx.config));
  await ctx.db.transaction(async (tx) => {
    const last = await tx.first<{ public_url: string | null; fingerprints: string }>(
      'SELECT public_url, fingerprints FROM marketplace_config_log ORDER BY id DESC LIMIT 1',
    );
    if (last && last.public_url === publicUrl && last.fingerprints === fingerprints) return;
    await tx.run('INSERT INTO marketplace_config_log (at, public_url, fingerprints) VALUES (?, ?, ?)', [
      ctx.now().toISOString(),
      publicUrl,
      fingerprints,
    ]);
  });
}

export interface BindingWarning {
  interface: Interface;
  kind: 'bound' | 'keyChanged' | 'addressChanged' | 'sharedKey';
  message: string;
}

const ACCESS_KEY_INTERFACES = ['basic', 'licenseCode', 'generic', 'kit'] as const;
const ACCESS_KEY_VARIABLE: Record<(typeof ACCESS_KEY_INTERFACES)[number], string> = {
  basic: 'LICENSOR_KOO_ACCESS_KEY_BASIC',
  licenseCode: 'LICENSOR_KOO_ACCESS_KEY_LICENSE_CODE',
  generic: 'LICENSOR_KOO_ACCESS_KEY_GENERIC',
  kit: 'LICENSOR_KOO_ACCESS_KEY_KIT',
};

/**
 * 卖家中心 issues each interface type its own access key (spec: "each interface type needs its own key"), so one
 * key configured for two types (typically LICENSOR_KOO_ACCESS_KEY alone, which fills all four) means the calls of
 * all but one type will fail their signature check once more than one type is bound.
 */
function sharedKeyWarnings(config: AppContext['config']): BindingWarning[] {
  const byKey = new Map<string, (typeof ACCESS_KEY_INTERFACES)[number][]>();
  for (const i of ACCESS_KEY_INTERFACES) {
    const key = config.koo.accessKeys[i];
    if (key) byKey.set(key, [...(byKey.get(key) ?? []), i]);
  }
  return [...byKey.values()]
    .filter((group) => group.length > 1)
    .map((group) => ({
      interface: group[0]!,
      kind: 'sharedKey' as const,
      message: `The same access key is configured for ${group.map((i) => LABEL[i]).join(', ')}. 卖家中心 issues a distinct key for each interface type (应用工具 > 密钥管理): set ${group.map((i) => ACCESS_KEY_VARIABLE[i]).join(', ')} to each type's own key (LICENSOR_KOO_ACCESS_KEY alone fills them all), or the calls of every type but the one that key is bound to fail their signature check.`,
    }));
}

const LABEL: Record<Interface, string> = {
  familyA: 'family A Key (LICENSOR_KOO_KEY)',
  basic: '基础接口 access key (LICENSOR_KOO_ACCESS_KEY_BASIC)',
  licenseCode: 'License授权码 access key (LICENSOR_KOO_ACCESS_KEY_LICENSE_CODE)',
  generic: '通用接口 access key (LICENSOR_KOO_ACCESS_KEY_GENERIC)',
  kit: '联营SaaS同步 access key (LICENSOR_KOO_ACCESS_KEY_KIT)',
};

/**
 * Warnings about keys the marketplace holds bound to the certified production address (spec: "do not swap a
 * bound key — it breaks dial tests and orders of already-listed products"): before a change, every interface
 * that answered live traffic is named as bound; after one, a key or address that differs from the
 * configuration in effect at the interface's last live success is named as changed.
 */
async function bindingWarnings(
  ctx: Pick<AppContext, 'config' | 'db'>,
  lastLive: Record<Interface, string | null>,
): Promise<BindingWarning[]> {
  const now = currentFingerprints(ctx.config);
  const url = productionUrl(ctx);
  const warnings: BindingWarning[] = [];
  for (const i of INTERFACES) {
    const at = lastLive[i];
    if (!at) continue;
    const then = await ctx.db.first<{ public_url: string | null; fingerprints: string }>(
      'SELECT public_url, fingerprints FROM marketplace_config_log WHERE at <= ? ORDER BY id DESC LIMIT 1',
      [at],
    );
    const thenKey = then ? (JSON.parse(then.fingerprints) as Fingerprints)[i] : undefined;
    if (then && thenKey !== now[i]) {
      warnings.push({
        interface: i,
        kind: 'keyChanged',
        message: `The ${LABEL[i]} changed after it last answered live marketplace traffic (${at}). If 卖家中心 still has the old key bound, every call fails its signature check: put the old key back, or bind the new one in 卖家中心 > 应用工具 > 密钥管理 and re-run the dial tests.`,
      });
    }
    if (then && then.public_url !== url) {
      warnings.push({
        interface: i,
        kind: 'addressChanged',
        message: `The production address changed from ${then.public_url ?? '(not set)'} to ${url ?? '(not set)'} after the ${LABEL[i]} last answered live traffic (${at}). The marketplace calls the certified address: set LICENSOR_PUBLIC_URL back, or certify the new address in 卖家中心 and re-run the dial tests.`,
      });
    }
    warnings.push({
      interface: i,
      kind: 'bound',
      message: `The ${LABEL[i]} answered live orders (last ${at}): it is bound in 卖家中心 to ${then?.public_url ?? url ?? 'the certified address'}. Rotating it or changing LICENSOR_PUBLIC_URL breaks orders of listed products and the dial tests; bind the new key or address in 卖家中心 first, then change it here and re-run the dial tests.`,
    });
  }
  return warnings;
}

export async function readiness(ctx: Pick<AppContext, 'config' | 'db' | 'messages'>) {
  const { koo } = ctx.config;
  await ctx.messages.flush();
  const rows = await ctx.db.all<{ activity: string; method: string | null; at: string; test: number }>(
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
    fingerprints: currentFingerprints(ctx.config),
    warnings: [
      ...sharedKeyWarnings(ctx.config),
      ...(await bindingWarnings(
        ctx,
        Object.fromEntries(INTERFACES.map((i) => [i, lastSuccess[i]?.live ?? null])) as Record<
          Interface,
          string | null
        >,
      )),
    ],
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
    route(async (_req, res) => {
      res.json(await readiness(ctx));
    }),
  );
  router.post(
    '/readiness/dial-test',
    // Dial tests send signed marketplace calls and register test codes: write scope, checked here as well.
    requireScope('write'),
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
        const registration = await operatorRegistration(
          ctx,
          { code: ids.code(), test: true, ...(input.productId ? { productId: input.productId } : {}) },
          { productOption: '"productId"' },
        );
        testCode =
          (
            await ctx.db.transaction(async (tx) => {
              const t = inTx(ctx, tx);
              return registerCode(t, registration, actorOf(res));
            })
          ).entitlement.code ?? undefined;
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
      await audit(ctx.db, {
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
