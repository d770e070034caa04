import type { Migration } from '../types';

/**
 * Enterprise sync (KooGallery Kit interfaces): tenants, their applications, organisation units and
 * authorised users, keyed exactly like the marketplace's idempotency rules (instance + tenant + app /
 * orgCode / userName). `instance_id` is '' when the seller applies for app credentials (the marketplace
 * sends it empty). `source_ts` is the marketplace's own time of the change (yyyyMMddHHmmssSSS, GMT+8) and
 * orders late or out-of-order deliveries; tombstones remember deletions for the same purpose.
 */
export const m003_kit: Migration = {
  version: 3,
  name: 'kit',
  sql: `
CREATE TABLE kit_tenants (
  instance_id     TEXT NOT NULL,
  tenant_id       TEXT NOT NULL,
  tenant_code     TEXT,
  name            TEXT,
  domain_name     TEXT,
  order_id        TEXT,
  test            INTEGER NOT NULL DEFAULT 0,
  source_ts       TEXT,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL,
  PRIMARY KEY (instance_id, tenant_id)
);

CREATE TABLE kit_apps (
  instance_id       TEXT NOT NULL,
  tenant_id         TEXT NOT NULL,
  app_id            TEXT NOT NULL,
  client_id         TEXT,
  client_secret_enc TEXT,                       -- AES-256-GCM envelope (kit/secretBox.ts), never the secret itself
  test              INTEGER NOT NULL DEFAULT 0,
  source_ts         TEXT,
  created_at        TEXT NOT NULL,
  updated_at        TEXT NOT NULL,
  PRIMARY KEY (instance_id, tenant_id, app_id)
);

CREATE TABLE kit_org_units (
  instance_id     TEXT NOT NULL,
  tenant_id       TEXT NOT NULL,
  org_code        TEXT NOT NULL,
  org_name        TEXT NOT NULL,
  parent_code     TEXT,                         -- NULL for a top-level unit; stored as given, even before the parent exists
  test            INTEGER NOT NULL DEFAULT 0,
  source_ts       TEXT,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL,
  PRIMARY KEY (instance_id, tenant_id, org_code)
);

CREATE TABLE kit_users (
  instance_id     TEXT NOT NULL,
  tenant_id       TEXT NOT NULL,
  app_id          TEXT,
  user_name       TEXT NOT NULL,
  name            TEXT,
  org_code        TEXT,
  role            TEXT,
  enabled         INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  employee_code   TEXT,
  email           TEXT,
  mobile          TEXT,
  position        TEXT,
  employee_type   TEXT,
  work_place      TEXT,
  entry_date      TEXT,
  test            INTEGER NOT NULL DEFAULT 0,
  source_ts       TEXT,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL,
  PRIMARY KEY (instance_id, tenant_id, user_name)
);
-- Named-user licensing asks: SELECT 1 FROM kit_users WHERE instance_id = ? AND user_name = ? AND enabled = 1
CREATE INDEX kit_users_by_name ON kit_users(instance_id, user_name, enabled);

-- Deletions, so that a late add older than the delete does not bring the item back.
CREATE TABLE kit_tombstones (
  kind            TEXT NOT NULL CHECK (kind IN ('tenant','app','org','user')),
  instance_id     TEXT NOT NULL,
  tenant_id       TEXT NOT NULL,
  item_key        TEXT NOT NULL,                -- app_id / org_code / user_name; '' for the tenant itself
  source_ts       TEXT NOT NULL,
  created_at      TEXT NOT NULL,
  PRIMARY KEY (kind, instance_id, tenant_id, item_key)
);
CREATE INDEX kit_tombstones_created ON kit_tombstones(created_at);

-- x-nonce values seen inside the replay window of the Kit v2 interfaces.
CREATE TABLE kit_nonces (
  nonce           TEXT PRIMARY KEY,
  expires_at      INTEGER NOT NULL
);
CREATE INDEX kit_nonces_expiry ON kit_nonces(expires_at);
`,
};
