import { LicensorError } from '@licensor/shared';
import type { Config } from '../config';
import type { AppContext } from '../context';
import type { Storage } from '../db/storage';
import { inTx } from '../db/storage';
import {
  changeEntitlement,
  type EntitlementRow,
  findEntitlementByCode,
  type MarketplaceCodes,
  registerCode,
} from '../licensing';
import type { LicenseApiResult, LicenseCodeInfo } from './openApi';
import { LICENSE_API } from './resultCodes';
import { parseCompactTime } from './time';

type MarketplaceContext = Pick<AppContext, 'db' | 'now' | 'openApi' | 'log' | 'entitlementChanged'>;

/**
 * Said at start-up when the server cannot confirm KooGallery codes: without open-API credentials every first
 * activation of a `PL…` code fails with MARKETPLACE_NOT_CONFIGURED, which only the operator can fix.
 */
export function marketplaceStartupWarning(koo: Pick<Config['koo'], 'ak' | 'sk'>): string | undefined {
  if (koo.ak && koo.sk) return undefined;
  return 'LICENSOR_KOO_AK/LICENSOR_KOO_SK are not set: first activations of KooGallery (PL…) codes will fail with MARKETPLACE_NOT_CONFIGURED until they are (codes registered with `licensor codes register` still work)';
}

const {
  success: OK,
  alreadyActivated: ALREADY_ACTIVATED,
  notReceived: NOT_RECEIVED,
  noSuchCode: NO_SUCH_CODE,
  internal: INTERNAL_ERROR,
  invalidParam: INVALID_PARAM,
  notActivated: NOT_ACTIVATED,
} = LICENSE_API;

// Concurrent first activations of one code (a team installing at once) share one marketplace round trip.
const inFlight = new WeakMap<Storage, Map<string, Promise<EntitlementRow>>>();

/** KooGallery as the licensing core's source of unknown license codes (its MarketplaceCodes port). */
export function kooGalleryCodes(ctx: MarketplaceContext): MarketplaceCodes {
  return {
    get configured() {
      return ctx.openApi.configured;
    },
    learn: (code) => learnMarketplaceCode(ctx, code),
  };
}

/**
 * Learns a family-B code the server has not seen: activates it at the marketplace (first use), reads its
 * authoritative status, expiry and quantity with the query API, and registers it. Throws NOT_FOUND for codes
 * the marketplace does not know or has not delivered, MARKETPLACE_UNAVAILABLE when it cannot be reached (the
 * caller has taken no seat; the client retries).
 */
export function learnMarketplaceCode(ctx: MarketplaceContext, code: string): Promise<EntitlementRow> {
  let byCode = inFlight.get(ctx.db);
  if (!byCode) {
    byCode = new Map();
    inFlight.set(ctx.db, byCode);
  }
  const running = byCode.get(code);
  if (running) return running;
  const map = byCode;
  const promise = learnUnlessKnown(ctx, code)
    .catch((err: unknown) => {
      throw forClient(ctx, code, err);
    })
    .finally(() => map.delete(code));
  map.set(code, promise);
  return promise;
}

// Refusals built here already speak to the end user; the open-API client's own errors do not.
const userFacing = new WeakSet<Error>();

function refuse(code: string, result: LicenseApiResult<unknown>, step: string): never {
  const err = refusal(code, result, step);
  userFacing.add(err);
  throw err;
}

function refusal(code: string, result: LicenseApiResult<unknown>, step: string): LicensorError {
  switch (result.errorCode) {
    case NO_SUCH_CODE:
    case INVALID_PARAM:
      return new LicensorError(
        'NOT_FOUND',
        `License code ${code} does not exist at KooGallery. Check the code in "My KooGallery > Purchased services" and type it again.`,
      );
    case NOT_RECEIVED:
      return new LicensorError(
        'NOT_FOUND',
        `License code ${code} has not been received by the buyer yet. Accept the code in KooGallery ("My KooGallery > Purchased services"), then activate again.`,
      );
    case INTERNAL_ERROR:
    case NOT_ACTIVATED:
      return new LicensorError(
        'MARKETPLACE_UNAVAILABLE',
        `KooGallery could not ${step} the code right now (${result.errorCode}). No seat was taken; try again in a few minutes.`,
        { errorCode: result.errorCode },
      );
    default:
      return new LicensorError(
        'MARKETPLACE_REJECTED',
        `KooGallery refused to ${step} license code ${code} (${result.errorCode} ${result.errorMsg}). Contact the vendor.`,
        { errorCode: result.errorCode },
      );
  }
}

/**
 * The open-API client's errors are written for operators (hosts, credentials); the end user gets what to do,
 * the operator gets the log line.
 */
function forClient(ctx: MarketplaceContext, code: string, err: unknown): unknown {
  if (
    !(err instanceof LicensorError) ||
    (err.code !== 'MARKETPLACE_UNAVAILABLE' && err.code !== 'MARKETPLACE_REJECTED')
  ) {
    return err;
  }
  if (userFacing.has(err)) return err;
  ctx.log.warn({ code, err: err.message }, 'marketplace call for a first activation failed');
  return err.code === 'MARKETPLACE_UNAVAILABLE'
    ? new LicensorError(
        'MARKETPLACE_UNAVAILABLE',
        'KooGallery cannot be reached right now to confirm this license code. No seat was taken; try again in a few minutes.',
        undefined,
        { cause: err },
      )
    : new LicensorError(
        'MARKETPLACE_REJECTED',
        'The license server could not confirm this code with KooGallery (a server configuration problem). Contact the vendor.',
        undefined,
        { cause: err },
      );
}

const positiveInt = (v: unknown): number | undefined => {
  const n = Number(v);
  return Number.isInteger(n) && n > 0 ? n : undefined;
};

/**
 * A request that read the code as unknown can get here after another request learned it and left the in-flight
 * map (its registration committed in between): what is committed now answers it, without a second round trip.
 */
async function learnUnlessKnown(ctx: MarketplaceContext, code: string): Promise<EntitlementRow> {
  return (await findEntitlementByCode(ctx.db, code)) ?? (await learn(ctx, code));
}

async function learn(ctx: MarketplaceContext, code: string): Promise<EntitlementRow> {
  const activated = await ctx.openApi.activateCode(code);
  if (activated.errorCode !== OK && activated.errorCode !== ALREADY_ACTIVATED) refuse(code, activated, 'activate');
  // The activation answer's expiry is an estimate; the query API is authoritative (spec 7.2).
  const queried = await ctx.openApi.queryCode(code);
  if (queried.errorCode !== OK) refuse(code, queried, 'query');
  const info: LicenseCodeInfo = { ...(activated.data ?? {}), ...(queried.data ?? {}) };
  const expireTime = typeof info.expire_time === 'string' ? parseCompactTime(info.expire_time) : null;
  const marketStatus = String(info.status ?? 'ALIVE').toUpperCase();

  return ctx.db.transaction(async (tx) => {
    const t = inTx(ctx, tx);
    const { entitlement, created } = await registerCode(
      t,
      {
        code,
        productId: typeof info.product_id === 'string' && info.product_id ? info.product_id : undefined,
        seats: positiveInt(info.amount),
        expireTime,
        status: marketStatus === 'RELEASED' ? 'released' : 'active',
        orderId: typeof info.order_id === 'string' && info.order_id ? info.order_id : undefined,
      },
      'client:activation',
    );
    if (created && marketStatus === 'EXPIRED') {
      return await changeEntitlement(
        t,
        entitlement,
        { status: 'expired' },
        'client:activation',
        'entitlement.expired',
        {
          source: 'license.query',
        },
      );
    }
    return entitlement;
  });
}
