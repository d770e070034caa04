import { parseFormQuery, verifySchemeA, verifySchemeB } from '@licensor/shared';
import express, { type Request, type Response, type Router } from 'express';
import type { InterfaceType } from '../config';
import type { AppContext } from '../context';
import type { Storage } from '../db/storage';
import { inTx } from '../db/storage';
import { fieldWithNul, nulParameterMessage } from '../http/nul';
import { licenseCodeV2Activities } from './licenseCodeV2';
import { licenseV1Activities } from './licenseV1';
import { nonceMemory } from './nonces';
import { onlineLicenseActivities } from './onlineLicense';
import { genericActivities } from './orderNotify';
import { type Answer, fail, RESULT } from './resultCodes';
import { parseCompactTime } from './time';
import { mountMarketplaceEndpoint, rawBodyOf, sendSigned } from './transport';

export const PRODUCE_PATH = '/api/koogallery/produce';
/** Larger bodies are refused with 413 before they are read; real requests are a few hundred bytes. */
export const PRODUCE_BODY_LIMIT = 256 * 1024;

type Handler = (ctx: AppContext, body: Record<string, unknown>) => Answer | Promise<Answer>;

/** Handlers that wait for the marketplace (outbox work inline); all others are synchronous and group-committed. */
const ASYNC_ACTIVITIES = new Set(['newInstance', 'getLicenseAsync']);

const POST_HANDLERS: Record<string, { type: InterfaceType; handler: Handler }> = {};
for (const [name, handler] of Object.entries(licenseCodeV2Activities))
  POST_HANDLERS[name] = { type: 'licenseCode', handler };
for (const [name, handler] of Object.entries(onlineLicenseActivities)) POST_HANDLERS[name] = { type: 'basic', handler };
for (const [name, handler] of Object.entries(genericActivities)) POST_HANDLERS[name] = { type: 'generic', handler };

const INTERNAL_ERROR = fail(RESULT.internal, 'Internal error; the request was not applied, please retry');
const nulRefusal = (field: string): Answer => fail(RESULT.invalidParam, nulParameterMessage(field));
const REPLAYED = fail(RESULT.authFailed, 'Authentication failed: nonce already used (replayed request)');
/** Family A: default age limit of a signed timeStamp, longer than the marketplace's 3 h retry horizon. */
export const SCHEME_A_WINDOW_MS = 24 * 3_600_000;
/** Family A: how far a timeStamp may run ahead of this server's clock. */
export const SCHEME_A_FUTURE_MS = 5 * 60_000;

export const POST_ACTIVITIES = Object.keys(POST_HANDLERS);
export const GET_ACTIVITIES = Object.keys(licenseV1Activities);

const asString = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function firstString(values: unknown[]): string | undefined {
  for (const v of values) if (typeof v === 'string') return v;
  return undefined;
}

export function produceRouter(ctx: AppContext): Router {
  const router = express.Router();
  const accessKeys = ctx.config.koo.accessKeys;
  const distinctAccessKeys = [...new Set(Object.values(accessKeys).filter((k): k is string => Boolean(k)))];
  let schemeAAnswers = 0;
  const schemeAWindowMs = ctx.config.koo.schemeAWindowMs ?? SCHEME_A_WINDOW_MS;

  const log = (req: Request, started: number, answer: Answer, params: Record<string, unknown>, activity: string) => {
    ctx.messages.record({
      direction: 'in',
      activity: activity || '(none)',
      method: req.method,
      path: PRODUCE_PATH,
      entitlementId: asString(params.instanceId),
      orderId: asString(params.orderId),
      code: asString(params.license),
      eventId: asString(params.eventId),
      resultCode: answer.resultCode,
      httpStatus: 200,
      latencyMs: performance.now() - started,
      error: answer.resultCode === RESULT.success || answer.resultCode === RESULT.processing ? null : answer.resultMsg,
      test: String(params.testFlag ?? '') === '1',
    });
  };

  /** Remembers a scheme-B nonce; false for a replay. Expired entries are purged every 1000 requests. */
  const remember = nonceMemory('seen_nonces');

  async function handleGet(req: Request, res: Response) {
    const started = performance.now();
    const key = ctx.config.koo.key;
    const q = req.originalUrl.indexOf('?');
    let params: Record<string, string> = {};
    let answer: Answer;
    try {
      params = parseFormQuery(q >= 0 ? req.originalUrl.slice(q + 1) : '');
    } catch {
      params = {};
    }
    const activity = params.activity ?? '';
    const nulField = fieldWithNul(params);
    const signedAt = parseCompactTime(params.timeStamp ?? '')?.getTime();
    const nowMs = ctx.now().getTime();
    if (!key) {
      answer = fail(RESULT.authFailed, 'Family A is not configured on this server (LICENSOR_KOO_KEY)');
    } else if (!verifySchemeA(key, params)) {
      answer = fail(RESULT.authFailed, 'Authentication failed: authToken does not match');
    } else if (signedAt === undefined) {
      answer = fail(RESULT.authFailed, 'Authentication failed: timeStamp must be a UTC time as yyyyMMddHHmmssSSS');
    } else if (nowMs - signedAt > schemeAWindowMs) {
      answer = fail(
        RESULT.authFailed,
        `Authentication failed: timeStamp older than ${schemeAWindowMs / 3_600_000} h (expired request)`,
      );
    } else if (signedAt - nowMs > SCHEME_A_FUTURE_MS) {
      answer = fail(RESULT.authFailed, 'Authentication failed: timeStamp more than 5 minutes in the future');
    } else if (!activity) {
      answer = fail(RESULT.invalidParam, 'Missing parameter: activity');
    } else if (nulField !== undefined) {
      answer = nulRefusal(nulField);
    } else {
      // Own properties only: `constructor`, `__proto__`… must not resolve to Object's members (a signed
      // `activity=constructor` used to call Object(ctx) and answer with the whole context, secrets included).
      const handler = Object.hasOwn(licenseV1Activities, activity) ? licenseV1Activities[activity] : undefined;
      answer = handler
        ? await runSafely(() =>
            ctx.db.batched(async (tx) => {
              const t = inTx(ctx, tx);
              return answerOnce(tx, params.authToken!, activity, signedAt + schemeAWindowMs, nowMs, () =>
                handler(t, params),
              );
            }),
          )
        : fail(
            RESULT.invalidParam,
            `Unknown activity ${activity} for GET; expected one of ${GET_ACTIVITIES.join(', ')}`,
          );
    }
    sendSigned(res, key, answer);
    log(req, started, answer, params, activity);
  }

  /**
   * Scheme A has no nonce; the authToken (an HMAC over every parameter, timeStamp included) names the request.
   * The first answer to a token is recorded with the state change it made, in one transaction; the same
   * token later (a marketplace retry, or a URL replayed from a proxy log) gets that answer and changes nothing.
   * A 000005 is not recorded, so the retry is handled afresh. Expired records are purged at the first request
   * and every 1000th after it.
   */
  const answerOnce = async (
    db: Storage,
    token: string,
    activity: string,
    expiresAt: number,
    nowMs: number,
    handle: () => Promise<Answer>,
  ) => {
    if (schemeAAnswers++ % 1000 === 0) await db.run('DELETE FROM scheme_a_answers WHERE expires_at < ?', [nowMs]);
    const seen = await db.first<{ answer: string }>('SELECT answer FROM scheme_a_answers WHERE auth_token = ?', [
      token,
    ]);
    if (seen) return JSON.parse(seen.answer) as Answer;
    const answer = await handle();
    if (answer.resultCode !== RESULT.internal) {
      await db.run(
        'INSERT INTO scheme_a_answers (auth_token, activity, answer, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
        [token, activity, JSON.stringify(answer), expiresAt],
      );
    }
    return answer;
  };

  /** Any failure (including a commit that could not be made durable) is a signed 000005, never a success. */
  const runSafely = async (fn: () => Answer | Promise<Answer>): Promise<Answer> => {
    try {
      return await fn();
    } catch (err) {
      ctx.log.error({ err }, 'production interface handler failed');
      return INTERNAL_ERROR;
    }
  };

  async function handlePost(req: Request, res: Response) {
    const started = performance.now();
    const raw = rawBodyOf(req);
    let body: unknown;
    try {
      body = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
    } catch {
      body = undefined;
    }
    const params = body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
    const activity = typeof params.activity === 'string' ? params.activity : '';
    const route = Object.hasOwn(POST_HANDLERS, activity) ? POST_HANDLERS[activity] : undefined;
    const q = req.query as Record<string, unknown>;
    const sig = {
      signature: firstString([q.signature].flat()),
      timestamp: firstString([q.timestamp].flat()),
      nonce: firstString([q.nonce].flat()),
    };
    // The activity picks the interface type's key; an unknown activity may have been signed with any of them.
    const candidates = route ? [accessKeys[route.type]].filter((k): k is string => Boolean(k)) : distinctAccessKeys;
    const nowMs = ctx.now().getTime();
    let signKey = candidates[0];
    let answer: Answer | undefined;
    let verified = false;
    let reason = 'bad-signature';
    for (const key of candidates) {
      const r = verifySchemeB(key, sig, raw, nowMs);
      if (r.ok) {
        verified = true;
        signKey = key;
        break;
      }
      reason = r.reason;
      if (r.reason !== 'bad-signature') break;
    }
    // After authentication only: an unsigned body is not walked. The signed query fields (the nonce) count too.
    const nulField = verified ? (fieldWithNul(sig, undefined, 'query') ?? fieldWithNul(body, raw)) : undefined;
    if (!signKey) {
      answer = fail(RESULT.authFailed, 'No access key is configured for this interface type (LICENSOR_KOO_ACCESS_KEY)');
    } else if (!verified) {
      answer = fail(
        RESULT.authFailed,
        reason === 'missing'
          ? 'Authentication failed: signature, timestamp and nonce are required'
          : reason === 'stale'
            ? 'Authentication failed: timestamp outside the 60 s window'
            : 'Authentication failed: signature does not match',
      );
    } else if (nulField !== undefined) {
      answer = nulRefusal(nulField);
    } else if (!route || ASYNC_ACTIVITIES.has(activity)) {
      // The nonce is recorded first (its own group commit), then the request is validated and handled.
      answer = await runSafely(async () => {
        if (!(await ctx.db.batched(async (tx) => remember(tx, sig.nonce!, nowMs)))) return REPLAYED;
        if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
          return fail(RESULT.invalidParam, 'Invalid request body: expected a JSON object');
        }
        if (!activity) return fail(RESULT.invalidParam, 'Missing parameter: activity');
        if (!route) {
          return fail(
            RESULT.invalidParam,
            `Unknown activity ${activity}; expected one of ${POST_ACTIVITIES.join(', ')}`,
          );
        }
        return route.handler(ctx, params);
      });
    } else {
      // Nonce and state change commit together, in one group commit with concurrent requests.
      answer = await runSafely(() =>
        ctx.db.batched(async (tx) => {
          const t = inTx(ctx, tx);
          return (await remember(tx, sig.nonce!, nowMs)) ? await route.handler(t, params) : REPLAYED;
        }),
      );
    }
    sendSigned(res, signKey, answer);
    log(req, started, answer, params, activity);
  }

  mountMarketplaceEndpoint(router, {
    path: PRODUCE_PATH,
    bodyLimit: PRODUCE_BODY_LIMIT,
    get: handleGet,
    post: handlePost,
    keyFor: (req) => (req.method === 'GET' ? ctx.config.koo.key : accessKeys.basic),
    unsupportedMethod: (method) => `Method ${method} not supported; use GET (family A) or POST`,
    tooLargeStatus: 413,
    onRefusedBody: (req, answer) => log(req, performance.now(), answer, {}, '(unreadable)'),
  });
  return router;
}
