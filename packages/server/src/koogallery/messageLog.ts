import type { Db } from '../db/database';

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
}

/**
 * The seller center's "production interface messages", kept locally: every marketplace call in either
 * direction with its result code and latency. Writes are batched (one transaction per flush) so logging
 * never adds an fsync to the 5-second path; the log is diagnostic, the business state is what must be durable.
 */
export class MessageLog {
  private queue: MarketplaceMessage[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Db,
    private readonly flushMs = 200,
  ) {}

  record(m: MarketplaceMessage): void {
    this.queue.push({ ...m, at: m.at ?? new Date() });
    if (this.queue.length >= 500) this.flushSafely();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flushSafely(), this.flushMs);
      this.timer.unref();
    }
  }

  /**
   * Background flushes never throw: from a timer, an error (disk full, read-only database) would be uncaught
   * and end the process. The batch stays queued (bounded) and is tried again later.
   */
  private flushSafely(): void {
    try {
      this.flush();
    } catch {
      if (!this.timer) {
        this.timer = setTimeout(() => this.flushSafely(), this.flushMs * 10);
        this.timer.unref();
      }
    }
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    try {
      this.write(batch);
    } catch (err) {
      // Keep the batch for the next flush; the log is diagnostic, so its backlog is bounded.
      this.queue = batch.concat(this.queue).slice(-10_000);
      throw err;
    }
  }

  private write(batch: MarketplaceMessage[]): void {
    this.db.transaction(() => {
      for (const m of batch) {
        this.db.run(
          `INSERT INTO marketplace_messages (direction, activity, method, path, entitlement_id, order_id, code, event_id,
             result_code, http_status, latency_ms, error, test, outbox_id, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
          ],
        );
      }
    });
  }
}
