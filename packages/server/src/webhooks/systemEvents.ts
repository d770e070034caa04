import type { Storage } from '../db/storage';
import type { OutboxItem } from '../outbox/outbox';
import { DELIVER_KIND, emit } from './store';

/**
 * Events about the server's own work rather than one license: `marketplace.call_failed` (a refused incoming
 * marketplace call, an outbox item that gave up) and `daily_duties.failed` (the family-B daily duties). Wired
 * by the app factory (outbox onGaveUp, message-log onRefused) and the daily scheduler.
 */

type Ctx = { db: Storage; now: () => Date };

/** What the message log knows of a refused incoming call (its MarketplaceMessage, structurally). */
export interface RefusedCall {
  activity: string;
  path?: string;
  resultCode?: string | null;
  httpStatus?: number | null;
  error?: string | null;
  at?: Date;
}

const DAILY_KIND = /^daily\./;

function parsePayload(payload: string): unknown {
  try {
    return JSON.parse(payload);
  } catch {
    return null;
  }
}

/**
 * An outbox item gave up. Marketplace work (order queries, License uploads, the daily batches) is a failed
 * marketplace call; a daily batch is also a failed daily duty. Webhook deliveries are not: their failures
 * are in the delivery list, and reporting them through webhooks could only loop. Call inside the transaction
 * that marks the item failed; an operator's retry that fails again is a new event.
 */
export async function emitOutboxGaveUp(ctx: Ctx, item: OutboxItem, error: string): Promise<void> {
  if (item.kind === DELIVER_KIND || item.kind.startsWith('webhook.')) return;
  const payload = parsePayload(item.payload) as Record<string, unknown> | null;
  const data = {
    source: 'outbox',
    outboxId: item.id,
    kind: item.kind,
    attempts: item.attempts,
    error,
    // Enough to find the work again (order, day, batch); never the whole payload (usage lists can be long).
    ref: payload
      ? Object.fromEntries(Object.entries(payload).filter(([, v]) => typeof v === 'string' || typeof v === 'number'))
      : null,
  };
  const key = `outbox:${item.id}:${item.attempts}`;
  await emit(ctx, { type: 'marketplace.call_failed', data, dedupeKey: `${key}:call` });
  if (DAILY_KIND.test(item.kind)) await emit(ctx, { type: 'daily_duties.failed', data, dedupeKey: `${key}:daily` });
}

/** Refused incoming calls are reported at most once per window (a flood of forged calls is one event each window). */
export const REFUSED_WINDOW_MS = 10 * 60_000;

/**
 * A refused incoming marketplace call (bad signature, stale, replayed): usually a wrong key in the seller
 * center or someone probing the production URL. One event per 10-minute window carries the first refusal of
 * the window (the message log has them all); `lastWindow` is the caller's memory so a flood costs no writes.
 * Returns the window reported.
 */
export async function emitRefusedCall(ctx: Ctx, message: RefusedCall, lastWindow: number | undefined): Promise<number> {
  const at = message.at ?? ctx.now();
  const window = Math.floor(at.getTime() / REFUSED_WINDOW_MS);
  if (window === lastWindow) return window;
  await emit(ctx, {
    type: 'marketplace.call_failed',
    dedupeKey: `refused:${window}`,
    data: {
      source: 'incoming',
      refused: true,
      activity: message.activity,
      path: message.path ?? null,
      resultCode: message.resultCode ?? null,
      httpStatus: message.httpStatus ?? null,
      error: message.error ?? null,
      windowStart: new Date(window * REFUSED_WINDOW_MS).toISOString(),
      hint: 'Check the key configured in the seller center against LICENSOR_KOO_KEY; the message log lists every refused call.',
    },
  });
  return window;
}

/** The daily duties could not be planned or tidied (the batches' own failures come through emitOutboxGaveUp). */
export async function emitDailyDutiesFailed(
  ctx: Ctx,
  stage: 'planning' | 'message-prune',
  error: unknown,
): Promise<void> {
  const message = error instanceof Error ? error.message : String(error);
  const day = ctx.now().toISOString().slice(0, 10);
  await emit(ctx, {
    type: 'daily_duties.failed',
    // One event per stage and day: the scheduler retries every 15 minutes and would repeat it all day.
    dedupeKey: `daily:${stage}:${day}`,
    data: { source: 'scheduler', stage, day, error: message.slice(0, 1000) },
  });
}
