import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { LicensorError } from '@licensor/shared';
import type { NextFunction, Request, Response } from 'express';
import type { Db } from '../db/database';

export type Scope = 'read' | 'write';

export interface AdminPrincipal {
  tokenId: string;
  scope: Scope;
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
export function createAdminToken(db: Db, name: string, scope: Scope): { id: string; token: string } {
  const id = `tok_${randomUUID().slice(0, 8)}`;
  const token = `lsr_${randomBytes(24).toString('base64url')}`;
  db.run('INSERT INTO admin_tokens (id, name, token_hash, scope, created_at) VALUES (?, ?, ?, ?, ?)', [
    id,
    name,
    sha256(token).toString('hex'),
    scope,
    new Date().toISOString(),
  ]);
  return { id, token };
}

export const listAdminTokens = (db: Db): AdminToken[] =>
  db.all<AdminToken>(
    'SELECT id, name, scope, created_at, last_used_at, revoked_at FROM admin_tokens ORDER BY created_at',
  );

export function revokeAdminToken(db: Db, id: string): boolean {
  return (
    db.run('UPDATE admin_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [new Date().toISOString(), id])
      .changes === 1
  );
}

/**
 * Bearer-token authentication for the admin API. The bootstrap token (LICENSOR_ADMIN_TOKEN) has write
 * scope; other tokens live hashed in the database. Read scope may only use GET/HEAD.
 */
export function adminAuth(db: Db, bootstrapToken: string | undefined) {
  return (req: Request, res: Response, next: NextFunction) => {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="licensor-admin"');
      return next(new LicensorError('UNAUTHORIZED', 'Missing bearer token: send Authorization: Bearer <admin token>'));
    }
    const token = m[1]!;
    let principal: AdminPrincipal | undefined;
    if (bootstrapToken && constantTimeEqual(token, bootstrapToken)) {
      principal = { tokenId: 'bootstrap', scope: 'write' };
    } else {
      const row = db.first<{ id: string; scope: Scope; revoked_at: string | null }>(
        'SELECT id, scope, revoked_at FROM admin_tokens WHERE token_hash = ?',
        [sha256(token).toString('hex')],
      );
      if (row && !row.revoked_at) principal = { tokenId: row.id, scope: row.scope };
    }
    if (!principal) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="licensor-admin", error="invalid_token"');
      return next(new LicensorError('UNAUTHORIZED', 'Invalid or revoked admin token'));
    }
    if (principal.scope === 'read' && req.method !== 'GET' && req.method !== 'HEAD') {
      return next(new LicensorError('FORBIDDEN', 'This token has read scope; a write-scoped token is required'));
    }
    res.locals.admin = principal;
    next();
  };
}

export const actorOf = (res: Response): string =>
  `admin:${(res.locals.admin as AdminPrincipal | undefined)?.tokenId ?? '?'}`;
