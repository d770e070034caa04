import {
  type ActivateResponse,
  activateRequestSchema,
  type CheckInResponse,
  checkInRequestSchema,
  codeRequestSchema,
  DEVICE_SIGNATURE_HEADER,
  type KeysResponse,
  LicensorError,
  normalizeLicenseCode,
  REQUEST_NONCE_HEADER,
  RESPONSE_SIGNATURE_HEADER,
  signResponse,
} from '@licensor/shared';
import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import { rateLimit } from 'express-rate-limit';
import { errorHandler, parseInput, route } from '../http/errors';
import type { KooContext } from '../koogallery/context';
import type { Metrics } from '../metrics';
import { activate, checkInIntervalSeconds, entitlementSummary } from './activate';
import { cullLapsedLeases } from './activations';
import { authenticateDevice, checkIn, cullNonces, deactivate } from './device';
import { DEFAULT_POLICY } from './policy';
import { devicesForCode, releaseSeatByHolder } from './seats';

/** Largest accepted request body; an activation request is about 1 kB. */
export const API_BODY_LIMIT = 64 * 1024;
const MAINTENANCE_INTERVAL_MS = 60_000;
/** Nonce rows are culled after this many device requests too, so a busy server needs no timer for it. */
const NONCE_CULL_EVERY = 2000;

// The raw bytes are kept because device signatures cover them exactly.
type RawRequest = Request & { rawBody?: Buffer };

/**
 * Signs every response of this router (`Licensor-Signature`, over status, the request's `Licensor-Nonce`,
 * a timestamp and the body) with the current signing key, so a client can trust answers even through a
 * proxy and refuse replayed ones. Errors and rate-limit answers go through `res.json` too.
 */
function signResponses(ctx: KooContext): RequestHandler {
  return (req, res, next) => {
    const nonce = String(req.headers[REQUEST_NONCE_HEADER] ?? '').slice(0, 256);
    res.json = (body: unknown) => {
      const text = JSON.stringify(body);
      const signer = ctx.keys.current();
      res.setHeader(
        RESPONSE_SIGNATURE_HEADER,
        signResponse({ status: res.statusCode, nonce, body: text, keyId: signer.keyId, privateKey: signer.privateKey }),
      );
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.setHeader('Cache-Control', 'no-store');
      return res.send(text);
    };
    next();
  };
}

/** Keeps the exact body bytes and parses them as JSON whatever the Content-Type says. */
function parseBody(req: RawRequest, _res: Response, next: NextFunction) {
  const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  req.rawBody = raw;
  if (raw.length === 0) {
    req.body = undefined;
    return next();
  }
  try {
    req.body = JSON.parse(raw.toString('utf8'));
  } catch {
    return next(new LicensorError('INVALID_INPUT', 'Request body is not valid JSON; send a JSON object'));
  }
  next();
}

/** Per-minute limits: per client IP on the whole API, stricter per code where a code is the only credential. */
function limiter(perMinute: number, keyOf?: (req: Request) => string | undefined): RequestHandler {
  if (perMinute <= 0) return (_req, _res, next) => next();
  return rateLimit({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    // Ignoring X-Forwarded-For unless LICENSOR_TRUST_PROXY names the proxies is deliberate: no console warning.
    validate: { xForwardedForHeader: false },
    ...(keyOf
      ? {
          keyGenerator: (req: Request) => `code:${keyOf(req)}`,
          skip: (req: Request) => keyOf(req) === undefined,
        }
      : {}),
    handler: (req, _res, next) => {
      const reset = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
      const retryAfterSeconds = reset ? Math.max(1, Math.ceil((reset.getTime() - Date.now()) / 1000)) : 60;
      next(
        new LicensorError(
          'RATE_LIMITED',
          `Too many requests${keyOf ? ' for this license code' : ' from this address'}; retry in ${retryAfterSeconds} s`,
          { retryAfterSeconds },
        ),
      );
    },
  });
}

const codeOf = (req: Request): string | undefined => {
  const code = (req.body as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && code.trim() ? normalizeLicenseCode(code).slice(0, 64) : undefined;
};

/** The path the device signed: the URL path as received (without the query string). */
const signedPath = (req: Request) => req.originalUrl.split('?')[0] ?? req.originalUrl;

/**
 * The activation API for desktop clients, mounted at `/api/v1`: activate, check in, deactivate, list and free
 * seats, and the signing certificates. JSON in, signed JSON out, one error shape.
 */
export function activationRouter(ctx: KooContext, metrics: Metrics): Router {
  const router = express.Router();
  const perIp = ctx.config.apiRateLimit;
  // Stricter limits derive from the per-address one; 0 switches them all off (a gateway limits instead).
  const share = (divisor: number) => (perIp > 0 ? Math.max(1, Math.floor(perIp / divisor)) : 0);
  let deviceRequests = 0;

  const afterDeviceRequest = () => {
    if (++deviceRequests % NONCE_CULL_EVERY === 0) cullNonces(ctx.db, ctx.now());
  };

  router.use(signResponses(ctx));
  router.use(limiter(perIp));
  router.use(express.raw({ type: () => true, limit: API_BODY_LIMIT }));
  router.use(parseBody);

  let keysBody: KeysResponse | undefined;
  router.get(
    '/keys',
    route((_req, res) => {
      const current = ctx.keys.current().keyId;
      if (keysBody?.current !== current) {
        keysBody = {
          current,
          signing: ctx.keys.list().map((k) => ({ keyId: k.keyId, certificatePem: ctx.keys.certificate(k.keyId) })),
        };
      }
      res.json(keysBody);
    }),
  );

  router.post(
    '/activations',
    limiter(share(2), codeOf),
    route(async (req, res) => {
      try {
        const input = parseInput(activateRequestSchema, req.body, 'activation request');
        const result = await activate(ctx, input, { write: (fn) => ctx.db.batched(fn) });
        metrics.activations.inc({ code: 'VALID' });
        const body: ActivateResponse = {
          activationId: result.activation.id,
          license: result.license,
          status: 'VALID',
          entitlement: entitlementSummary(result.entitlement, result.policy),
          checkInIntervalSeconds: checkInIntervalSeconds(result.policy),
          serverTime: ctx.now().toISOString(),
          reactivated: result.reactivated,
        };
        res.json(body);
      } catch (err) {
        metrics.activations.inc({ code: err instanceof LicensorError ? err.code : 'INTERNAL' });
        throw err;
      }
    }),
  );

  /** The activation a device-signed request acts for (signature, timestamp and nonce checked), if known. */
  const deviceOf = (req: RawRequest) =>
    authenticateDevice(
      ctx.db,
      {
        activationId: String(req.params.id),
        method: req.method,
        path: signedPath(req),
        body: req.rawBody ?? Buffer.alloc(0),
        header: req.get(DEVICE_SIGNATURE_HEADER),
      },
      ctx.now(),
    );

  router.post(
    '/activations/:id/check-in',
    route(async (req: RawRequest, res) => {
      const device = deviceOf(req);
      const input = parseInput(checkInRequestSchema, req.body ?? {}, 'check-in');
      if (!device) {
        const body: CheckInResponse = {
          status: 'NOT_FOUND',
          message: 'This server does not know this activation. Activate the license again.',
          checkInIntervalSeconds: checkInIntervalSeconds(DEFAULT_POLICY),
          serverTime: ctx.now().toISOString(),
        };
        res.json(body);
        return;
      }
      const body = await ctx.db.batched(() => checkIn(ctx, device, input));
      afterDeviceRequest();
      res.json(body);
    }),
  );

  router.delete(
    '/activations/:id',
    route(async (req: RawRequest, res) => {
      const device = deviceOf(req);
      if (!device) throw new LicensorError('NOT_FOUND', 'This server does not know this activation');
      res.json(await ctx.db.batched(() => deactivate(ctx, device)));
      afterDeviceRequest();
    }),
  );

  // Listing and freeing seats needs only the code: limited harder, per address and per code.
  const seatLimits = [limiter(share(12)), limiter(share(24), codeOf)];
  router.post(
    '/seats/devices',
    ...seatLimits,
    route((req, res) => {
      const { code } = parseInput(codeRequestSchema, req.body, 'request');
      res.json(devicesForCode(ctx, code));
    }),
  );
  router.post(
    '/seats/devices/:id/release',
    ...seatLimits,
    route(async (req, res) => {
      const { code } = parseInput(codeRequestSchema, req.body, 'request');
      res.json(await ctx.db.batched(() => releaseSeatByHolder(ctx, code, String(req.params.id))));
    }),
  );

  router.use((_req, _res, next) =>
    next(new LicensorError('NOT_FOUND', 'No such endpoint; see openapi.yaml for the API')),
  );
  router.use(errorHandler(ctx.log));

  if (ctx.config.scheduler) {
    // Floating leases that ran out free their seats even when no one activates; old nonces go too.
    const timer = setInterval(() => {
      if (!ctx.db.raw.open) return clearInterval(timer);
      try {
        cullLapsedLeases(ctx.db, ctx.now());
        cullNonces(ctx.db, ctx.now());
      } catch (err) {
        ctx.log.warn({ err }, 'licensing maintenance failed; retrying next minute');
      }
    }, MAINTENANCE_INTERVAL_MS);
    timer.unref();
  }
  return router;
}
