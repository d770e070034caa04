import { randomBytes } from 'node:crypto';
import { LicensorError } from '@licensor/shared';
import { z } from 'zod';
import type { Storage } from '../db/storage';
import { decodeCursor, encodeCursor } from '../http/cursor';
import { parseInput } from '../http/errors';
import type { SecretBox } from '../kit/secretBox';
import { audit } from '../licensing';
import { enqueueOutbox, type Outbox } from '../outbox/outbox';
import { isPrivateAddress } from './address';
import { newWebhookSecret, secretKey } from './signing';

/** Event types the merchant can subscribe to (README "Webhooks" lists when each is sent). */
export const WEBHOOK_EVENTS = [
  'license.created',
  'license.renewed',
  'license.changed',
  'license.frozen',
  'license.unfrozen',
  'license.suspended',
  'license.revoked',
  'license.released',
  'activation.created',
  'activation.released',
  'marketplace.call_failed',
  'daily_duties.failed',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

export const DELIVER_KIND = 'webhook.deliver';

const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString('base64url')}`;

// ---------------------------------------------------------------------------------------- endpoints

export const endpointInputSchema = z
  .object({
    url: z
      .string()
      .max(2000)
      .url('expected an absolute http(s) URL')
      .refine((u) => /^https?:$/.test(new URL(u).protocol), 'only http and https URLs')
      .refine((u) => !new URL(u).username && !new URL(u).password, 'no credentials in the URL: sign with the secret'),
    events: z
      .array(z.union([z.enum(WEBHOOK_EVENTS), z.literal('*')]), {
        error: `expected event types: ${WEBHOOK_EVENTS.join(', ')} (or *)`,
      })
      .min(1, 'name at least one event type (or *)'),
    secret: z.string().optional(),
    description: z.string().trim().max(200).optional(),
  })
  .strict();
export type EndpointInput = z.input<typeof endpointInputSchema>;

interface EndpointRow {
  id: string;
  url: string;
  events: string;
  secret: string;
  description: string | null;
  disabled_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface EndpointView {
  id: string;
  url: string;
  events: string[];
  description: string | null;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

const endpointView = (r: EndpointRow): EndpointView => ({
  id: r.id,
  url: r.url,
  events: JSON.parse(r.events) as string[],
  description: r.description,
  enabled: r.disabled_at === null,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** Literal private addresses and localhost are refused at once; host names are checked at every delivery. */
function refuseObviouslyPrivate(url: string, allowPrivate: boolean): void {
  if (allowPrivate) return;
  const host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  const literal = /^[\d.]+$/.test(host) || host.includes(':');
  if (host === 'localhost' || host.endsWith('.localhost') || (literal && isPrivateAddress(host))) {
    throw new LicensorError(
      'INVALID_INPUT',
      `${url} is a private or loopback address: webhooks go only to public addresses unless the server runs with LICENSOR_WEBHOOK_ALLOW_PRIVATE=on`,
      { problems: [{ field: 'url', message: 'private or loopback destination' }] },
    );
  }
}

export interface WebhookDeps {
  db: Storage;
  box: SecretBox;
  allowPrivate: boolean;
  now: () => Date;
}

/** Registers an endpoint; the answer carries the secret (`whsec_…`), the only time it is shown. */
export async function createEndpoint(
  deps: WebhookDeps,
  input: unknown,
  actor: string,
): Promise<{ endpoint: EndpointView; secret: string }> {
  const data = parseInput(endpointInputSchema, input, 'webhook endpoint');
  refuseObviouslyPrivate(data.url, deps.allowPrivate);
  const secret = data.secret ?? newWebhookSecret();
  secretKey(secret);
  const id = newId('ep');
  const now = deps.now().toISOString();
  return await deps.db.transaction(async (tx) => {
    await tx.run(
      `INSERT INTO webhook_endpoints (id, url, events, secret, description, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      [id, data.url, JSON.stringify(data.events), deps.box.seal(secret, id), data.description ?? null, now, now],
    );
    const endpoint = await requireEndpoint(tx, id);
    await audit(tx, { actor, action: 'webhook.endpoint_created', after: endpoint, detail: { endpointId: id } });
    return { endpoint, secret };
  });
}

async function endpointRow(db: Storage, id: string): Promise<EndpointRow> {
  const row = await db.first<EndpointRow>('SELECT * FROM webhook_endpoints WHERE id = ?', [id]);
  if (!row) {
    throw new LicensorError('NOT_FOUND', `No webhook endpoint ${id}: list them with \`licensor webhooks list\``);
  }
  return row;
}

export const requireEndpoint = async (db: Storage, id: string): Promise<EndpointView> =>
  endpointView(await endpointRow(db, id));

export const listEndpoints = async (db: Storage): Promise<EndpointView[]> =>
  (await db.all<EndpointRow>('SELECT * FROM webhook_endpoints ORDER BY created_at, id')).map(endpointView);

/** Stops (or resumes) deliveries to an endpoint; its history stays. Disabled endpoints get no new events. */
export async function setEndpointEnabled(
  deps: WebhookDeps,
  id: string,
  enabled: boolean,
  actor: string,
): Promise<EndpointView> {
  return await deps.db.transaction(async (tx) => {
    const before = await requireEndpoint(tx, id);
    if (before.enabled === enabled) return before;
    const now = deps.now().toISOString();
    await tx.run('UPDATE webhook_endpoints SET disabled_at = ?, updated_at = ? WHERE id = ?', [
      enabled ? null : now,
      now,
      id,
    ]);
    const after = await requireEndpoint(tx, id);
    await audit(tx, {
      actor,
      action: enabled ? 'webhook.endpoint_enabled' : 'webhook.endpoint_disabled',
      detail: { endpointId: id },
    });
    return after;
  });
}

export const endpointSecret = async (deps: Pick<WebhookDeps, 'db' | 'box'>, id: string): Promise<string> =>
  deps.box.open((await endpointRow(deps.db, id)).secret, id);

// ------------------------------------------------------------------------------------------- emit

export interface WebhookEvent {
  type: WebhookEventType;
  data: Record<string, unknown>;
  /** Makes emitting idempotent: a second emit with the same key is a no-op (e.g. a retried marketplace call). */
  dedupeKey?: string;
}

/** The enabled endpoints that want events of this type. */
async function subscribedEndpoints(db: Storage, type: WebhookEventType): Promise<{ id: string }[]> {
  const endpoints = await db.all<{ id: string; events: string }>(
    'SELECT id, events FROM webhook_endpoints WHERE disabled_at IS NULL',
  );
  return endpoints.filter((ep) => {
    const wanted = JSON.parse(ep.events) as string[];
    return wanted.includes('*') || wanted.includes(type);
  });
}

/**
 * Records an event and queues one delivery per enabled endpoint subscribed to it. Call it inside the
 * transaction of the change it reports: the event exists exactly when the change does. Returns the event id
 * (the existing one for a repeated dedupeKey), or undefined when no enabled endpoint subscribes to the type.
 */
export async function emit(ctx: { db: Storage; now: () => Date }, event: WebhookEvent): Promise<string | undefined> {
  const { db } = ctx;
  // Most servers have no endpoint: without a dedupe key to honour, ask that first, and spare the caller's
  // transaction a savepoint (two round trips on PostgreSQL) for nothing.
  const wanted = event.dedupeKey ? undefined : await subscribedEndpoints(db, event.type);
  if (wanted?.length === 0) return undefined;
  return await db.transaction(async (tx) => {
    if (event.dedupeKey) {
      const seen = await tx.first<{ id: string }>('SELECT id FROM webhook_events WHERE dedupe_key = ?', [
        event.dedupeKey,
      ]);
      if (seen) return seen.id;
    }
    const subscribed = wanted ?? (await subscribedEndpoints(tx, event.type));
    // Nobody listens: nothing to keep (an event is only ever sent through a delivery).
    if (subscribed.length === 0) return undefined;
    const id = newId('msg');
    const at = ctx.now().toISOString();
    const body = JSON.stringify({ type: event.type, timestamp: at, data: event.data });
    await tx.run('INSERT INTO webhook_events (id, type, dedupe_key, payload, created_at) VALUES (?, ?, ?, ?, ?)', [
      id,
      event.type,
      event.dedupeKey ?? null,
      body,
      at,
    ]);
    for (const ep of subscribed) {
      const deliveryId = newId('dlv');
      await tx.run(
        `INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, next_attempt_at, created_at, updated_at)
         VALUES (?, ?, ?, 'pending', ?, ?, ?)`,
        [deliveryId, id, ep.id, at, at, at],
      );
      await enqueueOutbox(tx, DELIVER_KIND, { deliveryId }, { now: ctx.now().getTime() });
    }
    return id;
  });
}

// ------------------------------------------------------------------------------------- deliveries

export interface AttemptView {
  attempt: number;
  at: string;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

export interface DeliveryView {
  id: string;
  eventId: string;
  eventType: string;
  endpointId: string;
  url: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  nextAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: string | null;
  createdAt: string;
  attemptLog?: AttemptView[];
  payload?: unknown;
}

interface DeliveryRow {
  id: string;
  event_id: string;
  type: string;
  endpoint_id: string;
  url: string;
  status: DeliveryView['status'];
  attempts: number;
  next_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
  delivered_at: string | null;
  created_at: string;
  payload: string;
}

const DELIVERY_SELECT = `SELECT d.*, e.type, e.payload, p.url FROM webhook_deliveries d
  JOIN webhook_events e ON e.id = d.event_id JOIN webhook_endpoints p ON p.id = d.endpoint_id`;

const deliveryView = (r: DeliveryRow): DeliveryView => ({
  id: r.id,
  eventId: r.event_id,
  eventType: r.type,
  endpointId: r.endpoint_id,
  url: r.url,
  status: r.status,
  attempts: r.attempts,
  nextAttemptAt: r.status === 'pending' ? r.next_attempt_at : null,
  lastStatus: r.last_status,
  lastError: r.last_error,
  deliveredAt: r.delivered_at,
  createdAt: r.created_at,
});

export const deliveryFilterSchema = z
  .object({
    endpointId: z.string().min(1).max(64).optional(),
    status: z.enum(['pending', 'delivered', 'failed']).optional(),
    eventType: z.enum(WEBHOOK_EVENTS).optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    /** nextCursor of the previous page (keyset on the delivery's seq, like the admin API's other lists). */
    cursor: z.string().min(1).max(200).optional(),
  })
  .strict();

/**
 * Deliveries newest first, each with its attempt count, last answer and next attempt; a page at a time by
 * keyset (seq, walked backwards on its index), so page 1,000 costs what page 1 does.
 */
export async function listDeliveries(
  db: Storage,
  filter: z.infer<typeof deliveryFilterSchema>,
): Promise<{ items: DeliveryView[]; nextCursor: string | null }> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.endpointId) where.push('d.endpoint_id = ?') && params.push(filter.endpointId);
  if (filter.status) where.push('d.status = ?') && params.push(filter.status);
  if (filter.eventType) where.push('e.type = ?') && params.push(filter.eventType);
  if (filter.cursor) {
    const [after] = decodeCursor(filter.cursor, 1);
    where.push('d.seq < ?') && params.push(after);
  }
  params.push(filter.limit + 1); // one more row says whether another page exists
  const rows = await db.all<DeliveryRow & { seq: number }>(
    `${DELIVERY_SELECT} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY d.seq DESC LIMIT ?`,
    params,
  );
  const more = rows.length > filter.limit;
  const page = more ? rows.slice(0, filter.limit) : rows;
  return {
    items: page.map(deliveryView),
    nextCursor: more ? encodeCursor([page[page.length - 1]!.seq]) : null,
  };
}

/** One delivery with every attempt and the payload sent. */
export async function deliveryDetail(db: Storage, id: string): Promise<DeliveryView> {
  const row = await db.first<DeliveryRow>(`${DELIVERY_SELECT} WHERE d.id = ?`, [id]);
  if (!row) {
    throw new LicensorError('NOT_FOUND', `No webhook delivery ${id}: list them with \`licensor webhooks deliveries\``);
  }
  const attemptLog = (
    await db.all<{
      attempt: number;
      at: string;
      status_code: number | null;
      error: string | null;
      duration_ms: number;
    }>('SELECT * FROM webhook_attempts WHERE delivery_id = ? ORDER BY attempt', [id])
  ).map((a) => ({
    attempt: a.attempt,
    at: a.at,
    statusCode: a.status_code,
    error: a.error,
    durationMs: a.duration_ms,
  }));
  return { ...deliveryView(row), attemptLog, payload: JSON.parse(row.payload) };
}

/**
 * Sends a delivery again (a delivered one too: the receiver asked for it). Refused while it is still queued,
 * so two replays never race each other into two sends.
 */
export async function replayDelivery(ctx: { db: Storage; outbox: Outbox; now: () => Date }, id: string, actor: string) {
  return await ctx.db.transaction(async (tx) => {
    const d = await deliveryDetail(tx, id);
    if (d.status === 'pending') {
      throw new LicensorError(
        'CONFLICT',
        `Delivery ${id} is already queued (next attempt ${d.nextAttemptAt ?? 'now'}); wait for it or check the endpoint`,
      );
    }
    const now = ctx.now().toISOString();
    await tx.run(`UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?, updated_at = ? WHERE id = ?`, [
      now,
      now,
      id,
    ]);
    await ctx.outbox.enqueue(tx, DELIVER_KIND, { deliveryId: id });
    await audit(tx, { actor, action: 'webhook.replay', detail: { deliveryId: id, eventId: d.eventId } });
    return deliveryDetail(tx, id);
  });
}

// -------------------------------------------------------------------------------------- retention

/**
 * Deletes finished deliveries (delivered or failed) last touched before `days` ago, their attempts, and the
 * events left without a delivery. Pending deliveries are never touched, and a pruned delivery was already
 * acknowledged or given up, so nothing is sent again. Chunked, so a first prune never holds the lock long.
 */
export async function pruneWebhookHistory(
  db: Storage,
  now: Date,
  days: number,
): Promise<{ deliveries: number; events: number }> {
  const cutoff = new Date(now.getTime() - days * 86_400_000).toISOString();
  let deliveries = 0;
  for (;;) {
    const ids = (
      await db.all<{ id: string }>(
        `SELECT id FROM webhook_deliveries WHERE status IN ('delivered','failed') AND updated_at < ? LIMIT 1000`,
        [cutoff],
      )
    ).map((r) => r.id);
    if (ids.length === 0) break;
    await db.transaction(async (tx) => {
      const marks = ids.map(() => '?').join(',');
      await tx.run(`DELETE FROM webhook_attempts WHERE delivery_id IN (${marks})`, ids);
      deliveries += (await tx.run(`DELETE FROM webhook_deliveries WHERE id IN (${marks})`, ids)).changes;
    });
    if (ids.length < 1000) break;
  }
  const events = (
    await db.run(
      `DELETE FROM webhook_events WHERE created_at < ?
       AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id)`,
      [cutoff],
    )
  ).changes;
  return { deliveries, events };
}
