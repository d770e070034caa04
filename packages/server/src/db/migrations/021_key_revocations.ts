import type { Migration } from '../types';

/**
 * The root-signed list of revoked signing keys in the database, for instances on several hosts with no shared
 * disk (keys/dbSigningKeys.ts, docs/design/postgresql.md "Revoked signing keys"): `licensor keys revoke` signs a
 * new list with the offline root and stores it here; every instance serves the newest verified list. One row per
 * list ever issued (the serial is the key: two revocations racing for the same next serial cannot both win, the
 * second is told to run again), so the history of revocations stays readable. SQLite deployments keep
 * keys/revoked.json beside their key files (one host); the table exists so both schemas stay twins.
 * Written in SQL both backends accept: the PostgreSQL twin is the same text.
 */
export const m021_key_revocations: Migration = {
  version: 21,
  name: 'key_revocations',
  sql: `
CREATE TABLE key_revocations (
  serial      INTEGER NOT NULL PRIMARY KEY,
  list_json   TEXT NOT NULL,
  issued_at   TEXT NOT NULL,
  stored_at   TEXT NOT NULL
);
`,
};
