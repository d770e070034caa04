import type { Migration } from '../types';

/**
 * Device nonces keyed by time first. A replayed request is byte-identical — same signed timestamp, same
 * nonce — so (expires_at, activation_id, nonce) refuses it as well as (activation_id, nonce) did, while every
 * insert now lands at the end of one B-tree instead of a random page of the key plus a second, time-ordered
 * index: a check-in writes one random page (its activation row) instead of three, which shortens the group
 * commit's disk sync. Culling expired nonces deletes from the front of the same tree.
 */
export const m005_device_nonces_by_time: Migration = {
  version: 5,
  name: 'device_nonces_by_time',
  sql: `
CREATE TABLE device_nonces_by_time (
  activation_id   TEXT NOT NULL,
  nonce           TEXT NOT NULL,
  expires_at      INTEGER NOT NULL,           -- epoch ms: signature timestamp + window
  PRIMARY KEY (expires_at, activation_id, nonce)
) WITHOUT ROWID;
INSERT INTO device_nonces_by_time (activation_id, nonce, expires_at)
  SELECT activation_id, nonce, expires_at FROM device_nonces;
DROP TABLE device_nonces;
ALTER TABLE device_nonces_by_time RENAME TO device_nonces;
`,
};
