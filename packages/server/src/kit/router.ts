import { verifySchemeABody, verifyXSign } from '@licensor/shared';
import express, { type Request, type Response, type Router } from 'express';
import type { AppContext } from '../context';
import type { Storage } from '../db/storage';
import { fieldWithNul, nulParameterMessage } from '../http/nul';
import { nonceMemory } from '../koogallery/nonces';
import { PRODUCE_PATH } from '../koogallery/produce';
import { type Answer, fail, RESULT } from '../koogallery/resultCodes';
import { mountMarketplaceEndpoint, rawBodyOf, sendSigned } from '../koogallery/transport';
import { LenientJsonError, parseLenientJson } from './lenientJson';
import { KIT_INTERFACES, type KitInterface, type KitRequest, parseKitRequest } from './schemas';
import { SecretBox } from './secretBox';
import {
  applyAllOrgSync,
  applyApplicationSync,
  applyAuthSync,
  applySingleOrgSync,
  applyTenantSync,
  auditKit,
  KitWriter,
  pruneKit,
} from './store';

/**
 * The Kit interfaces (enterprise binding: tenant, application, user authorisation, incremental and full
 * organisation sync) at the fixed sub-paths the marketplace appends to the production address (spec §9,
 * addendum A7): v2 under `/produceAPI/v2/…` signed with x-sign headers (scheme B′, key = the Kit access
 * key), v1 under `/produceAPI/…` signed with an `authToken` header (scheme A over the body, key = the Key).
 * Every answer is HTTP 200 `{resultCode, resultMsg}` with a Body-Sign made with the key that verifies the
 * request: 000000 success, 000001 authentication (incl. a replayed x-nonce), 000002 malformed, 000005 internal.
 */

export const KIT_BODY_LIMIT = 1024 * 1024;
const PRUNE_EVERY = 1000;

export type KitVersion = 'v1' | 'v2';

export const kitPath = (version: KitVersion, name: KitInterface) =>
  `${PRODUCE_PATH}/produceAPI/${version === 'v2' ? 'v2/' : ''}${name}`;

const success = (): Answer => ({ resultCode: RESULT.success, resultMsg: 'Success' });

/** Kit answers carry only resultCode and resultMsg, signed as sent. */
const send = (res: Response, key: string | undefined, answer: Answer): void => {
  sendSigned(res, key, { resultCode: answer.resultCode, resultMsg: answer.resultMsg });
};

const header = (req: Request, name: string): string | undefined => {
  const v = req.headers[name];
  return typeof v === 'string' ? v.trim() : undefined;
};

/** The v1 examples print the header quoted (`authToken: "stbN…"`); the quotes are not part of the token. */
const unquote = (v: string | undefined) => v?.replace(/^["“”](.*)["“”]$/s, '$1').trim();

const asObject = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

export function kitRouter(ctx: AppContext): Router {
  const router = express.Router();
  let box: SecretBox | undefined;
  // Created on first use so a server that never receives applicationSync writes no key file.
  const secretBox = () => {
    box ??= SecretBox.forDataDir(ctx.config.dataDir);
    return box;
  };
  let requests = 0;
  const rememberKitNonce = nonceMemory('kit_nonces');

  /** Applies a validated request; runs inside processBody's savepoint, so it is all or nothing. */
  const apply = async (db: Storage, req: KitRequest, activity: string): Promise<void> => {
    const now = ctx.now();
    const w = new KitWriter(db, now);
    const scope = { instanceId: req.data.instanceId, tenantId: req.data.tenantId };
    let extra: Record<string, unknown> = {};
    switch (req.kind) {
      case 'tenantSync':
        await applyTenantSync(w, req.data, req.ts);
        extra = { flag: req.data.flag };
        break;
      case 'applicationSync':
        await applyApplicationSync(w, secretBox, req.data, req.ts);
        extra = { flag: req.data.flag, appId: req.data.appId };
        break;
      case 'authSync':
        await applyAuthSync(w, req.data, req.ts);
        extra = { flag: req.data.flag, appId: req.data.appId, users: req.data.userList.length };
        break;
      case 'singleOrgSync':
        await applySingleOrgSync(w, req.data, req.ts);
        extra = { flag: req.data.flag, orgCode: req.data.orgCode };
        break;
      case 'allOrgSync':
        await applyAllOrgSync(w, db, req.data, req.ts);
        extra = { units: req.data.orgInfoList.length };
        break;
    }
    await auditKit(db, w, activity, scope, { ...extra, sourceTs: req.ts }, now);
    if (w.counts.stale) {
      ctx.log.info(
        { activity, ...scope, sourceTs: req.ts, counts: w.counts },
        'kit: older than the stored state, ignored',
      );
    }
  };

  async function handle(version: KitVersion, name: KitInterface, req: Request, res: Response): Promise<void> {
    const started = performance.now();
    const activity = `kit.${name}`;
    const key = version === 'v2' ? ctx.config.koo.accessKeys.kit : ctx.config.koo.key;
    const raw = rawBodyOf(req);
    const nowMs = ctx.now().getTime();
    if (++requests % PRUNE_EVERY === 0) await pruneKit(ctx.db, nowMs);

    let body: Record<string, unknown> | undefined;
    let unreadable = 'Request body is empty; expected a JSON object';
    if (raw.length > 0) {
      try {
        body = asObject(parseLenientJson(raw.toString('utf8')));
        if (!body) unreadable = 'Request body must be a JSON object';
      } catch (err) {
        unreadable = `Request body is not valid JSON (${err instanceof LenientJsonError ? err.message : 'unreadable'})`;
      }
    }

    // No Kit field carries U+0000, which PostgreSQL's text cannot hold (http/nul.ts): such a request is malformed,
    // answered 000002 naming the field after authentication, on both backends alike.
    const nulField = body ? fieldWithNul(body, raw) : undefined;
    const nulRefusal = nulField === undefined ? undefined : nulParameterMessage(nulField);

    let answer: Answer;
    if (!key) {
      answer = fail(
        RESULT.authFailed,
        version === 'v2'
          ? 'Kit v2 interfaces are not configured: set LICENSOR_KOO_ACCESS_KEY_KIT (or LICENSOR_KOO_ACCESS_KEY)'
          : 'Kit v1 interfaces are not configured: set LICENSOR_KOO_KEY',
      );
    } else if (version === 'v2') {
      const h = { sign: header(req, 'x-sign'), timestamp: header(req, 'x-timestamp'), nonce: header(req, 'x-nonce') };
      const r = verifyXSign(key, h, raw, nowMs);
      if (!r.ok) {
        answer = fail(
          RESULT.authFailed,
          r.reason === 'missing'
            ? 'Authentication failed: x-sign, x-timestamp and x-nonce headers are required'
            : r.reason === 'stale'
              ? 'Authentication failed: x-timestamp is more than 60 s away from the server clock'
              : 'Authentication failed: x-sign does not match the body (check the Kit access key)',
        );
      } else {
        answer = await processBody(name, nulRefusal ?? body ?? unreadable, activity, { nonce: h.nonce!, nowMs });
      }
    } else if (!body) {
      // Scheme A signs the parsed body fields, so an unreadable body cannot even be authenticated.
      answer = fail(RESULT.invalidParam, unreadable);
    } else if (!verifySchemeABody(key, body, unquote(header(req, 'authtoken')))) {
      answer = fail(
        RESULT.authFailed,
        header(req, 'authtoken')
          ? body.timeStamp
            ? 'Authentication failed: authToken does not match the body (check the Key)'
            : 'Authentication failed: timeStamp is required in the body'
          : 'Authentication failed: the authToken header is required',
      );
    } else {
      answer = await processBody(name, nulRefusal ?? body, activity);
    }

    send(res, key, answer);
    const params = body ?? {};
    ctx.messages.record({
      direction: 'in',
      activity,
      method: req.method,
      path: kitPath(version, name),
      entitlementId: typeof params.instanceId === 'string' && params.instanceId ? params.instanceId : null,
      orderId: typeof params.orderId === 'string' && params.orderId ? params.orderId : null,
      resultCode: answer.resultCode,
      httpStatus: 200,
      latencyMs: performance.now() - started,
      error: answer.resultCode === RESULT.success ? null : answer.resultMsg,
      test: String(params.testFlag ?? '') === '1',
    });
  }

  /**
   * Validates (outside the write lock), then records the nonce and applies the change in one savepoint of
   * the group commit shared with concurrent requests; the answer waits for that durable COMMIT. A failure
   * leaves neither a half-applied change nor a burnt nonce.
   */
  async function processBody(
    name: KitInterface,
    body: Record<string, unknown> | string,
    activity: string,
    replay?: { nonce: string; nowMs: number },
  ): Promise<Answer> {
    const parsed = typeof body === 'string' ? { error: body } : parseKitRequest(name, body);
    try {
      return await ctx.db.batched(async (tx): Promise<Answer> => {
        if (replay && !(await rememberKitNonce(tx, replay.nonce, replay.nowMs))) {
          return fail(RESULT.authFailed, 'Authentication failed: x-nonce already used (replayed request)');
        }
        if ('error' in parsed) return fail(RESULT.invalidParam, parsed.error);
        await apply(tx, parsed, activity);
        return success();
      });
    } catch (err) {
      ctx.log.error({ err, activity }, 'kit interface handler failed');
      return fail(RESULT.internal, 'Internal error; nothing was applied, please retry');
    }
  }

  for (const version of ['v1', 'v2'] as const) {
    for (const name of KIT_INTERFACES) {
      const path = kitPath(version, name);
      mountMarketplaceEndpoint(router, {
        path,
        bodyLimit: KIT_BODY_LIMIT,
        post: (req, res) => handle(version, name, req, res),
        keyFor: () => (version === 'v2' ? ctx.config.koo.accessKeys.kit : ctx.config.koo.key),
        unsupportedMethod: (method) => `Method ${method} not supported on ${path}; the marketplace POSTs JSON`,
        // Oversized bodies are answered HTTP 200 like every other Kit answer.
        tooLargeStatus: 200,
        onRefusedBody: (req, answer) =>
          ctx.messages.record({
            direction: 'in',
            activity: `kit.${name}`,
            method: req.method,
            path,
            resultCode: answer.resultCode,
            httpStatus: 200,
            error: answer.resultMsg,
          }),
      });
    }
  }
  return router;
}
