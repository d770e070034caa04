import type { Migration } from '../types';

/**
 * Webhooks for the merchant's own systems: endpoints (URL, event types, sealed secret), the events emitted
 * (one row each, `dedupe_key` unique so a retried change emits once), one delivery per event and endpoint
 * (unique, so an event is never queued twice for one endpoint) and every attempt of each delivery.
 */
export const m012_webhooks: Migration = {
  version: 12,
  name: 'webhooks',
  sql: `
CREATE TABLE webhook_endpoints (
  id              TEXT PRIMARY KEY,            -- ep_…
  url             TEXT NOT NULL,
  events          TEXT NOT NULL,               -- JSON array of event types, or ["*"]
  secret          TEXT NOT NULL,               -- whsec_… sealed with the data folder's secret box
  description     TEXT,
  disabled_at     TEXT,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL
);

CREATE TABLE webhook_events (
  id              TEXT PRIMARY KEY,            -- msg_…: the webhook-id header, the same on every retry
  type            TEXT NOT NULL,
  dedupe_key      TEXT UNIQUE,
  payload         TEXT NOT NULL,               -- the exact JSON body sent (signed as is)
  created_at      TEXT NOT NULL
);
CREATE INDEX webhook_events_created ON webhook_events(created_at);

CREATE TABLE webhook_deliveries (
  id              TEXT PRIMARY KEY,            -- dlv_…
  event_id        TEXT NOT NULL REFERENCES webhook_events(id),
  endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints(id),
  status          TEXT NOT NULL CHECK (status IN ('pending','delivered','failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT,
  last_error      TEXT,
  last_status     INTEGER,
  delivered_at    TEXT,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL,
  UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, created_at);
CREATE INDEX webhook_deliveries_status ON webhook_deliveries(status, created_at);

CREATE TABLE webhook_attempts (
  delivery_id     TEXT NOT NULL REFERENCES webhook_deliveries(id),
  attempt         INTEGER NOT NULL,
  at              TEXT NOT NULL,
  status_code     INTEGER,                     -- NULL: no HTTP answer (refused address, timeout, DNS, …)
  error           TEXT,
  duration_ms     INTEGER NOT NULL,
  PRIMARY KEY (delivery_id, attempt)
);
`,
};
