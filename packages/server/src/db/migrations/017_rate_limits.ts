import type { Migration } from '../types';

/**
 * Rate-limit counters shared by every instance on one database (db/postgres/rateLimitStore.ts): one row per
 * limiter key and fixed window, counted with `INSERT … ON CONFLICT DO UPDATE … RETURNING`. SQLite keeps counting
 * in process memory (one process owns a data folder); the table exists here too so both schemas stay twins
 * (parity.test.ts) and `db copy` has nothing to special-case. Rows of past windows are pruned.
 */
export const m017_rate_limits: Migration = {
  version: 17,
  name: 'rate_limits',
  sql: `
CREATE TABLE rate_limits (
  key           TEXT NOT NULL,                -- limiter prefix + client key (address, license code)
  window_start  INTEGER NOT NULL,             -- epoch ms, a multiple of the window length
  hits          INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL,             -- epoch ms: window_start + window length (prune and reset time)
  PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_limits_expiry ON rate_limits(expires_at);
`,
};
