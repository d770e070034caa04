import type { IncomingMessage, ServerResponse } from 'node:http';
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
} from '@licensor/shared';
import { ipKeyGenerator, MemoryStore, type Options as RateLimitOptions } from 'express-rate-limit';
import proxyAddr from 'proxy-addr';
import { parseInput, toApiError } from '../http/errors';
import { endJson, readBody } from '../http/node';
import type { KooContext } from '../koogallery/context';
import type { Metrics } from '../metrics';
import { bindActivation, checkInIntervalSeconds, entitlementSummary } from './activate';
import { cullLapsedLeases } from './activations';
import { authenticateDevice, checkIn, cullNonces, deactivate } from './device';
import { DEFAULT_POLICY } from './policy';
import { devicesForCode, releaseSeatByHolder } from './seats';
import { answeredRequest, signAnswer } from './signing';

/** Where the activation API is mounted. */
export const API_PREFIX = '/api/v1';
/** Largest accepted request body; an activation request is about 1 kB. */
export const API_BODY_LIMIT = 64 * 1024;
const MAINTENANCE_INTERVAL_MS = 60_000;
/** Nonce rows are culled after this many device requests too, so a busy server needs no timer for it. */
const NONCE_CULL_EVERY = 2000;
const RATE_WINDOW_MS = 60_000;

/** A request as the handlers see it: the exact body bytes (device signatures cover them) and the parsed JSON. */
interface ApiRequest {
  method: string;
  /** The URL path as received, without the query string: what a device signs. */
  path: string;
  /** The route's `:id`, decoded. */
  id: string;
  headers: IncomingMessage['headers'];
  /** The client address (X-Forwarded-For only from proxies LICENSOR_TRUST_PROXY names). */
  ip: () => string;
  rawBody: Buffer;
  body: unknown;
}

interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** The pattern as documented in openapi.yaml, also the metrics label. */
  path: string;
  limits: Limiter[];
  handle: (req: ApiRequest) => unknown;
}

/**
 * Matches a path below the prefix against a route's documented pattern: `:id` is one segment (group 1), and a
 * trailing slash and any letter case are accepted, as Express routes accept them.
 */
const routePattern = (path: string) => new RegExp(`^${path.replace(':id', '([^/]+)')}/?$`, 'i');

type Limiter = (req: ApiRequest, res: ServerResponse) => Promise<void>;

/** An answer whose License file (field `license`) is signed together with the response, off the event loop. */
class WithLicense {
  constructor(
    readonly body: { license: string } & object,
    readonly payload: LicensePayload,
  ) {}
}

export interface ActivationApiOptions {
  /** Helmet's headers, sent on every answer like the Express routes send them. */
  securityHeaders: readonly (readonly [string, string])[];
  /** Express's compiled `trust proxy` function, so client addresses are derived exactly as elsewhere. */
  trustProxy: (address: string, hop: number) => boolean;
  /** CORS for configured origins; returns true when it answered a preflight. */
  cors?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

/**
 * A per-minute limit (express-rate-limit's store, draft-7 `RateLimit` headers): per client address on the whole
 * API, stricter per code where a code is the only credential. `keyOf` returning undefined skips the request.
 */
function limiter(perMinute: number, what: string, keyOf: (req: ApiRequest) => string | undefined): Limiter[] {
  if (perMinute <= 0) return [];
  const store = new MemoryStore();
  store.init({ windowMs: RATE_WINDOW_MS } as RateLimitOptions);
  return [
    async (req, res) => {
      const key = keyOf(req);
      if (key === undefined) return;
      const { totalHits, resetTime } = await store.increment(key);
      const resetSeconds = resetTime ? Math.max(0, Math.ceil((resetTime.getTime() - Date.now()) / 1000)) : 60;
      res.setHeader('RateLimit-Policy', `${perMinute};w=${RATE_WINDOW_MS / 1000}`);
      res.setHeader(
        'RateLimit',
        `limit=${perMinute}, remaining=${Math.max(0, perMinute - totalHits)}, reset=${resetSeconds}`,
      );
      if (totalHits <= perMinute) return;
      const retryAfterSeconds = Math.max(1, resetSeconds);
      res.setHeader('Retry-After', String(retryAfterSeconds));
      throw new LicensorError('RATE_LIMITED', `Too many requests ${what}; retry in ${retryAfterSeconds} s`, {
        retryAfterSeconds,
      });
    },
  ];
}

const codeOf = (req: ApiRequest): string | undefined => {
  const code = (req.body as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && code.trim() ? `code:${normalizeLicenseCode(code).slice(0, 64)}` : undefined;
};

function parseJsonBody(raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new LicensorError('INVALID_INPUT', 'Request body is not valid JSON; send a JSON object');
  }
}

/**
 * The activation API for desktop clients, mounted at `/api/v1`: activate, check in, deactivate, list and free
 * seats, and the signing certificates. JSON in, signed JSON out (`Licensor-Signature` over status, the request's
 * `Licensor-Nonce`, a timestamp and the body, errors and rate-limit answers included), one error shape.
 *
 * It runs on plain Node (see http/node.ts for why): the returned function answers requests under the prefix and
 * returns false for every other request, which the caller hands to Express.
 */
export function activationApi(
  ctx: KooContext,
  metrics: Metrics,
  options: ActivationApiOptions,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const perIp = ctx.config.apiRateLimit;
  // Stricter limits derive from the per-address one; 0 switches them all off (a gateway limits instead).
  const share = (divisor: number) => (perIp > 0 ? Math.max(1, Math.floor(perIp / divisor)) : 0);
  const byAddress = (req: ApiRequest) => ipKeyGenerator(req.ip());
  const perAddress = limiter(perIp, 'from this address', byAddress);
  let deviceRequests = 0;

  const afterDeviceRequest = () => {
    if (++deviceRequests % NONCE_CULL_EVERY === 0) cullNonces(ctx.db, ctx.now());
  };

  /** The activation a device-signed request acts for (signature, timestamp and nonce checked), if known. */
  const deviceOf = (req: ApiRequest) =>
    authenticateDevice(
      ctx.db,
      {
        activationId: req.id,
        method: req.method,
        path: req.path,
        body: req.rawBody,
        header: req.headers[DEVICE_SIGNATURE_HEADER] as string | undefined,
      },
      ctx.now(),
    );

  let keysBody: KeysResponse | undefined;
  // Listing and freeing seats needs only the code: limited harder, per address and per code.
  const seatLimits = [
    ...limiter(share(12), 'from this address', byAddress),
    ...limiter(share(24), 'for this license code', codeOf),
  ];
  const routes: Route[] = [
    {
      method: 'GET',
      path: '/keys',
      limits: [],
      handle: () => {
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
        return keysBody;
      },
    },
    {
      method: 'POST',
      path: '/activations',
      limits: limiter(share(2), 'for this license code', codeOf),
      handle: async (req): Promise<WithLicense> => {
        try {
          const input = parseInput(activateRequestSchema, req.body, 'activation request');
          const result = await bindActivation(ctx, input, { write: (fn) => ctx.db.batched(fn) });
          metrics.activations.inc({ code: 'VALID' });
          const body: ActivateResponse = {
            activationId: result.activation.id,
            license: '', // signed with the answer
            status: 'VALID',
            entitlement: entitlementSummary(result.entitlement, result.policy),
            checkInIntervalSeconds: checkInIntervalSeconds(result.policy),
            serverTime: ctx.now().toISOString(),
            reactivated: result.reactivated,
          };
          return new WithLicense(body, result.payload);
        } catch (err) {
          metrics.activations.inc({ code: err instanceof LicensorError ? err.code : 'INTERNAL' });
          throw err;
        }
      },
    },
    {
      method: 'POST',
      path: '/activations/:id/check-in',
      limits: [],
      handle: async (req): Promise<CheckInResponse | WithLicense> => {
        const device = await deviceOf(req);
        const input = parseInput(checkInRequestSchema, req.body ?? {}, 'check-in');
        if (!device) {
          return {
            status: 'NOT_FOUND',
            message: 'This server does not know this activation. Activate the license again.',
            checkInIntervalSeconds: checkInIntervalSeconds(DEFAULT_POLICY),
            serverTime: ctx.now().toISOString(),
          };
        }
        const outcome = await ctx.db.batched(() => checkIn(ctx, device, input));
        afterDeviceRequest();
        if (!outcome.license) return outcome.response;
        return new WithLicense({ ...outcome.response, license: '' }, outcome.license);
      },
    },
    {
      method: 'DELETE',
      path: '/activations/:id',
      limits: [],
      handle: async (req) => {
        const device = await deviceOf(req);
        if (!device) throw new LicensorError('NOT_FOUND', 'This server does not know this activation');
        const body = await ctx.db.batched(() => deactivate(ctx, device));
        afterDeviceRequest();
        return body;
      },
    },
    {
      method: 'POST',
      path: '/seats/devices',
      limits: seatLimits,
      handle: (req) => {
        const { code } = parseInput(codeRequestSchema, req.body, 'request');
        return devicesForCode(ctx, code);
      },
    },
    {
      method: 'POST',
      path: '/seats/devices/:id/release',
      limits: seatLimits,
      handle: (req) => {
        const { code } = parseInput(codeRequestSchema, req.body, 'request');
        return ctx.db.batched(() => releaseSeatByHolder(ctx, code, req.id));
      },
    },
  ];
  const matchers = routes.map((r) => ({ ...r, pattern: routePattern(r.path) }));

  /** Signs (with the License file, if any) and sends an answer. */
  const send = async (req: IncomingMessage, res: ServerResponse, status: number, out: unknown) => {
    const nonce = String(req.headers[REQUEST_NONCE_HEADER] ?? '').slice(0, 256);
    const request = answeredRequest(req);
    const { text, header } = await signAnswer(
      ctx.keys.current(),
      out instanceof WithLicense
        ? { status, nonce, request, body: out.body, license: { field: 'license', payload: out.payload } }
        : { status, nonce, request, body: out as Record<string, unknown> },
    );
    res.setHeader(RESPONSE_SIGNATURE_HEADER, header);
    res.setHeader('Cache-Control', 'no-store');
    endJson(req, res, status, text);
  };

  const serve = async (req: IncomingMessage, res: ServerResponse, path: string) => {
    for (const [name, value] of options.securityHeaders) res.setHeader(name, value);
    if (options.cors?.(req, res)) return;
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    const below = path.slice(API_PREFIX.length) || '/';
    let route: Route | undefined;
    let id: RegExpExecArray | null = null;
    for (const r of matchers) {
      if (r.method !== method) continue;
      id = r.pattern.exec(below);
      if (id) {
        route = r;
        break;
      }
    }
    const endTimer = metrics.httpDuration.startTimer();
    res.once('finish', () =>
      endTimer({
        method: req.method,
        route: route ? `${API_PREFIX}${route.path}` : 'unmatched',
        status: res.statusCode,
      }),
    );
    let status = 200;
    let body: unknown;
    try {
      let ip: string | undefined;
      const request: ApiRequest = {
        method: req.method ?? 'GET',
        path,
        id: '',
        headers: req.headers,
        // A socket that closed already has no address; such a request is counted under one key.
        ip: () => (ip ??= proxyAddr(req, options.trustProxy) ?? 'unknown'),
        rawBody: Buffer.alloc(0),
        body: undefined,
      };
      for (const limit of perAddress) await limit(request, res);
      request.rawBody = await readBody(req, API_BODY_LIMIT);
      request.body = parseJsonBody(request.rawBody);
      if (!route) throw new LicensorError('NOT_FOUND', 'No such endpoint; see openapi.yaml for the API');
      if (id?.[1] !== undefined) {
        try {
          request.id = decodeURIComponent(id[1]);
        } catch {
          throw new LicensorError('INVALID_INPUT', 'The id in the URL is not valid percent-encoding');
        }
      }
      for (const limit of route.limits) await limit(request, res);
      body = await route.handle(request);
    } catch (err) {
      const e = toApiError(err, ctx.log);
      status = e.httpStatus;
      body = { error: e.toJSON() };
    }
    try {
      await send(req, res, status, body);
    } catch (err) {
      // Signing the License file or the answer failed (never expected): say so, signed, without the file.
      const e = toApiError(err, ctx.log);
      await send(req, res, e.httpStatus, { error: e.toJSON() });
    }
  };

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

  return (req, res) => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    // Case-insensitive like Express's mount paths; anything else is Express's.
    const head = path.slice(0, API_PREFIX.length + 1).toLowerCase();
    if (head !== API_PREFIX && head !== `${API_PREFIX}/`) return false;
    serve(req, res, path).catch((err: unknown) => {
      ctx.log.error({ err }, 'activation API could not answer');
      if (!res.headersSent) {
        res.statusCode = 500;
        res.end();
      } else res.destroy();
    });
    return true;
  };
}
