import type { Storage } from '../db/storage';
import { RESULT } from './resultCodes';

export interface MarketplaceMessage {
  direction: 'in' | 'out';
  activity: string;
  method?: string;
  path?: string;
  entitlementId?: string | null;
  orderId?: string | null;
  code?: string | null;
  eventId?: string | null;
  resultCode?: string | null;
  httpStatus?: number | null;
  latencyMs?: number;
  error?: string | null;
  test?: boolean;
  outboxId?: number | null;
  at?: Date;
  /**
   * The request was answered before it could be authenticated (unsigned, mis-signed, stale, replayed):
   * every field in it came from whoever sent it. Inbound messages answered `000001` count as refused
   * without saying so.
   */
  refused?: boolean;
}

/** Refused requests keep this much of each field they supplied: enough to recognise a mistake, no more. */
export const REFUSED_FIELD_MAX = 128;
/** Authenticated messages are bounded too (the spec's fields are ≤ 255 characters; error texts a little more). */
export const FIELD_MAX = 1024;
const AUTH_FAILED = RESULT.authFailed;

/**
 * A field as the log stores it: at most `max` characters, and NUL characters (which a sender may put in any field
 * and PostgreSQL's text cannot hold) shown as U+FFFD, on both backends alike. A NUL left in would fail the log's
 * whole batch on PostgreSQL, and a failed batch is kept and retried, so no message would be logged again.
 */
const clip = (v: string | null | undefined, max: number): string | null | undefined => {
  if (typeof v !== 'string') return v;
  const text = v.includes('\u0000') ? v.replaceAll('\u0000', '\uFFFD') : v;
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
};

export interface MessageLogOptions {
  flushMs?: number;
  /** Called once per refused request (the metrics counter), before its fields are truncated. */
  onRefused?: (m: MarketplaceMessage) => Promise<void>;
}

export interface RetentionDays {
  liveDays: number;
  refusedDays: number;
}

/**
 * Deletes messages older than the retention policy: refused requests after `refusedDays`, everything else
 * after `liveDays`. Deletes in chunks so a first prune of a large log never holds the write lock for long.
 */
export async function pruneMessages(
  db: Storage,
  now: Date,
  retention: RetentionDays,
): Promise<{ live: number; refused: number }> {
  const cutoff = (days: number) => new Date(now.getTime() - days * 86_400_000).toISOString();
  const chunked = async (sql: string, params: unknown[]): Promise<number> => {
    let total = 0;
    for (;;) {
      const n = (await db.run(sql, params)).changes;
      total += n;
      if (n < 5000) return total;
    }
  };
  const refused = await chunked(
    `DELETE FROM marketplace_messages WHERE id IN
       (SELECT id FROM marketplace_messages WHERE refused = 1 AND created_at < ? LIMIT 5000)`,
    [cutoff(retention.refusedDays)],
  );
  const live = await chunked(
    `DELETE FROM marketplace_messages WHERE id IN
       (SELECT id FROM marketplace_messages WHERE created_at < ? LIMIT 5000)`,
    [cutoff(retention.liveDays)],
  );
  return { live, refused };
}

/**
 * The seller center's "production interface messages", kept locally: every marketplace call in either
 * direction with its result code and latency. Writes are batched (one transaction per flush) so logging
 * never adds an fsync to the 5-second path; the log is diagnostic, the business state is what must be durable.
 */
export class MessageLog {
  private queue: MarketplaceMessage[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The batch being written (a timer's flush, or another caller's), settled either way. */
  private writing: Promise<void> | undefined;
  private readonly flushMs: number;
  private readonly onRefused: ((m: MarketplaceMessage) => Promise<void>) | undefined;

  constructor(
    private readonly db: Storage,
    opts: MessageLogOptions = {},
  ) {
    this.flushMs = opts.flushMs ?? 200;
    this.onRefused = opts.onRefused;
  }

  /** Queues the message; never touches the database itself, so it is safe inside a transaction. */
  record(message: MarketplaceMessage): void {
    const refused = message.refused ?? (message.direction === 'in' && message.resultCode === AUTH_FAILED);
    // Not awaited: record never waits for storage (it may run inside a transaction); the hook reports its own
    // failures, and a rejection it lets through is logged nowhere else, so it is dropped here on purpose.
    if (refused) this.onRefused?.(message).catch(() => undefined);
    const max = refused ? REFUSED_FIELD_MAX : FIELD_MAX;
    const m: MarketplaceMessage = {
      ...message,
      activity: clip(message.activity, max) ?? '',
      method: clip(message.method, 16) ?? undefined,
      path: clip(message.path, max) ?? undefined,
      entitlementId: clip(message.entitlementId, max),
      orderId: clip(message.orderId, max),
      code: clip(message.code, max),
      eventId: clip(message.eventId, max),
      resultCode: clip(message.resultCode, 16),
      error: clip(message.error, FIELD_MAX),
      refused,
    };
    this.queue.push({ ...m, at: m.at ?? new Date() });
    if (this.queue.length >= 500) void this.flushSafely();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flushSafely(), this.flushMs);
      this.timer.unref();
    }
  }

  /**
   * Background flushes never throw: from a timer, an error (disk full, read-only database) would be uncaught
   * and end the process. The batch stays queued (bounded) and is tried again later.
   */
  private async flushSafely(): Promise<void> {
    try {
      await this.flush();
    } catch {
      if (!this.timer) {
        this.timer = setTimeout(() => void this.flushSafely(), this.flushMs * 10);
        this.timer.unref();
      }
    }
  }

  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // Messages recorded earlier may be in a write already under way: flushed means written, so wait for it (on
    // PostgreSQL a read right after would otherwise miss them, and a close could cut the write short).
    while (this.writing) await this.writing;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    const written = this.write(batch);
    this.writing = written.then(
      () => undefined,
      () => undefined,
    );
    try {
      await written;
    } catch (err) {
      // Keep the batch for the next flush; the log is diagnostic, so its backlog is bounded.
      this.queue = batch.concat(this.queue).slice(-10_000);
      throw err;
    } finally {
      this.writing = undefined;
    }
  }

  private async write(batch: MarketplaceMessage[]): Promise<void> {
    // Its own transaction, not a batched write: a log batch can be thousands of rows after an outage, and one that
    // fails (a full disk) must fail alone, not take the business writes of a shared group commit with it.
    await this.db.transaction(async (tx) => {
      for (const m of batch) {
        await tx.run(
          `INSERT INTO marketplace_messages (direction, activity, method, path, entitlement_id, order_id, code, event_id,
             result_code, http_status, latency_ms, error, test, outbox_id, created_at, refused)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [
            m.direction,
            m.activity,
            m.method ?? null,
            m.path ?? null,
            m.entitlementId ?? null,
            m.orderId ?? null,
            m.code ?? null,
            m.eventId ?? null,
            m.resultCode ?? null,
            m.httpStatus ?? null,
            m.latencyMs ?? null,
            m.error ?? null,
            m.test ? 1 : 0,
            m.outboxId ?? null,
            (m.at ?? new Date()).toISOString(),
            m.refused ? 1 : 0,
          ],
        );
      }
    });
  }
}
