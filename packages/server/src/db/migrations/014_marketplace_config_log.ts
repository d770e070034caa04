import type { Migration } from '../types';

/**
 * What marketplace configuration the server ran with, and from when: one row each time it starts with a
 * production address or a set of marketplace keys different from the last row. Go-live readiness compares the
 * configuration in effect when an interface last answered live traffic with today's, and warns that a key or
 * the address changed under a binding the seller center still holds. Keys are stored as fingerprints only.
 */
export const m014_marketplace_config_log: Migration = {
  version: 14,
  name: 'marketplace config log',
  sql: `
CREATE TABLE marketplace_config_log (
  id            INTEGER PRIMARY KEY,
  at            TEXT NOT NULL,
  public_url    TEXT,
  fingerprints  TEXT NOT NULL                 -- JSON {familyA, basic, licenseCode, generic, kit}: fingerprint or null
);
`,
};
