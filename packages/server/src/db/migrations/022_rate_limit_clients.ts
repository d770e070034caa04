import type { Migration } from '../types';

/**
 * Rate-limit counters in per-client windows (db/postgres/rateLimitStore.ts), replacing 017's fixed windows aligned
 * to the clock: one row per limiter key holding its hits and its own reset time, so a client's window starts at
 * its first hit as with express-rate-limit's memory store (an hour's back-off lasts an hour, and a client never
 * gets twice the limit across a window boundary). Counted with one upsert that restarts the window when it has
 * ended. The old rows are dropped, not converted: counts of windows of at most an hour, worth nothing after the
 * upgrade. SQLite keeps counting in process memory; the table exists so both schemas stay twins. The PostgreSQL
 * twin (db/postgres/schema.ts) is the same table UNLOGGED (docs/design/postgresql.md "Rate limits").
 */
export const m022_rate_limit_clients: Migration = {
  version: 22,
  name: 'rate_limit_clients',
  sql: `
DROP TABLE rate_limits;
CREATE TABLE rate_limits (
  key       TEXT NOT NULL PRIMARY KEY,  -- limiter prefix + client key (address, license code)
  hits      INTEGER NOT NULL,
  reset_at  INTEGER NOT NULL            -- epoch ms: the first hit of the window + the window length
);
CREATE INDEX rate_limits_reset ON rate_limits(reset_at);
`,
};
