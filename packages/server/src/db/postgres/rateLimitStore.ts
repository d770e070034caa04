import { LicensorError } from '@licensor/shared';
import type { ClientRateLimitInfo, Options, Store } from 'express-rate-limit';
import type { Storage } from '../storage';
import type { PgQueryable } from './facade';
import type { PostgresDatabase } from './storage';

/**
 * An express-rate-limit store on PostgreSQL, so every instance behind the load balancer counts into the same
 * window. Windows are per client, as in the library's memory store that SQLite deployments use: a client's window
 * starts at its first hit and lasts the window length, so a back-off lasts its full length whatever the time of
 * day, and no client gets twice the limit across a boundary (clock-aligned windows allowed both). One row per
 * limiter prefix + client key holds the hits and the window's end, counted with one atomic upsert that restarts
 * an ended window: no read-modify-write race between instances. Times come from the instance's clock (as the
 * memory store's do); clock skew between instances moves a window's end by at most that skew.
 *
 * Every limiter gets its own store with its own `prefix` (express-rate-limit refuses a store shared by two
 * limiters, and two limiters counting the same address must not share a row).
 */
export interface PgRateLimitStoreOptions {
  /** Distinguishes limiters sharing the table, e.g. 'admin-auth:1m:'. */
  prefix: string;
  /** Clock (epoch ms); tests move it to cross windows. */
  now?: () => number;
}

/** What a limiter does when the store cannot count (the database is unreachable or too slow). */
export type RateLimitDoor = 'marketplace' | 'admin-auth' | 'api';

/**
 * The failure policy of docs/design/postgresql.md: the marketplace fails OPEN — KooGallery is never refused
 * because of our own outage (its request then succeeds or gets the signed "retry later" of the handler itself);
 * admin authentication failures fail CLOSED — an outage must not lift the brake on token guessing; the client
 * API fails closed too: its requests need the database anyway, and the per-code limits bound code guessing.
 */
export const RATE_LIMIT_FAILURE_POLICY: Record<RateLimitDoor, 'open' | 'closed'> = {
  marketplace: 'open',
  'admin-auth': 'closed',
  api: 'closed',
};

export class PgRateLimitStore implements Store {
  /** Counts are shared through the database, not kept per process (express-rate-limit's double-count check). */
  readonly localKeys = false;
  readonly prefix: string;
  private windowMs = 60_000;
  private readonly now: () => number;

  constructor(
    private readonly db: PgQueryable,
    opts: PgRateLimitStoreOptions,
  ) {
    if (!opts.prefix) throw new LicensorError('INVALID_INPUT', 'A rate-limit store needs a non-empty prefix');
    this.prefix = opts.prefix;
    this.now = opts.now ?? Date.now;
  }

  init(options: Options): void {
    if (!Number.isSafeInteger(options.windowMs) || options.windowMs < 1000) {
      throw new LicensorError(
        'INVALID_INPUT',
        `Rate-limit windows are whole milliseconds ≥ 1000 (${options.windowMs})`,
      );
    }
    this.windowMs = options.windowMs;
  }

  /**
   * Counts a hit. Both CASEs read the row as it was before this statement (an ended window restarts at this hit
   * with the count 1), and ON CONFLICT DO UPDATE locks the row, so concurrent hits from any instance serialise.
   */
  async increment(key: string): Promise<ClientRateLimitInfo> {
    const now = this.now();
    const row = await this.db.first<{ hits: number; reset_at: number }>(
      `INSERT INTO rate_limits (key, hits, reset_at) VALUES (?, 1, ?)
       ON CONFLICT (key) DO UPDATE SET
         hits = CASE WHEN rate_limits.reset_at <= ? THEN 1 ELSE rate_limits.hits + 1 END,
         reset_at = CASE WHEN rate_limits.reset_at <= ? THEN EXCLUDED.reset_at ELSE rate_limits.reset_at END
       RETURNING hits, reset_at`,
      [this.prefix + key, now + this.windowMs, now, now],
    );
    return { totalHits: row!.hits, resetTime: new Date(row!.reset_at) };
  }

  /**
   * Takes back a hit of the window current now, and only of that one: the window whose end lies in
   * (now, now + window]. The library asks for a decrement when the response has finished, and the statement may
   * reach the database after the client's next hit has restarted an ended window; that newer window ends later
   * than now + window and keeps its count (an ended window has nothing to take back, as in the memory store).
   */
  async decrement(key: string): Promise<void> {
    const now = this.now();
    await this.db.run(
      'UPDATE rate_limits SET hits = hits - 1 WHERE key = ? AND reset_at > ? AND reset_at <= ? AND hits > 0',
      [this.prefix + key, now, now + this.windowMs],
    );
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const row = await this.db.first<{ hits: number; reset_at: number }>(
      'SELECT hits, reset_at FROM rate_limits WHERE key = ? AND reset_at > ?',
      [this.prefix + key, this.now()],
    );
    return row ? { totalHits: row.hits, resetTime: new Date(row.reset_at) } : undefined;
  }

  async resetKey(key: string): Promise<void> {
    await this.db.run('DELETE FROM rate_limits WHERE key = ?', [this.prefix + key]);
  }

  async resetAll(): Promise<void> {
    await this.db.run('DELETE FROM rate_limits WHERE starts_with(key, ?)', [this.prefix]);
  }
}

/**
 * The options to spread into `rateLimit({...})` for a limiter shared across instances: its store and the
 * failure policy of its door.
 */
export function sharedRateLimit(
  db: PgQueryable,
  door: RateLimitDoor,
  prefix: string,
  now?: () => number,
): { store: PgRateLimitStore; passOnStoreError: boolean } {
  return {
    store: new PgRateLimitStore(db, { prefix: `${door}:${prefix}`, now }),
    passOnStoreError: RATE_LIMIT_FAILURE_POLICY[door] === 'open',
  };
}

/**
 * Deletes the rows of windows that ended by `now` (the daily prune; the next hit of that client starts a new
 * window either way), in batches so a large backlog never holds locks for long. Returns how many rows went. A
 * row's window restarting concurrently is safe: the delete re-checks `reset_at` on the row it locks.
 */
export async function pruneRateLimits(db: PgQueryable, now: number, batch = 10_000): Promise<number> {
  let total = 0;
  for (;;) {
    const r = await db.run(
      'DELETE FROM rate_limits WHERE key IN (SELECT key FROM rate_limits WHERE reset_at <= ? LIMIT ?) AND reset_at <= ?',
      [now, batch, now],
    );
    total += r.changes;
    if (r.changes < batch) return total;
  }
}

/**
 * Where a limiter counts, for the deployment at hand: the options to spread into `rateLimit({...})` for the
 * limiter named `prefix` at `door`. Limiters built for the same door and prefix on two instances share one count.
 */
export type LimiterStore = (door: RateLimitDoor, prefix: string) => { store?: Store; passOnStoreError?: boolean };

/**
 * PostgreSQL (several instances): the shared store above, with its door's failure policy. SQLite: nothing, so
 * express-rate-limit keeps its memory store — one process owns a SQLite data folder.
 */
export function limiterStoreFor(db: Storage): LimiterStore {
  if (db.dialect !== 'postgres' || !('pg' in db)) return () => ({});
  const pg = (db as PostgresDatabase).pg;
  return (door, prefix) => sharedRateLimit(pg, door, prefix);
}
