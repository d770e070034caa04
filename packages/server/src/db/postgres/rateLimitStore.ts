import { LicensorError } from '@licensor/shared';
import type { ClientRateLimitInfo, Options, Store } from 'express-rate-limit';
import type { Storage } from '../storage';
import type { PgQueryable } from './facade';
import type { PostgresDatabase } from './storage';

/**
 * An express-rate-limit store on PostgreSQL, so every instance behind the load balancer counts into the same
 * window: one row per (limiter prefix + client key, fixed window), counted with one atomic upsert. Fixed windows
 * rather than sliding ones: one statement per request, no read-modify-write race between instances, and a row
 * whose end is known (the `resetTime` the draft-7 headers and Retry-After report, and the prune cut-off).
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

  private window(): { start: number; end: number } {
    const start = Math.floor(this.now() / this.windowMs) * this.windowMs;
    return { start, end: start + this.windowMs };
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    const { start, end } = this.window();
    const row = await this.db.first<{ hits: number }>(
      `INSERT INTO rate_limits (key, window_start, hits, expires_at) VALUES (?, ?, 1, ?)
       ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limits.hits + 1
       RETURNING hits`,
      [this.prefix + key, start, end],
    );
    return { totalHits: row!.hits, resetTime: new Date(end) };
  }

  async decrement(key: string): Promise<void> {
    const { start } = this.window();
    await this.db.run('UPDATE rate_limits SET hits = hits - 1 WHERE key = ? AND window_start = ? AND hits > 0', [
      this.prefix + key,
      start,
    ]);
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const { start, end } = this.window();
    const row = await this.db.first<{ hits: number }>(
      'SELECT hits FROM rate_limits WHERE key = ? AND window_start = ?',
      [this.prefix + key, start],
    );
    return row ? { totalHits: row.hits, resetTime: new Date(end) } : undefined;
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
 * Deletes the rows of windows that ended before `now` (the daily prune; a window's row is useless once it has
 * ended), in batches so a large backlog never holds locks for long. Returns how many rows went.
 */
export async function pruneRateLimits(db: PgQueryable, now: number, batch = 10_000): Promise<number> {
  let total = 0;
  for (;;) {
    const r = await db.run(
      'DELETE FROM rate_limits WHERE ctid IN (SELECT ctid FROM rate_limits WHERE expires_at <= ? LIMIT ?)',
      [now, batch],
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
