import type { Storage } from '../db/storage';

/** Marketplace timestamps may be ±60 s off; nonces are kept well past that window. */
export const NONCE_TTL_MS = 5 * 60_000;

/**
 * Remembers a marketplace request nonce in `table` (kept in the database, so a restart does not reopen
 * the window); false when it was already seen inside the window, i.e. the request is a replay. An entry
 * past its window is not a replay inside it and is taken over. Call inside the request's transaction.
 */
export async function rememberNonce(
  db: Storage,
  table: 'seen_nonces' | 'kit_nonces',
  nonce: string,
  nowMs: number,
): Promise<boolean> {
  const expires = nowMs + NONCE_TTL_MS;
  if (
    (await db.run(`INSERT INTO ${table} (nonce, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING`, [nonce, expires]))
      .changes === 1
  ) {
    return true;
  }
  return (
    (await db.run(`UPDATE ${table} SET expires_at = ? WHERE nonce = ? AND expires_at < ?`, [expires, nonce, nowMs]))
      .changes === 1
  );
}

/**
 * A request handler's nonce memory over `table`: rememberNonce, plus a purge of expired entries every
 * `purgeEvery` nonces so the table stays the size of the window. Call inside the request's transaction.
 */
export function nonceMemory(
  table: 'seen_nonces' | 'kit_nonces',
  purgeEvery = 1000,
): (db: Storage, nonce: string, nowMs: number) => Promise<boolean> {
  let inserts = 0;
  return async (db, nonce, nowMs) => {
    if (++inserts % purgeEvery === 0) await db.run(`DELETE FROM ${table} WHERE expires_at < ?`, [nowMs]);
    return rememberNonce(db, table, nonce, nowMs);
  };
}
