import type { Migration } from '../types';

/**
 * The merchant console's people: operator accounts (scrypt password hashes, a role mapped onto the admin
 * scopes, failed-login counter and temporary lock-out) and their sessions (only a hash of the cookie's value
 * is stored, with the CSRF token that state-changing calls must echo).
 */
export const m010_operators: Migration = {
  version: 10,
  name: 'operators',
  sql: `
CREATE TABLE operators (
  name                TEXT PRIMARY KEY,
  role                TEXT NOT NULL CHECK (role IN ('viewer','operator','admin')),
  password_hash       TEXT NOT NULL,            -- scrypt$N$r$p$salt$hash (base64url)
  created_at          TEXT NOT NULL,
  password_changed_at TEXT NOT NULL,
  disabled_at         TEXT,
  failed_logins       INTEGER NOT NULL DEFAULT 0,
  locked_until        TEXT,
  last_login_at       TEXT
);

CREATE TABLE operator_sessions (
  id_hash      TEXT PRIMARY KEY,                -- SHA-256 of the cookie value; the value itself is never stored
  operator     TEXT NOT NULL REFERENCES operators(name) ON DELETE CASCADE,
  csrf_token   TEXT NOT NULL,
  created_at   TEXT NOT NULL,
  last_seen_at TEXT NOT NULL,
  expires_at   TEXT NOT NULL                    -- absolute timeout; the idle timeout counts from last_seen_at
);
CREATE INDEX operator_sessions_operator ON operator_sessions(operator);
`,
};
