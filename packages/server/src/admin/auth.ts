import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { LicensorError } from '@licensor/shared';
import type { NextFunction, Request, Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import type { LimiterStore } from '../db/postgres/rateLimitStore';
import type { Storage } from '../db/storage';

/** read: GET only; write: every operation except token management; admin: everything, tokens included. */
export type Scope = 'read' | 'write' | 'admin';
export const SCOPES = ['read', 'write', 'admin'] as const;

export interface AdminPrincipal {
  tokenId: string;
  scope: Scope;
  /** Who the audit log names; `admin:<tokenId>` when absent (console sessions: `operator:<name>`). */
  actor?: string;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

function constantTimeEqual(a: string, b: string): boolean {
  // Compare digests so lengths are equal and timing does not depend on where the strings differ.
  return timingSafeEqual(sha256(a), sha256(b));
}

export interface AdminToken {
  id: string;
  name: string;
  scope: Scope;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

/** Creates a token; the secret is returned once and only its hash is stored. */
export async function createAdminToken(
  db: Storage,
  name: string,
  scope: Scope,
): Promise<{ id: string; token: string }> {
  const id = `tok_${randomUUID().slice(0, 8)}`;
  const token = `lsr_${randomBytes(24).toString('base64url')}`;
  await db.run('INSERT INTO admin_tokens (id, name, token_hash, scope, created_at) VALUES (?, ?, ?, ?, ?)', [
    id,
    name,
    sha256(token).toString('hex'),
    scope,
    new Date().toISOString(),
  ]);
  return { id, token };
}

export const listAdminTokens = (db: Storage): Promise<AdminToken[]> =>
  db.all<AdminToken>(
    'SELECT id, name, scope, created_at, last_used_at, revoked_at FROM admin_tokens ORDER BY created_at',
  );

export async function revokeAdminToken(db: Storage, id: string): Promise<boolean> {
  return (
    (
      await db.run('UPDATE admin_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [
        new Date().toISOString(),
        id,
      ])
    ).changes === 1
  );
}

/** last_used_at is written at most once a minute per token, so a busy script does not turn reads into writes. */
const LAST_USED_RESOLUTION_MS = 60_000;

async function touch(db: Storage, tokenId: string, now: Date): Promise<void> {
  try {
    await db.run(
      'UPDATE admin_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)',
      [now.toISOString(), tokenId, new Date(now.getTime() - LAST_USED_RESOLUTION_MS).toISOString()],
    );
  } catch {
    // Bookkeeping only: a read must still work when the database cannot take a write right now.
  }
}

/**
 * Paths under the admin API that manage tokens and operators: the admin scope only. Case-insensitive, like
 * Express's routing (`/TOKENS` reaches the `/tokens` routes); each such route also checks requireScope('admin')
 * itself, so the route decides and this is the second lock.
 */
const TOKEN_MANAGEMENT = /^\/+(?:tokens|operators)(?:\/|$)/i;

const RANK: Record<Scope, number> = { read: 0, write: 1, admin: 2 };
const ROLE_OF_SCOPE: Record<Scope, string> = { read: 'viewer', write: 'operator', admin: 'admin' };

/** What a refused state-changing request would have done, in words a viewer understands. */
const ACTIONS: [RegExp, string][] = [
  [/^\/entitlements\/[^/]+\/revoke$/i, 'revoke licenses'],
  [/^\/entitlements\/[^/]+\/suspend$/i, 'suspend licenses'],
  [/^\/entitlements\/[^/]+\/reinstate$/i, 'reinstate licenses'],
  [/^\/entitlements\/[^/]+\/policy$/i, "change a license's policy"],
  [/^\/entitlements(?:\/[^/]+)?$/i, 'create or change licenses'],
  [/^\/activations\/[^/]+\/free$/i, "free a device's seat"],
  [/^\/activations\/[^/]+\/move$/i, 'move a seat'],
  [/^\/outbox\/[^/]+\/retry$/i, 'retry outbox items'],
  [/^\/offline-responses$/i, 'issue offline responses'],
  [/^\/codes/i, 'register codes'],
  [/^\/webhooks\/endpoints\/?$/i, 'register webhook endpoints (their events carry license codes and customer names)'],
  [/^\/webhooks\/endpoints\/[^/]+\/enable$/i, 'enable webhook endpoints (their events carry license codes)'],
  [/^\/webhooks/i, 'change webhooks'],
  [/^\/readiness/i, 'run dial tests'],
  [/^\/(?:catalog|policies)/i, 'change the catalogue'],
  [/^\/tokens/i, 'manage admin tokens'],
  [/^\/operators/i, 'manage operators'],
];
const describeAction = (path: string) => ACTIONS.find(([re]) => re.test(path))?.[1] ?? 'make changes';

/**
 * The refusal for a principal below `needed`. Console sessions are told which role they lack ("Viewers cannot
 * revoke licenses; ask an operator or admin"), tokens which scope.
 */
export function scopeRefusal(principal: AdminPrincipal, needed: Scope, path: string): LicensorError {
  const what = describeAction(path);
  const neededRoles = needed === 'admin' ? 'an admin' : 'an operator or admin';
  if (principal.actor?.startsWith('operator:')) {
    const role = ROLE_OF_SCOPE[principal.scope];
    return new LicensorError(
      'FORBIDDEN',
      `${role[0]!.toUpperCase()}${role.slice(1)}s cannot ${what}; ask ${neededRoles}`,
      { role, neededRole: ROLE_OF_SCOPE[needed] },
    );
  }
  return new LicensorError(
    'FORBIDDEN',
    needed === 'admin'
      ? `This token has ${principal.scope} scope; to ${what} you need an admin-scoped token (or LICENSOR_ADMIN_TOKEN)`
      : `This token has read scope; to ${what} you need a write-scoped token`,
    { scope: principal.scope, neededScope: needed },
  );
}

/**
 * A route's own scope check (after adminAuth): the route decides who may call it, whatever path spelling or
 * mount point brought the request there.
 */
export function requireScope(needed: Scope) {
  return (req: Request, res: Response, next: NextFunction) => {
    const principal = res.locals.admin as AdminPrincipal | undefined;
    if (!principal) return next(new LicensorError('UNAUTHORIZED', 'Not authenticated: send an admin bearer token'));
    if (RANK[principal.scope] < RANK[needed]) return next(scopeRefusal(principal, needed, req.path));
    next();
  };
}

/**
 * Per-IP limits on failed admin authentications (wrong, revoked or missing tokens): `perMinute` failures a
 * minute, then ten times that an hour — the longer window is the back-off for a guesser who waits out the
 * first. While an address is over a limit it gets 429 with Retry-After for every request, right or wrong,
 * so guessing stays impossible; successful requests are not counted.
 */
export function adminAuthLimiter(
  perMinute: number,
  onLimited: () => void = () => {},
  /** Shared across instances on PostgreSQL (limiterStoreFor); the memory store when omitted. */
  stores: LimiterStore = () => ({}),
) {
  const limiter = (windowMs: number, limit: number, name: string) =>
    rateLimit({
      ...stores('admin-auth', name),
      windowMs,
      limit,
      standardHeaders: 'draft-7',
      legacyHeaders: false,
      skipSuccessfulRequests: true,
      requestWasSuccessful: (_req, res) => res.statusCode !== 401,
      handler: (_req, res, next, options) => {
        onLimited();
        const retryAfter = res.getHeader('Retry-After') ?? Math.ceil(options.windowMs / 1000);
        next(
          new LicensorError(
            'RATE_LIMITED',
            `Too many failed admin authentications from this address; retry in ${retryAfter} s with a valid token`,
            { retryAfterSeconds: Number(retryAfter) },
          ),
        );
      },
    });
  return [limiter(60_000, perMinute, '1m:'), limiter(3_600_000, perMinute * 10, '1h:')];
}

/**
 * Bearer-token authentication for the admin API. The bootstrap token (LICENSOR_ADMIN_TOKEN) has admin
 * scope; other tokens live hashed in the database. Read scope may only use GET/HEAD; managing tokens needs
 * the admin scope. Mount it before any body parser: nothing of an unauthenticated request is read.
 */
export function adminAuth(
  db: Storage,
  bootstrapToken: string | undefined,
  now: () => Date = () => new Date(),
  /** Console sessions (operators/routes.ts sessionPrincipal): used when no Authorization header is sent. */
  session?: (req: Request) => Promise<AdminPrincipal | undefined>,
) {
  return async (req: Request, res: Response, next: NextFunction) => {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    let fromSession: AdminPrincipal | undefined;
    if (!m && session) {
      try {
        fromSession = await session(req);
      } catch (err) {
        return next(err);
      }
    }
    if (!m && !fromSession) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="licensor-admin"');
      return next(new LicensorError('UNAUTHORIZED', 'Missing bearer token: send Authorization: Bearer <admin token>'));
    }
    const token = m?.[1] ?? '';
    let principal: AdminPrincipal | undefined = fromSession;
    if (principal) {
      // a console session: no token to look up
    } else if (bootstrapToken && constantTimeEqual(token, bootstrapToken)) {
      principal = { tokenId: 'bootstrap', scope: 'admin' };
    } else {
      const row = await db.first<{ id: string; scope: Scope; revoked_at: string | null }>(
        'SELECT id, scope, revoked_at FROM admin_tokens WHERE token_hash = ?',
        [sha256(token).toString('hex')],
      );
      if (row && !row.revoked_at) {
        principal = { tokenId: row.id, scope: row.scope };
        await touch(db, row.id, now());
      }
    }
    if (!principal) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="licensor-admin", error="invalid_token"');
      return next(new LicensorError('UNAUTHORIZED', 'Invalid or revoked admin token'));
    }
    if (principal.scope !== 'admin' && TOKEN_MANAGEMENT.test(req.path)) {
      return next(scopeRefusal(principal, 'admin', req.path));
    }
    if (principal.scope === 'read' && req.method !== 'GET' && req.method !== 'HEAD') {
      return next(scopeRefusal(principal, 'write', req.path));
    }
    res.locals.admin = principal;
    next();
  };
}

export const actorOf = (res: Response): string =>
  (res.locals.admin as AdminPrincipal | undefined)?.actor ??
  `admin:${(res.locals.admin as AdminPrincipal | undefined)?.tokenId ?? '?'}`;
