import type { Migration } from '../types';

/**
 * Every install's device key on a machine. Two data folders on one machine (two OS users, a reinstall into
 * another folder) match the same activation by fingerprint, so they share its seat; each keeps its own Ed25519
 * key here instead of the second replacing the first's (which made the first's check-ins fail "Device signature
 * does not match" until its grace ran out). `activations.device_public_key` stays the most recently bound key
 * and is always one of these rows.
 */
export const m006_activation_keys: Migration = {
  version: 6,
  name: 'activation_keys',
  sql: `
CREATE TABLE activation_keys (
  activation_id   TEXT NOT NULL REFERENCES activations(id),
  key_hash        TEXT NOT NULL,              -- sha256 of the SPKI DER, base64url (a License file's deviceKey)
  public_key      TEXT NOT NULL,              -- base64url SPKI DER (Ed25519)
  created_at      TEXT NOT NULL,
  PRIMARY KEY (activation_id, key_hash)
) WITHOUT ROWID;
INSERT INTO activation_keys (activation_id, key_hash, public_key, created_at)
  SELECT id, device_key_hash, device_public_key, last_seen_at FROM activations;
`,
};
