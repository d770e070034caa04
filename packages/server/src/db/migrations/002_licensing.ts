import type { Migration } from '../types';

/**
 * Device activations (seats), product policy defaults, device-request nonces, self-service seat transfers
 * and named users. Times are ISO 8601 UTC text like the rest of the schema, except the nonce expiry
 * (epoch ms, compared on every signed request).
 */
export const m002_licensing: Migration = {
  version: 2,
  name: 'licensing',
  sql: `
-- Product defaults of the licensing policy (JSON PolicyOverrides); an entitlement's own policy column wins.
CREATE TABLE product_policies (
  product_id      TEXT PRIMARY KEY,
  policy          TEXT NOT NULL,
  updated_at      TEXT NOT NULL
);

-- One row per device bound to an entitlement. A seat is a numbered slot: the partial unique index means two
-- devices can never hold the same slot of one entitlement, so a slot number below the seat limit is a seat
-- even if two server processes race. Lapsed (floating lease ran out) and released rows keep their history
-- and the device key, so that device can still prove who it is on its next check-in.
CREATE TABLE activations (
  id                    TEXT PRIMARY KEY,
  entitlement_id        TEXT NOT NULL REFERENCES entitlements(id),
  status                TEXT NOT NULL CHECK (status IN ('active','lapsed','released')),
  seat                  INTEGER CHECK (seat >= 0),
  fingerprint           TEXT NOT NULL,        -- JSON of the keyed component hashes (never raw readings)
  koogallery_fingerprint TEXT,                -- normalised MAC|disk|board|CPU when the device sent it
  device_public_key     TEXT NOT NULL,        -- base64url SPKI DER (Ed25519)
  device_key_hash       TEXT NOT NULL,        -- what License files name as deviceKey
  label                 TEXT,
  hostname              TEXT,
  platform              TEXT,
  arch                  TEXT,
  os_version            TEXT,
  app_version           TEXT,
  virtual               INTEGER NOT NULL DEFAULT 0,
  user_id               TEXT,
  offline               INTEGER NOT NULL DEFAULT 0,
  lease_expires_at      TEXT,                 -- floating policy: the seat lapses after this
  created_at            TEXT NOT NULL,
  last_seen_at          TEXT NOT NULL,
  released_at           TEXT,
  released_by           TEXT,
  CHECK ((status = 'active') = (seat IS NOT NULL))
);
CREATE UNIQUE INDEX activations_seat ON activations(entitlement_id, seat) WHERE seat IS NOT NULL;
CREATE INDEX activations_entitlement ON activations(entitlement_id, status);
CREATE INDEX activations_lease ON activations(lease_expires_at) WHERE status = 'active' AND lease_expires_at IS NOT NULL;

-- Nonces of device-signed requests inside the replay window, per activation.
CREATE TABLE device_nonces (
  activation_id   TEXT NOT NULL,
  nonce           TEXT NOT NULL,
  expires_at      INTEGER NOT NULL,           -- epoch ms: signature timestamp + window
  PRIMARY KEY (activation_id, nonce)
) WITHOUT ROWID;
CREATE INDEX device_nonces_expiry ON device_nonces(expires_at);

-- Seats freed by the license holder (self-service), counted against policy.transferLimit.
CREATE TABLE seat_transfers (
  activation_id   TEXT PRIMARY KEY,           -- a seat is freed once
  entitlement_id  TEXT NOT NULL REFERENCES entitlements(id),
  at              TEXT NOT NULL
);
CREATE INDEX seat_transfers_window ON seat_transfers(entitlement_id, at);

-- One row rewritten by each group-commit barrier: its FULL commit fsyncs the WAL (db/groupCommit.ts).
CREATE TABLE commit_marks (
  id              INTEGER PRIMARY KEY CHECK (id = 1),
  at              INTEGER NOT NULL
);

-- Named-user licensing: who may hold a seat when the policy requires a named user.
CREATE TABLE authorized_users (
  entitlement_id  TEXT NOT NULL REFERENCES entitlements(id),
  user_id         TEXT NOT NULL,
  created_at      TEXT NOT NULL,
  PRIMARY KEY (entitlement_id, user_id)
);
`,
};
