import type { Migration } from '../types';

/**
 * Family A (scheme A, signed GET) replay protection. Scheme A has no nonce: the authToken — an HMAC over every
 * parameter including timeStamp — identifies one request. The first answer to a token is stored and sent
 * again, byte for byte, to any later request with the same token (a marketplace retry or a replayed URL from
 * a proxy log), which changes nothing. Rows are kept until their timeStamp leaves the acceptance window;
 * after that the timeStamp alone refuses the request.
 */
export const m008_scheme_a_answers: Migration = {
  version: 8,
  name: 'scheme_a_answers',
  sql: `
CREATE TABLE scheme_a_answers (
  auth_token      TEXT PRIMARY KEY,
  activity        TEXT NOT NULL,
  answer          TEXT NOT NULL,               -- the JSON answer as first sent
  expires_at      INTEGER NOT NULL             -- epoch ms: signed timeStamp + acceptance window
);
CREATE INDEX scheme_a_answers_expiry ON scheme_a_answers(expires_at);
`,
};
