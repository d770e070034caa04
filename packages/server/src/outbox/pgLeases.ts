import type { Queryable } from '../db/storage';
import type { OutboxItem } from './item';

/**
 * Outbox leases on PostgreSQL, for several instances polling one outbox (docs/design/postgresql.md, "Outbox
 * leases"). A claim is one statement: the due items are picked with `FOR UPDATE SKIP LOCKED`, so two instances
 * claiming at the same moment each skip the rows the other has locked and never get the same item, and marked
 * `running` with a lease. An instance that dies holding items does not release them; they become due again when
 * their lease ends and the next claim anywhere takes them.
 *
 * A claim is identified by (id, attempts): every claim increments `attempts`, so `complete` and `fail` of a
 * holder whose lease ran out and whose item was claimed again change nothing (they return false) — the slow
 * holder cannot mark done, or reschedule, the new holder's run.
 *
 * Unlike the SQLite outbox, nothing here releases every `running` item at start-up: on a shared database those
 * are other instances' live leases.
 */
export interface Claimed {
  id: number;
  attempts: number;
}

/**
 * Claims up to `n` due items (pending and due, or running with an expired lease) for `leaseMs`, oldest first:
 * the caller starts them in this order, as the SQLite outbox does (UPDATE … RETURNING alone has no order, so the
 * daily duty's last batch could go out before its first).
 */
export async function claimDue(db: Queryable, now: number, n: number, leaseMs: number): Promise<OutboxItem[]> {
  return db.all<OutboxItem>(
    `WITH claimed AS (
       UPDATE outbox SET status = 'running', attempts = attempts + 1, lease_until = ?, updated_at = ?
       WHERE id IN (
         SELECT id FROM outbox
         WHERE (status = 'pending' AND next_attempt_at <= ?) OR (status = 'running' AND lease_until < ?)
         ORDER BY next_attempt_at, id
         LIMIT ?
         FOR UPDATE SKIP LOCKED)
       RETURNING *)
     SELECT * FROM claimed ORDER BY next_attempt_at, id`,
    [now + leaseMs, new Date(now).toISOString(), now, now, n],
  );
}

/** Marks a claimed item done; false when the lease was lost (the item was claimed again since). */
export async function complete(db: Queryable, item: Claimed, now: number): Promise<boolean> {
  const r = await db.run(
    `UPDATE outbox SET status = 'done', lease_until = NULL, last_error = NULL, updated_at = ?
     WHERE id = ? AND status = 'running' AND attempts = ?`,
    [new Date(now).toISOString(), item.id, item.attempts],
  );
  return r.changes === 1;
}

export interface FailOptions {
  error: string;
  /** Delay before the next attempt after `attempts` failed ones (the outbox's or the kind's backoff). */
  backoffMs: (attempts: number) => number;
  /** Give up: the item becomes `failed` and is not tried again without an operator. */
  giveUp?: boolean;
}

/** Records a failed attempt: back to `pending` after the backoff, or `failed`; false when the lease was lost. */
export async function fail(db: Queryable, item: Claimed, now: number, opts: FailOptions): Promise<boolean> {
  const r = await db.run(
    `UPDATE outbox SET status = ?, lease_until = NULL, last_error = ?, next_attempt_at = ?, updated_at = ?
     WHERE id = ? AND status = 'running' AND attempts = ?`,
    [
      opts.giveUp ? 'failed' : 'pending',
      opts.error.slice(0, 1000),
      // Whole milliseconds: next_attempt_at is a bigint on PostgreSQL, which refuses a fraction (a jittered backoff).
      now + Math.round(opts.backoffMs(item.attempts)),
      new Date(now).toISOString(),
      item.id,
      item.attempts,
    ],
  );
  return r.changes === 1;
}
