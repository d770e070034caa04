import { createHash, timingSafeEqual } from 'node:crypto';
import { LicensorError } from '@licensor/shared';
import express, { type RequestHandler, type Router } from 'express';
import { z } from 'zod';
import type { AdminPrincipal } from '../admin/auth';
import { actorOf, requireScope } from '../admin/auth';
import type { Storage } from '../db/storage';
import { parseInput, route } from '../http/errors';
import { markNulEscape, refuseNul } from '../http/nul';
import { audit } from '../licensing';
import {
  clearSessionCookie,
  createSession,
  csrfMatches,
  endSession,
  resolveSession,
  type SessionTimeouts,
  sessionEnded,
  setSessionCookie,
} from './sessions';
import {
  addOperator,
  decoy,
  disableOperator,
  findOperator,
  listOperators,
  operatorCount,
  operatorNameSchema,
  passwordSchema,
  ROLES,
  resetPassword,
  SCOPE_OF_ROLE,
  setOperatorRole,
  verifyPassword,
} from './store';

export interface ConsoleAuthOptions {
  db: Storage;
  timeouts: SessionTimeouts;
  /** LICENSOR_ADMIN_TOKEN: creates the first operator when none exists yet. */
  bootstrapToken: string | undefined;
  now: () => Date;
  /** Per-address failure budget shared with the admin API's bearer tokens (adminAuthLimiter). */
  failureLimit: RequestHandler[];
}

/** Consecutive wrong passwords that lock an account, and for how long. */
export const LOCKOUT_AFTER = 5;
export const LOCKOUT_MS = 15 * 60_000;

/**
 * Claims one login try for the account atomically: the count goes up and the account locks when it reaches
 * LOCKOUT_AFTER, in one UPDATE that matches only an account not locked now (an expired lock starts a new
 * count). Returns the try's number, or 'locked' when the account is locked.
 */
export async function claimAttempt(db: Storage, name: string, at: Date): Promise<number | 'locked'> {
  const nowIso = at.toISOString();
  return await db.transaction(async (tx) => {
    const changed = (
      await tx.run(
        `UPDATE operators
          SET failed_logins = CASE WHEN locked_until IS NULL THEN failed_logins + 1 ELSE 1 END,
              locked_until = CASE WHEN (CASE WHEN locked_until IS NULL THEN failed_logins + 1 ELSE 1 END) >= ?
                                  THEN ? ELSE NULL END
        WHERE name = ? AND (locked_until IS NULL OR locked_until <= ?)`,
        [LOCKOUT_AFTER, new Date(at.getTime() + LOCKOUT_MS).toISOString(), name, nowIso],
      )
    ).changes;
    if (changed === 0) return 'locked';
    return (await tx.first<{ n: number }>('SELECT failed_logins AS n FROM operators WHERE name = ?', [name]))?.n ?? 0;
  });
}

const loginSchema = z.object({ name: z.string().trim().min(1).max(64), password: z.string().min(1).max(256) }).strict();
const bootstrapSchema = z
  .object({ bootstrapToken: z.string().min(1).max(512), name: operatorNameSchema, password: passwordSchema })
  .strict();

const sameSecret = (a: string, b: string) =>
  timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());

/** Login bodies must be JSON: a cross-site HTML form cannot send application/json without a CORS preflight. */
const jsonBody = (req: express.Request, what: string): unknown => {
  if (!req.is('application/json')) {
    throw new LicensorError('INVALID_INPUT', `Send the ${what} as JSON (Content-Type: application/json)`);
  }
  return req.body;
};

/**
 * The console's session door under /api/console/v1: login (rate limited per address, accounts locked for
 * 15 minutes after 5 wrong passwords in a row), logout, the current session (with its CSRF token) and the
 * bootstrap of the first operator with LICENSOR_ADMIN_TOKEN.
 */
export function consoleAuthRouter(o: ConsoleAuthOptions): Router {
  const { db, timeouts, now } = o;
  const router = express.Router();
  router.use(express.json({ limit: '8kb', verify: markNulEscape }), refuseNul);

  const sessionReply = (s: { operator: string; role: string; csrfToken: string; expiresAt: string }) => ({
    operator: s.operator,
    role: s.role,
    scope: SCOPE_OF_ROLE[s.role as keyof typeof SCOPE_OF_ROLE],
    csrfToken: s.csrfToken,
    expiresAt: s.expiresAt,
    idleTimeoutSeconds: Math.round(timeouts.idleMs / 1000),
  });

  router.post(
    '/login',
    ...o.failureLimit,
    route(async (req, res) => {
      const { name, password } = parseInput(loginSchema, jsonBody(req, 'login'), 'login');
      const at = now();
      const row = await findOperator(db, name);
      // Each attempt claims one of the account's tries *before* the password is checked, in one conditional
      // UPDATE: concurrent wrong passwords cannot all read the same count, and the try after the limit is
      // refused unchecked. A right password gives the tries back.
      const claimed = row && !row.disabled_at ? await claimAttempt(db, row.name, at) : undefined;
      if (claimed === 'locked') {
        const lockedUntil = (await findOperator(db, name))?.locked_until ?? at.toISOString();
        const retryAfterSeconds = Math.max(1, Math.ceil((Date.parse(lockedUntil) - at.getTime()) / 1000));
        res.setHeader('Retry-After', String(retryAfterSeconds));
        throw new LicensorError(
          'RATE_LIMITED',
          `This account is locked after ${LOCKOUT_AFTER} wrong passwords; try again in ${Math.ceil(retryAfterSeconds / 60)} min or ask an admin to reset the password`,
          { retryAfterSeconds },
        );
      }
      const ok = await verifyPassword(password, row?.password_hash ?? (await decoy()));
      if (!row || !ok || row.disabled_at) {
        if (claimed === LOCKOUT_AFTER) {
          await audit(db, {
            actor: `operator:${row!.name}`,
            action: 'operator.locked',
            detail: { failed: LOCKOUT_AFTER },
          });
        }
        // One answer for unknown names, wrong passwords and disabled accounts: names cannot be probed.
        throw new LicensorError('UNAUTHORIZED', 'Wrong name or password (or the account is disabled)');
      }
      const session = await db.transaction(async (tx) => {
        await tx.run('UPDATE operators SET failed_logins = 0, locked_until = NULL, last_login_at = ? WHERE name = ?', [
          at.toISOString(),
          row.name,
        ]);
        await audit(tx, { actor: `operator:${row.name}`, action: 'operator.login', detail: { ip: req.ip } });
        return createSession(tx, row.name, timeouts, at);
      });
      setSessionCookie(req, res, session.value, timeouts.absoluteMs);
      res.json(sessionReply({ operator: row.name, role: row.role, ...session }));
    }),
  );

  router.get(
    '/session',
    route(async (req, res) => {
      const session = await resolveSession(db, req, timeouts, now());
      if (!session) throw sessionEnded(req) ?? new LicensorError('UNAUTHORIZED', 'Not signed in: sign in first');
      res.json(sessionReply(session));
    }),
  );

  router.post(
    '/logout',
    route(async (req, res) => {
      const session = await resolveSession(db, req, timeouts, now());
      if (session && !csrfMatches(req, session)) {
        throw new LicensorError('FORBIDDEN', 'Missing or wrong X-CSRF-Token header: reload the console');
      }
      if (session) {
        await endSession(db, req);
        await audit(db, { actor: `operator:${session.operator}`, action: 'operator.logout' });
      }
      clearSessionCookie(req, res);
      res.json({ signedOut: true });
    }),
  );

  // The sign-in page of a fresh install says how to create the first operator; once one exists it says nothing.
  router.get(
    '/setup',
    route(async (_req, res) => {
      const firstOperatorNeeded = (await operatorCount(db)) === 0;
      res.json({ firstOperatorNeeded, bootstrapTokenSet: firstOperatorNeeded && Boolean(o.bootstrapToken) });
    }),
  );

  router.post(
    '/bootstrap',
    ...o.failureLimit,
    route(async (req, res) => {
      const input = parseInput(bootstrapSchema, jsonBody(req, 'bootstrap request'), 'bootstrap request');
      if (!o.bootstrapToken || !sameSecret(input.bootstrapToken, o.bootstrapToken)) {
        throw new LicensorError(
          'UNAUTHORIZED',
          'Wrong bootstrap token: give the value of LICENSOR_ADMIN_TOKEN, or add the operator with `licensor operators add`',
        );
      }
      const created = await addOperator(
        db,
        { name: input.name, role: 'admin', password: input.password },
        'admin:bootstrap',
        { onlyIfNone: true },
      );
      res.status(201).json(created);
    }),
  );

  return router;
}

/**
 * For adminAuth: the principal of a request carrying a live console session instead of a bearer token.
 * State-changing methods need the session's CSRF token; without it the request is refused, not anonymous.
 */
export function sessionPrincipal(db: Storage, timeouts: SessionTimeouts, now: () => Date) {
  return async (req: express.Request): Promise<AdminPrincipal | undefined> => {
    const session = await resolveSession(db, req, timeouts, now());
    if (!session) {
      // A cookie of a session that ended: SESSION_ENDED rather than "missing bearer token".
      const ended = sessionEnded(req);
      if (ended) throw ended;
      return undefined;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD' && !csrfMatches(req, session)) {
      throw new LicensorError('FORBIDDEN', 'Missing or wrong X-CSRF-Token header: reload the console and try again');
    }
    return {
      tokenId: `operator:${session.operator}`,
      scope: SCOPE_OF_ROLE[session.role],
      actor: `operator:${session.operator}`,
    };
  };
}

const addSchema = z.object({ name: operatorNameSchema, role: z.enum(ROLES), password: passwordSchema }).strict();
const roleSchema = z.object({ role: z.enum(ROLES) }).strict();
const resetSchema = z.object({ password: passwordSchema }).strict();
const nameParam = (req: express.Request) =>
  parseInput(z.object({ name: operatorNameSchema }), req.params, 'operator name').name;

/** Operator management on the admin API (/api/admin/v1/operators): admin scope only, like tokens. */
export function operatorsAdminRouter(db: Storage): Router {
  const router = express.Router();
  // Every route here is the admin scope's alone, checked by the route itself (not only by adminAuth's path check).
  const adminOnly = requireScope('admin');
  router.get(
    '/operators',
    adminOnly,
    route(async (_req, res) => {
      res.json({ items: await listOperators(db) });
    }),
  );
  router.post(
    '/operators',
    adminOnly,
    route(async (req, res) => {
      const input = parseInput(addSchema, req.body ?? {}, 'operator');
      res.status(201).json(await addOperator(db, input, actorOf(res)));
    }),
  );
  router.post(
    '/operators/:name/disable',
    adminOnly,
    route(async (req, res) => {
      res.json(await disableOperator(db, nameParam(req), actorOf(res)));
    }),
  );
  router.post(
    '/operators/:name/role',
    adminOnly,
    route(async (req, res) => {
      const { role } = parseInput(roleSchema, req.body ?? {}, 'role change');
      res.json(await setOperatorRole(db, nameParam(req), role, actorOf(res)));
    }),
  );
  router.post(
    '/operators/:name/reset-password',
    adminOnly,
    route(async (req, res) => {
      const { password } = parseInput(resetSchema, req.body ?? {}, 'password reset');
      res.json(await resetPassword(db, nameParam(req), password, actorOf(res)));
    }),
  );
  return router;
}
