import type { Migration } from '../types';

/**
 * Signing keys in the database, for instances on several hosts with no shared disk (keys/dbSigningKeys.ts,
 * docs/design/postgresql.md "Signing keys with no shared disk"). The private key is the encrypted PKCS#8 PEM
 * written to keys/signing/<kid>.key.pem today (LICENSOR_KEY_PASSPHRASE, never stored here); a retired key's
 * private key is erased (NULL), its certificate kept so older License files still verify. At most one current
 * key. SQLite deployments keep their key files; the table exists so both schemas stay twins.
 */
export const m018_signing_keys: Migration = {
  version: 18,
  name: 'signing_keys',
  sql: `
CREATE TABLE signing_keys (
  key_id           TEXT PRIMARY KEY,
  certificate_pem  TEXT NOT NULL,
  private_key_enc  TEXT,                      -- encrypted PKCS#8 PEM; NULL once retired
  not_before       TEXT NOT NULL,
  not_after        TEXT NOT NULL,
  current          INTEGER NOT NULL DEFAULT 0 CHECK (current IN (0, 1)),
  created_at       TEXT NOT NULL,
  retired_at       TEXT
);
CREATE UNIQUE INDEX signing_keys_current ON signing_keys(current) WHERE current = 1;
`,
};
