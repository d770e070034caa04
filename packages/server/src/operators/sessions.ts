import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { LicensorError } from '@licensor/shared';
import type { Request, Response } from 'express';
import type { Storage } from '../db/storage';
import type { Role } from './store';

/**
 * Console sessions. The cookie carries 32 random bytes; the database keeps only their SHA-256, so a copy of
 * the database does not hand out live sessions. A session ends after `idleMs` without a request or
 * `absoluteMs` after login, whichever comes first; disabling an operator or resetting the password ends all
 * of the operator's sessions. State-changing calls must echo the session's CSRF token in X-CSRF-Token: a
 * cross-site form cannot read it (and SameSite=Strict keeps the cookie off cross-site requests anyway).
 */
export interface SessionTimeouts {
  idleMs: number;
  absoluteMs: number;
}

export interface OperatorSession {
  operator: string;
  role: Role;
  csrfToken: string;
  expiresAt: string;
}

export const CSRF_HEADER = 'x-csrf-token';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** `__Host-` pins the cookie to this host and path / (browsers accept the prefix only with Secure, i.e. TLS). */
export const cookieName = (secure: boolean) => (secure ? '__Host-licensor_session' : 'licensor_session');

/** last_seen_at is written at most every 15 s per session: reads stay reads. */
const TOUCH_RESOLUTION_MS = 15_000;

export async function createSession(db: Storage, operator: string, timeouts: SessionTimeouts, now: Date) {
  const value = randomBytes(32).toString('base64url');
  const csrfToken = randomBytes(24).toString('base64url');
  const expiresAt = new Date(now.getTime() + timeouts.absoluteMs).toISOString();
  await db.run(
    `INSERT INTO operator_sessions (id_hash, operator, csrf_token, created_at, last_seen_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?)`,
    [sha256(value), operator, csrfToken, now.toISOString(), now.toISOString(), expiresAt],
  );
  // Expired sessions of everyone are swept at each login: the table stays as small as the live sessions.
  await db.run('DELETE FROM operator_sessions WHERE expires_at <= ? OR last_seen_at <= ?', [
    now.toISOString(),
    new Date(now.getTime() - timeouts.idleMs).toISOString(),
  ]);
  return { value, csrfToken, expiresAt };
}

export function readCookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The session named by the request's cookie, if it is live (and its operator enabled); refreshes its idle clock. */
export async function resolveSession(
  db: Storage,
  req: Request,
  timeouts: SessionTimeouts,
  now: Date,
): Promise<OperatorSession | undefined> {
  const value = readCookie(req, cookieName(req.secure));
  if (!value || value.length > 100) return undefined;
  const row = await db.first<{
    id_hash: string;
    operator: string;
    role: Role;
    csrf_token: string;
    last_seen_at: string;
    expires_at: string;
    disabled_at: string | null;
  }>(
    `SELECT s.id_hash, s.operator, s.csrf_token, s.last_seen_at, s.expires_at, o.role, o.disabled_at
       FROM operator_sessions s JOIN operators o ON o.name = s.operator WHERE s.id_hash = ?`,
    [sha256(value)],
  );
  if (!row || row.disabled_at) return undefined;
  const lastSeen = Date.parse(row.last_seen_at);
  if (Date.parse(row.expires_at) <= now.getTime() || lastSeen + timeouts.idleMs <= now.getTime()) {
    await db.run('DELETE FROM operator_sessions WHERE id_hash = ?', [row.id_hash]);
    return undefined;
  }
  if (now.getTime() - lastSeen >= TOUCH_RESOLUTION_MS) {
    try {
      await db.run('UPDATE operator_sessions SET last_seen_at = ? WHERE id_hash = ?', [now.toISOString(), row.id_hash]);
    } catch {
      // Bookkeeping only: a read must still work when the database cannot take a write right now.
    }
  }
  return { operator: row.operator, role: row.role, csrfToken: row.csrf_token, expiresAt: row.expires_at };
}

/**
 * The refusal for a request whose session cookie names no live session (idle or absolute timeout, logout,
 * password reset, role change): a code of its own, so the console goes back to sign-in with a message instead
 * of showing stale pages; requests without a cookie stay a plain UNAUTHORIZED.
 */
export function sessionEnded(req: Request): LicensorError | undefined {
  if (!readCookie(req, cookieName(req.secure))) return undefined;
  return new LicensorError('SESSION_ENDED', 'Your session ended; sign in again');
}

export async function endSession(db: Storage, req: Request): Promise<void> {
  const value = readCookie(req, cookieName(req.secure));
  if (value) await db.run('DELETE FROM operator_sessions WHERE id_hash = ?', [sha256(value)]);
}

export function csrfMatches(req: Request, session: OperatorSession): boolean {
  const sent = req.headers[CSRF_HEADER];
  if (typeof sent !== 'string' || sent.length === 0) return false;
  return timingSafeEqual(
    createHash('sha256').update(sent).digest(),
    createHash('sha256').update(session.csrfToken).digest(),
  );
}

export function setSessionCookie(req: Request, res: Response, value: string, maxAgeMs: number): void {
  res.cookie(cookieName(req.secure), value, {
    httpOnly: true,
    sameSite: 'strict',
    secure: req.secure,
    path: '/',
    maxAge: maxAgeMs,
  });
}

export function clearSessionCookie(req: Request, res: Response): void {
  res.clearCookie(cookieName(req.secure), { httpOnly: true, sameSite: 'strict', secure: req.secure, path: '/' });
}
