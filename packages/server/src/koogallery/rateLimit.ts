import { bodySignHeader } from '@licensor/shared';
import type { RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import type { Config } from '../config';
import type { LimiterStore } from '../db/postgres/rateLimitStore';
import { fail, RESULT } from './resultCodes';

/**
 * Per-client-address limit on the production interface and the Kit paths below it (requests a minute).
 * The marketplace's own traffic stays far below the default of 600 (see packages/server/README.md#rate-limits):
 * each order is a handful of calls, failed calls are retried at most every 2 minutes per item (spec §2.5),
 * dial tests replay a few saved cases twice a day. A flood from one address is answered 429 before it is
 * parsed, verified or written to the message log.
 */
export function marketplaceRateLimit(
  config: Config,
  onLimited: () => void,
  /** Shared across instances on PostgreSQL (limiterStoreFor); the memory store when omitted. */
  stores: LimiterStore = () => ({}),
): RequestHandler | undefined {
  if (config.produceRateLimit <= 0) return undefined;
  return rateLimit({
    ...stores('marketplace', 'produce:'),
    windowMs: 60_000,
    limit: config.produceRateLimit,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    handler: (req, res, _next, options) => {
      onLimited();
      const retryAfter = String(res.getHeader('Retry-After') ?? Math.ceil(options.windowMs / 1000));
      // Signed like every answer on these paths, with the key the path's requests are signed with.
      const key =
        req.method === 'GET' || /\/produceAPI\/(?!v2\/)/.test(req.path)
          ? config.koo.key
          : req.path.includes('/produceAPI/v2/')
            ? config.koo.accessKeys.kit
            : config.koo.accessKeys.basic;
      const body = JSON.stringify(
        fail(RESULT.internal, `Too many requests from this address; retry in ${retryAfter} s`),
      );
      res.status(429);
      res.setHeader('Content-Type', 'application/json;charset=UTF-8');
      res.setHeader('Cache-Control', 'no-store');
      if (key) res.setHeader('Body-Sign', bodySignHeader(key, body));
      res.end(body);
    },
  });
}
