import type { Migration } from '../types';

/** Entitlements, marketplace idempotency keys, outbox, message log, nonces, audit log, admin tokens. */
export const m001_core: Migration = {
  version: 1,
  name: 'core',
  sql: `
CREATE TABLE entitlements (
  id              TEXT PRIMARY KEY,            -- instanceId (families A, C), the code (family B), ent_… (direct)
  family          TEXT NOT NULL CHECK (family IN ('A','B','C','direct')),
  code            TEXT UNIQUE,                 -- what an end user types: LSR-… (A), PL… (B)
  order_id        TEXT,
  order_line_id   TEXT,
  product_id      TEXT,
  sku_code        TEXT,
  edition         TEXT,
  customer_id     TEXT,
  customer_name   TEXT,
  charging_mode   TEXT,                        -- PERIOD | ONE_TIME | ON_DEMAND | ON_DEMAND_PKG | TRIAL
  period_type     TEXT,
  period_number   INTEGER,
  seats           INTEGER NOT NULL DEFAULT 1 CHECK (seats >= 0),
  starts_at       TEXT,
  expires_at      TEXT,                        -- NULL = perpetual / not yet known
  status          TEXT NOT NULL CHECK (status IN ('provisioning','active','frozen','expired','suspended','revoked','released')),
  policy          TEXT,                        -- JSON overrides of the product policy
  test            INTEGER NOT NULL DEFAULT 0,  -- marketplace debug traffic: never revenue, never counted
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL
);
CREATE UNIQUE INDEX entitlements_order_a ON entitlements(order_id) WHERE family = 'A';
CREATE UNIQUE INDEX entitlements_order_c ON entitlements(order_id, order_line_id) WHERE family = 'C';
CREATE INDEX entitlements_status ON entitlements(status);

-- One row per marketplace change applied to an entitlement: a retried renewal/refund order is a no-op.
CREATE TABLE entitlement_changes (
  entitlement_id  TEXT NOT NULL REFERENCES entitlements(id),
  kind            TEXT NOT NULL,
  order_id        TEXT NOT NULL,
  detail          TEXT,
  created_at      TEXT NOT NULL,
  PRIMARY KEY (entitlement_id, kind, order_id)
);

-- getLicenseAsync: one License per (eventId, device fingerprint), re-sent byte-identical on retries.
CREATE TABLE license_requests (
  event_id        TEXT NOT NULL,
  fingerprint     TEXT NOT NULL,
  entitlement_id  TEXT NOT NULL REFERENCES entitlements(id),
  device_key      TEXT NOT NULL,               -- normalised fingerprint: counts distinct devices for the quota
  file_name       TEXT NOT NULL,
  license_file    TEXT NOT NULL,
  sha256          TEXT NOT NULL,
  created_at      TEXT NOT NULL,
  PRIMARY KEY (event_id, fingerprint)
);
CREATE INDEX license_requests_entitlement ON license_requests(entitlement_id, device_key);

-- Orders fetched from the marketplace (order/query) and order notifications received.
CREATE TABLE orders (
  order_id        TEXT NOT NULL,
  order_line_id   TEXT NOT NULL,
  order_type      TEXT,
  info            TEXT NOT NULL,
  fetched_at      TEXT NOT NULL,
  PRIMARY KEY (order_id, order_line_id)
);
CREATE TABLE order_notifications (
  order_id        TEXT NOT NULL,
  order_line_id   TEXT NOT NULL,
  test            INTEGER NOT NULL DEFAULT 0,
  received_at     TEXT NOT NULL,
  applied_at      TEXT,
  outcome         TEXT,
  PRIMARY KEY (order_id, order_line_id)
);

-- Durable outbox of calls to the marketplace's open API.
CREATE TABLE outbox (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  kind            TEXT NOT NULL,
  dedupe_key      TEXT UNIQUE,
  payload         TEXT NOT NULL,
  status          TEXT NOT NULL CHECK (status IN ('pending','running','done','failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,            -- epoch ms
  lease_until     INTEGER,                     -- epoch ms; a crashed worker's lease simply expires
  last_error      TEXT,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);

-- Every call the marketplace made to us (in) and we made to it (out).
CREATE TABLE marketplace_messages (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  direction       TEXT NOT NULL CHECK (direction IN ('in','out')),
  activity        TEXT NOT NULL,
  method          TEXT,
  path            TEXT,
  entitlement_id  TEXT,
  order_id        TEXT,
  code            TEXT,
  event_id        TEXT,
  result_code     TEXT,
  http_status     INTEGER,
  latency_ms      REAL,
  error           TEXT,
  test            INTEGER NOT NULL DEFAULT 0,
  outbox_id       INTEGER,
  created_at      TEXT NOT NULL
);
CREATE INDEX marketplace_messages_created ON marketplace_messages(created_at);
CREATE INDEX marketplace_messages_result ON marketplace_messages(result_code);

-- Scheme-B nonces seen inside the replay window (kept in the database so a restart does not reopen it).
CREATE TABLE seen_nonces (
  nonce           TEXT PRIMARY KEY,
  expires_at      INTEGER NOT NULL
);
CREATE INDEX seen_nonces_expiry ON seen_nonces(expires_at);

CREATE TABLE audit_log (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  at              TEXT NOT NULL,
  actor           TEXT NOT NULL,               -- marketplace:<activity> | admin:<token id> | client:<activation> | system
  action          TEXT NOT NULL,
  entitlement_id  TEXT,
  activation_id   TEXT,
  before          TEXT,
  after           TEXT,
  detail          TEXT
);
CREATE INDEX audit_log_entitlement ON audit_log(entitlement_id, id);

CREATE TABLE admin_tokens (
  id              TEXT PRIMARY KEY,
  name            TEXT NOT NULL,
  token_hash      TEXT NOT NULL UNIQUE,        -- SHA-256 of the token; the token itself is never stored
  scope           TEXT NOT NULL CHECK (scope IN ('read','write')),
  created_at      TEXT NOT NULL,
  last_used_at    TEXT,
  revoked_at      TEXT
);

-- Family-B codes used on a given day (drives the daily marketplace query and usage report).
CREATE TABLE code_usage (
  code            TEXT NOT NULL,
  day             TEXT NOT NULL,               -- YYYY-MM-DD (UTC)
  device          TEXT NOT NULL,               -- activation id
  PRIMARY KEY (code, day, device)
);
CREATE TABLE daily_runs (
  day             TEXT NOT NULL,
  job             TEXT NOT NULL,
  finished_at     TEXT NOT NULL,
  detail          TEXT,
  PRIMARY KEY (day, job)
);
`,
};
