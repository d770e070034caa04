import { LicensorError } from '@licensor/shared';
import type { Queryable, Storage } from '../db/storage';
import type { Logger } from '../logger';
import type { OutboxItem } from './item';
import { claimDue, complete, fail } from './pgLeases';

export type { OutboxItem } from './item';

export type OutboxHandler = (payload: unknown, item: OutboxItem) => Promise<void>;

/** A kind's own retry schedule (webhooks retry for a day; marketplace calls use the outbox's defaults). */
export interface OutboxKindOptions {
  maxAttempts?: number;
  backoffMs?: (attempts: number) => number;
}

export interface OutboxOptions {
  maxAttempts?: number;
  leaseMs?: number;
  pollMs?: number;
  /** Backoff before attempt n+1 after n failed attempts. */
  backoffMs?: (attempts: number) => number;
  now?: () => number;
  /**
   * Hears an item that gave up (permanent failure or out of attempts), inside the transaction that marks it
   * failed — so whatever it records (a webhook event) exists exactly when the failure does.
   */
  /** Called inside the transaction that marks the item failed, with its handle. */
  onGaveUp?: (db: Storage, item: OutboxItem, error: string) => Promise<void>;
}

// A fraction of a millisecond is fine here: fail() stores every backoff in whole milliseconds.
const defaultBackoff = (attempts: number) =>
  Math.min(1000 * 2 ** (attempts - 1), 10 * 60_000) * (0.8 + Math.random() * 0.4);

/**
 * Queues work with only the database at hand (code deep in a transaction, e.g. webhooks emitted where an
 * entitlement changes); the running server's worker picks it up. Same rules as Outbox.enqueue.
 */
export async function enqueueOutbox(
  db: Queryable,
  kind: string,
  payload: unknown,
  opts: { dedupeKey?: string; delayMs?: number; now: number },
): Promise<number> {
  const iso = new Date(opts.now).toISOString();
  if (opts.dedupeKey) {
    const existing = await db.first<{ id: number }>('SELECT id FROM outbox WHERE dedupe_key = ?', [opts.dedupeKey]);
    if (existing) return existing.id;
  }
  const r = await db.first<{ id: number }>(
    `INSERT INTO outbox (kind, dedupe_key, payload, status, attempts, next_attempt_at, created_at, updated_at)
     VALUES (?, ?, ?, 'pending', 0, ?, ?, ?) RETURNING id`,
    [kind, opts.dedupeKey ?? null, JSON.stringify(payload), opts.now + (opts.delayMs ?? 0), iso, iso],
  );
  return Number(r!.id);
}

/** A failure that retrying cannot fix (the marketplace rejected the request itself). */
export const isPermanent = (err: unknown): boolean => err instanceof LicensorError && !err.retryable;

/**
 * Durable queue of work that talks to the marketplace. Items are written in the same transaction as the
 * state change that needs them, so an acknowledged request never loses its follow-up call; a worker runs
 * them with exponential backoff. A crashed worker's claim is a lease that expires, after which the item
 * runs again — handlers are therefore idempotent (uploads and queries are safe to repeat).
 */
export class Outbox {
  private readonly handlers = new Map<string, OutboxHandler>();
  private readonly kindOptions = new Map<string, OutboxKindOptions>();
  private readonly inFlight = new Map<number, Promise<boolean>>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private readonly maxAttempts: number;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly backoff: (attempts: number) => number;
  private readonly now: () => number;
  private readonly onGaveUp: OutboxOptions['onGaveUp'];

  constructor(
    private readonly db: Storage,
    private readonly log: Logger,
    opts: OutboxOptions = {},
  ) {
    this.maxAttempts = opts.maxAttempts ?? 25;
    this.leaseMs = opts.leaseMs ?? 60_000;
    this.pollMs = opts.pollMs ?? 500;
    this.backoff = opts.backoffMs ?? defaultBackoff;
    this.now = opts.now ?? Date.now;
    this.onGaveUp = opts.onGaveUp;
  }

  register(kind: string, handler: OutboxHandler, opts: OutboxKindOptions = {}): void {
    this.handlers.set(kind, handler);
    this.kindOptions.set(kind, opts);
  }

  /**
   * Queues work; call it inside the transaction that records the state change. With a dedupe key an
   * existing item is returned instead of a second one. `db` is the transaction's handle.
   */
  enqueue(
    db: Queryable,
    kind: string,
    payload: unknown,
    opts: { dedupeKey?: string; delayMs?: number } = {},
  ): Promise<number> {
    return enqueueOutbox(db, kind, payload, { ...opts, now: this.now() });
  }

  /** `db`: a transaction's handle when called inside one. */
  get(id: number, db: Queryable = this.db): Promise<OutboxItem | undefined> {
    return db.first<OutboxItem>('SELECT * FROM outbox WHERE id = ?', [id]);
  }

  /**
   * Runs one item now (if nobody else holds it) and waits at most `deadlineMs` for it; the attempt goes on
   * in the background after that. Resolves true when the item is done.
   */
  async runNow(id: number, deadlineMs: number): Promise<boolean> {
    const attempt = this.inFlight.get(id) ?? this.attempt(id);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), deadlineMs);
    });
    try {
      return await Promise.race([attempt, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private attempt(id: number): Promise<boolean> {
    const p = this.runClaimed(id).finally(() => this.inFlight.delete(id));
    this.inFlight.set(id, p);
    return p;
  }

  private async claim(id: number): Promise<OutboxItem | undefined> {
    const now = this.now();
    const r = await this.db.run(
      `UPDATE outbox SET status = 'running', attempts = attempts + 1, lease_until = ?, updated_at = ?
       WHERE id = ? AND (status = 'pending' OR (status = 'running' AND lease_until < ?))`,
      [now + this.leaseMs, new Date(now).toISOString(), id, now],
    );
    return r.changes === 1 ? this.get(id) : undefined;
  }

  private async runClaimed(id: number): Promise<boolean> {
    const item = await this.claim(id);
    if (!item) return (await this.get(id))?.status === 'done';
    return this.runItem(item);
  }

  /**
   * Runs an item this process has just claimed. Its completion and failure are fenced by the claim (id,
   * attempts): a holder whose lease ran out, and whose item another worker claimed since, changes nothing.
   */
  private async runItem(item: OutboxItem): Promise<boolean> {
    const id = item.id;
    const handler = this.handlers.get(item.kind);
    try {
      if (!handler) throw new LicensorError('INTERNAL', `No outbox handler for ${item.kind}`);
      await handler(JSON.parse(item.payload), item);
      if (!(await complete(this.db, item, this.now()))) {
        this.log.warn(
          { outboxId: id, kind: item.kind, attempts: item.attempts },
          'outbox lease lost before completion',
        );
      }
      return true;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const own = this.kindOptions.get(item.kind);
      const giveUp = isPermanent(err) || item.attempts >= (own?.maxAttempts ?? this.maxAttempts);
      const error = message.slice(0, 1000);
      await this.db.transaction(async (tx) => {
        const held = await fail(tx, item, this.now(), { error, giveUp, backoffMs: own?.backoffMs ?? this.backoff });
        if (held && giveUp) await this.onGaveUp?.(tx, { ...item, status: 'failed', last_error: error }, error);
      });
      this.log.warn(
        { outboxId: id, kind: item.kind, attempts: item.attempts, giveUp, err: message },
        'outbox attempt failed',
      );
      return false;
    }
  }

  /** Runs every due item once; returns how many were attempted. */
  async drain(): Promise<number> {
    const now = this.now();
    if (this.db.dialect === 'postgres') {
      // Several instances poll one outbox: pick and claim in one statement (FOR UPDATE SKIP LOCKED), so two
      // pollers never get the same item and none waits on another's locked rows.
      const claimed = await claimDue(this.db, now, 50, this.leaseMs);
      const runs = claimed.map((item) => {
        const p = this.runItem(item).finally(() => this.inFlight.delete(item.id));
        this.inFlight.set(item.id, p);
        return p;
      });
      await Promise.all(runs);
      return runs.length;
    }
    const due = await this.db.all<{ id: number }>(
      `SELECT id FROM outbox WHERE (status = 'pending' AND next_attempt_at <= ?) OR (status = 'running' AND lease_until < ?)
       ORDER BY next_attempt_at LIMIT 50`,
      [now, now],
    );
    const runs = due.filter((d) => !this.inFlight.has(d.id)).map((d) => this.attempt(d.id));
    await Promise.all(runs);
    return runs.length;
  }

  async start(): Promise<void> {
    if (this.timer) return;
    // One server process owns a data folder: anything still 'running' at start-up was claimed by a process
    // that died. Release it now instead of waiting out its lease (up to a minute of a stuck provisioning).
    // Only on SQLite: instances sharing PostgreSQL hold each other's leases (docs/design/postgresql.md).
    if (this.db.dialect === 'sqlite') {
      await this.db.run(`UPDATE outbox SET status = 'pending', lease_until = NULL WHERE status = 'running'`);
    }
    this.timer = setInterval(() => {
      if (this.polling) return;
      this.polling = true;
      this.drain()
        .catch((err) => this.log.error({ err }, 'outbox poll failed'))
        .finally(() => {
          this.polling = false;
        });
    }, this.pollMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.inFlight.values()]);
  }

  /** Operator action: try a failed (or waiting) item again now. */
  async retry(id: number, db: Queryable = this.db): Promise<boolean> {
    const r = await db.run(
      `UPDATE outbox SET status = 'pending', next_attempt_at = ?, updated_at = ? WHERE id = ? AND status IN ('failed','pending')`,
      [this.now(), new Date(this.now()).toISOString(), id],
    );
    return r.changes === 1;
  }

  async depth(): Promise<{ pending: number; running: number; failed: number }> {
    const rows = await this.db.all<{ status: string; n: number }>(
      `SELECT status, COUNT(*) AS n FROM outbox WHERE status != 'done' GROUP BY status`,
    );
    const get = (s: string) => rows.find((r) => r.status === s)?.n ?? 0;
    return { pending: get('pending'), running: get('running'), failed: get('failed') };
  }
}
