import type { Migration } from '../types';

/**
 * The production interface's and admin API's doors: requests refused before authentication are marked in the
 * message log (kept 7 days instead of 90 by the daily prune), and token management gets its own `admin` scope
 * (a write token can no longer mint tokens). SQLite cannot change a CHECK constraint, so admin_tokens is rebuilt.
 */
export const m009_doors: Migration = {
  version: 9,
  name: 'doors',
  sql: `
ALTER TABLE marketplace_messages ADD COLUMN refused INTEGER NOT NULL DEFAULT 0;
UPDATE marketplace_messages SET refused = 1 WHERE direction = 'in' AND result_code = '000001';
CREATE INDEX marketplace_messages_refused ON marketplace_messages(refused, created_at);

CREATE TABLE admin_tokens_009 (
  id              TEXT PRIMARY KEY,
  name            TEXT NOT NULL,
  token_hash      TEXT NOT NULL UNIQUE,        -- SHA-256 of the token; the token itself is never stored
  scope           TEXT NOT NULL CHECK (scope IN ('read','write','admin')),
  created_at      TEXT NOT NULL,
  last_used_at    TEXT,
  revoked_at      TEXT
);
INSERT INTO admin_tokens_009 (id, name, token_hash, scope, created_at, last_used_at, revoked_at)
  SELECT id, name, token_hash, scope, created_at, last_used_at, revoked_at FROM admin_tokens;
DROP TABLE admin_tokens;
ALTER TABLE admin_tokens_009 RENAME TO admin_tokens;
`,
};
