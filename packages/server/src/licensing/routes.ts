import {
  type ActivateResponse,
  activateRequestSchema,
  type CheckInResponse,
  checkInRequestSchema,
  codeRequestSchema,
  DEVICE_SIGNATURE_HEADER,
  type KeysResponse,
  type LicensePayload,
  LicensorError,
  normalizeLicenseCode,
  REQUEST_NONCE_HEADER,
  RESPONSE_SIGNATURE_HEADER,
  signVerdictAsync,
} from '@licensor/shared';
import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { type LimiterStore, limiterStoreFor } from '../db/postgres/rateLimitStore';
import { inTx } from '../db/storage';
import { parseInput, toApiError } from '../http/errors';
import { markNulEscape, refuseNul } from '../http/nul';
import type { Metrics } from '../metrics';
import { bindActivation, checkInIntervalSeconds, entitlementSummary } from './activate';
import { cullLapsedLeases } from './activations';
import type { LicensingContext } from './context';
import { authenticateDevice, CHECK_IN_ISOLATION, checkIn, cullNonces, deactivate } from './device';
import { DEFAULT_POLICY } from './policy';
import { devicesForCode, releaseSeatByHolder } from './seats';
import { answeredRequest, signAnswer, signLicenseFileAsync } from './signing';

/** Where the activation API is mounted (Express matches mount paths in any letter case). */
export const API_PREFIX = '/api/v1';
/** Largest accepted request body; an activation request is about 1 kB. */
export const API_BODY_LIMIT = 64 * 1024;
const MAINTENANCE_INTERVAL_MS = 60_000;
/** Nonce rows are culled after this many device requests too, so a busy server needs no timer for it. */
const NONCE_CULL_EVERY = 2000;
const RATE_WINDOW_MS = 60_000;

/**
 * A per-minute limit (draft-7 `RateLimit` headers, `Retry-After` when exceeded): per client address on the whole
 * API, stricter per code where a code is the only credential. `keyOf` returning undefined skips the request.
 */
function limiter(
  stores: LimiterStore,
  name: string,
  perMinute: number,
  what: string,
  keyOf?: (req: Request) => string | undefined,
): RequestHandler[] {
  if (perMinute <= 0) return [];
  return [
    rateLimit({
      // Shared by the instances on PostgreSQL (one count per limiter name), in process memory on SQLite.
      ...stores('api', name),
      windowMs: RATE_WINDOW_MS,
      limit: perMinute,
      standardHeaders: 'draft-7',
      legacyHeaders: false,
      // Ignoring X-Forwarded-For unless LICENSOR_TRUST_PROXY names the proxies is deliberate: no console warning.
      validate: { xForwardedForHeader: false },
      // A socket that closed already has no address; such a request is counted under one key.
      keyGenerator: keyOf ? (req) => keyOf(req) ?? '' : (req) => ipKeyGenerator(req.ip ?? 'unknown'),
      skip: keyOf ? (req) => keyOf(req) === undefined : undefined,
      handler: (req, _res, next) => {
        const reset = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
        const retryAfterSeconds = reset ? Math.max(1, Math.ceil((reset.getTime() - Date.now()) / 1000)) : 60;
        next(
          new LicensorError('RATE_LIMITED', `Too many requests ${what}; retry in ${retryAfterSeconds} s`, {
            retryAfterSeconds,
          }),
        );
      },
    }),
  ];
}

const codeOf = (req: Request): string | undefined => {
  const code = (req.body as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && code.trim() ? `code:${normalizeLicenseCode(code).slice(0, 64)}` : undefined;
};

/** The exact body bytes (device signatures cover them), kept beside the parsed JSON. */
const rawBodyOf = (req: Request): Buffer => (req as Request & { rawBody: Buffer }).rawBody;

/** Keeps the bytes express.raw read and parses them as JSON whatever the Content-Type says. */
function parseJsonBody(req: Request, res: Response, next: NextFunction) {
  const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  (req as Request & { rawBody: Buffer }).rawBody = raw;
  if (raw.length === 0) {
    req.body = undefined;
    return next();
  }
  markNulEscape(req, res, raw);
  try {
    req.body = JSON.parse(raw.toString('utf8'));
  } catch {
    return next(new LicensorError('INVALID_INPUT', 'Request body is not valid JSON; send a JSON object'));
  }
  next();
}

/** The path the device signed: the URL path as received (without the query string). */
const signedPath = (req: Request) => req.originalUrl.split('?')[0] ?? req.originalUrl;

/**
 * The activation API for desktop clients, mounted at `/api/v1`: activate, check in, deactivate, list and free
 * seats, and the signing certificates. JSON in, signed JSON out (`Licensor-Signature` over status, the request's
 * `Licensor-Nonce`, a timestamp and the body, errors and rate-limit answers included), one error shape.
 * Ed25519 work (device signatures, License files, answers) runs on libuv's thread pool.
 */
/** `onStop` receives what the app's stop() must run (the maintenance timer's end). */
export function activationRouter(
  ctx: LicensingContext,
  metrics: Metrics,
  onStop: (stop: () => void) => void = () => {},
): Router {
  const router = express.Router();
  const perIp = ctx.config.apiRateLimit;
  // Stricter limits derive from the per-address one; 0 switches them all off (a gateway limits instead).
  const share = (divisor: number) => (perIp > 0 ? Math.max(1, Math.floor(perIp / divisor)) : 0);
  let deviceRequests = 0;
  const stores = limiterStoreFor(ctx.db);

  const afterDeviceRequest = async () => {
    if (++deviceRequests % NONCE_CULL_EVERY === 0) await cullNonces(ctx.db, ctx.now());
  };

  /** Signs an answer for the request's nonce and sends it (HEAD gets the headers only, as Express does). */
  const reply = async (req: Request, res: Response, body: object, status = 200) => {
    const nonce = String(req.headers[REQUEST_NONCE_HEADER] ?? '').slice(0, 256);
    const { text, header } = await signAnswer(ctx.keys.current(), {
      status,
      nonce,
      request: answeredRequest(req),
      body: body as Record<string, unknown>,
    });
    res
      .status(status)
      .set(RESPONSE_SIGNATURE_HEADER, header)
      .set('Cache-Control', 'no-store')
      .set('Content-Type', 'application/json; charset=utf-8')
      .send(text);
  };

  /** A License file signed by the current key, off the event loop. */
  const licenseFile = (payload: LicensePayload) => signLicenseFileAsync(payload, ctx.keys.current());

  /** The activation a device-signed request acts for (signature, timestamp and nonce checked), if known. */
  const deviceOf = (req: Request) =>
    authenticateDevice(
      ctx.db,
      {
        activationId: String(req.params.id),
        method: req.method,
        path: signedPath(req),
        body: rawBodyOf(req),
        header: req.get(DEVICE_SIGNATURE_HEADER),
      },
      ctx.now(),
    );

  const perAddress = limiter(stores, 'address:', perIp, 'from this address');
  if (perAddress.length > 0) router.use(perAddress);
  // Compressed bodies are refused (inflate: false): device signatures cover the bytes as sent.
  // …and a U+0000 in the URL or the body is refused before any handler (http/nul.ts).
  router.use(express.raw({ type: () => true, limit: API_BODY_LIMIT, inflate: false }), parseJsonBody, refuseNul);

  let keysBody: KeysResponse | undefined;
  router.get('/keys', (req, res) => {
    const current = ctx.keys.current().keyId;
    const revoked = ctx.keys.revocations();
    if (keysBody?.current !== current || keysBody.revoked !== revoked) {
      const revokedIds = new Set(ctx.keys.revokedKeyIds());
      keysBody = {
        current,
        signing: ctx.keys
          .list()
          .filter((k) => !revokedIds.has(k.keyId))
          .map((k) => ({ keyId: k.keyId, certificatePem: ctx.keys.certificate(k.keyId) })),
        ...(revoked ? { revoked } : {}),
      };
    }
    return reply(req, res, keysBody);
  });

  router.post(
    '/activations',
    ...limiter(stores, 'activate-code:', share(2), 'for this license code', codeOf),
    async (req, res) => {
      let body: ActivateResponse;
      try {
        const input = parseInput(activateRequestSchema, req.body, 'activation request');
        const result = await bindActivation(ctx, input, { batched: true });
        metrics.activations.inc({ code: 'VALID' });
        body = {
          activationId: result.activation.id,
          license: await licenseFile(result.payload),
          status: 'VALID',
          entitlement: entitlementSummary(result.entitlement, result.policy),
          checkInIntervalSeconds: checkInIntervalSeconds(result.policy),
          serverTime: ctx.now().toISOString(),
          reactivated: result.reactivated,
        };
      } catch (err) {
        metrics.activations.inc({ code: err instanceof LicensorError ? err.code : 'INTERNAL' });
        throw err;
      }
      return reply(req, res, body);
    },
  );

  router.post('/activations/:id/check-in', async (req, res) => {
    const device = await deviceOf(req);
    const input = parseInput(checkInRequestSchema, req.body ?? {}, 'check-in');
    if (!device) {
      const body: CheckInResponse = {
        status: 'NOT_FOUND',
        message: 'This server does not know this activation. Activate the license again.',
        checkInIntervalSeconds: checkInIntervalSeconds(DEFAULT_POLICY),
        serverTime: ctx.now().toISOString(),
      };
      return reply(req, res, body);
    }
    const outcome = await ctx.db.batched(async (tx) => {
      const t = inTx(ctx, tx);
      return checkIn(t, device, input);
    }, CHECK_IN_ISOLATION);
    await afterDeviceRequest();
    if (outcome.verdict) outcome.response.verdict = await signVerdictAsync(outcome.verdict, ctx.keys.current());
    if (!outcome.license) return reply(req, res, outcome.response);
    // The License file is signed after the commit is durable: a file never exists for a state that was lost.
    return reply(req, res, { ...outcome.response, license: await licenseFile(outcome.license) });
  });

  router.delete('/activations/:id', async (req, res) => {
    const device = await deviceOf(req);
    if (!device) throw new LicensorError('NOT_FOUND', 'This server does not know this activation');
    const body = await ctx.db.batched(async (tx) => {
      const t = inTx(ctx, tx);
      return deactivate(t, device);
    });
    await afterDeviceRequest();
    return reply(req, res, body);
  });

  // Listing and freeing seats needs only the code: limited harder, per address and per code.
  const seatLimits = [
    ...limiter(stores, 'seats-address:', share(12), 'from this address'),
    ...limiter(stores, 'seats-code:', share(24), 'for this license code', codeOf),
  ];
  router.post('/seats/devices', ...seatLimits, async (req, res) => {
    const { code } = parseInput(codeRequestSchema, req.body, 'request');
    return reply(req, res, await devicesForCode(ctx, code));
  });
  router.post('/seats/devices/:id/release', ...seatLimits, async (req, res) => {
    const { code } = parseInput(codeRequestSchema, req.body, 'request');
    return reply(
      req,
      res,
      await ctx.db.batched(async (tx) => {
        const t = inTx(ctx, tx);
        return releaseSeatByHolder(t, code, String(req.params.id));
      }),
    );
  });

  router.use((_req, _res, next) =>
    next(new LicensorError('NOT_FOUND', 'No such endpoint; see openapi.yaml for the API')),
  );
  // Every error, a refused body or a rate limit included, is a signed JSON answer like the others.
  router.use(async (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = toApiError(err, ctx.log);
    if (res.headersSent) return;
    try {
      await reply(req, res, { error: e.toJSON() }, e.httpStatus);
    } catch (signErr) {
      ctx.log.error({ err: signErr }, 'activation API could not sign an error answer');
      if (!res.headersSent) res.status(500).end();
    }
  });

  if (ctx.config.scheduler) {
    // Floating leases that ran out free their seats even when no one activates; old nonces go too.
    const timer = setInterval(async () => {
      try {
        await cullLapsedLeases(ctx.db, ctx.now());
        await cullNonces(ctx.db, ctx.now());
      } catch (err) {
        ctx.log.warn({ err }, 'licensing maintenance failed; retrying next minute');
      }
    }, MAINTENANCE_INTERVAL_MS);
    timer.unref();
    onStop(() => clearInterval(timer));
  }
  return router;
}
