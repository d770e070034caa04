import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { LicensorError } from '@licensor/shared';
import type { AppContext } from '../context';
import { SecretBox } from '../kit/secretBox';
import { isPermanent } from '../outbox/outbox';
import { type Resolver, resolveDestination } from './address';
import { signWebhook } from './signing';
import { DELIVER_KIND } from './store';

/**
 * The outbox handler that sends webhook deliveries. Retries follow the Standard Webhooks schedule (5 s, 5 min,
 * 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over 27.6 h); a delivery a receiver acknowledged (2xx) is never
 * sent again except by an explicit replay.
 */
export const WEBHOOK_RETRY_SCHEDULE_MS = [
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3_600_000,
  5 * 3_600_000,
  10 * 3_600_000,
  10 * 3_600_000,
];
export const WEBHOOK_MAX_ATTEMPTS = WEBHOOK_RETRY_SCHEDULE_MS.length + 1;
export const webhookBackoff = (failedAttempts: number): number =>
  WEBHOOK_RETRY_SCHEDULE_MS[Math.min(failedAttempts, WEBHOOK_RETRY_SCHEDULE_MS.length) - 1] ?? 5_000;

const TIMEOUT_MS = 15_000;

interface Target {
  delivery_id: string;
  status: string;
  attempts: number;
  event_id: string;
  payload: string;
  endpoint_id: string;
  url: string;
  secret: string;
  disabled_at: string | null;
}

export interface DeliveryOptions {
  /** Host name resolution (tests pass their own); the system resolver otherwise. */
  resolve?: Resolver;
  timeoutMs?: number;
}

/** POSTs one signed body to exactly the checked address; resolves with the HTTP status. */
async function post(
  url: URL,
  headers: Record<string, string>,
  body: string,
  allowPrivate: boolean,
  opts: DeliveryOptions,
): Promise<number> {
  const dest = await resolveDestination(url.hostname, { allowPrivate, resolve: opts.resolve });
  // Connect to the address checked above, never to a fresh resolution (DNS rebinding); TLS still checks the name.
  const pinned: LookupFunction = (_host, options, callback) => {
    if ((options as { all?: boolean }).all) (callback as (e: null, a: object[]) => void)(null, [dest]);
    else callback(null, dest.address, dest.family);
  };
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<number>((resolve, reject) => {
    const req = client.request(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
        lookup: pinned,
        agent: false,
        timeout: opts.timeoutMs ?? TIMEOUT_MS,
      },
      (res) => {
        res.resume(); // the body is not needed; reading it frees the socket
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${(opts.timeoutMs ?? TIMEOUT_MS) / 1000} s`)));
    req.on('error', reject);
    req.end(body);
  });
}

export function registerWebhookDelivery(ctx: AppContext, opts: DeliveryOptions = {}): void {
  const { db } = ctx;
  let box: SecretBox | undefined;
  ctx.outbox.register(
    DELIVER_KIND,
    async (payload, item) => {
      const { deliveryId } = payload as { deliveryId: string };
      const t = await db.first<Target>(
        `SELECT d.id AS delivery_id, d.status, d.attempts, d.event_id, e.payload, p.id AS endpoint_id, p.url, p.secret,
                p.disabled_at
         FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id JOIN webhook_endpoints p ON p.id = d.endpoint_id
         WHERE d.id = ?`,
        [deliveryId],
      );
      // Acknowledged already (a worker that died after the 2xx, an outbox lease that ran out): never twice.
      if (!t || t.status === 'delivered') return;
      const attempt = t.attempts + 1;
      const started = Date.now();
      const at = ctx.now();
      let statusCode: number | null = null;
      let error: unknown;
      try {
        if (t.disabled_at) throw new LicensorError('CONFLICT', 'the endpoint is disabled');
        box ??= SecretBox.forDataDir(ctx.config.dataDir);
        const headers = {
          'content-type': 'application/json',
          'user-agent': 'Licensor-Webhooks/1',
          ...signWebhook(box.open(t.secret, t.endpoint_id), t.event_id, Math.floor(at.getTime() / 1000), t.payload),
        };
        statusCode = await post(new URL(t.url), headers, t.payload, ctx.config.webhookAllowPrivate, opts);
        if (statusCode >= 300 && statusCode < 400) {
          throw new LicensorError(
            'SERVER_UNREACHABLE',
            `HTTP ${statusCode}: redirects are not followed; register the final URL`,
          );
        }
        if (statusCode < 200 || statusCode >= 300) throw new LicensorError('SERVER_UNREACHABLE', `HTTP ${statusCode}`);
      } catch (err) {
        error = err;
      }
      const message = error ? (error instanceof Error ? error.message : String(error)).slice(0, 500) : null;
      const final = Boolean(error) && (isPermanent(error) || item.attempts >= WEBHOOK_MAX_ATTEMPTS);
      const status = !error ? 'delivered' : final ? 'failed' : 'pending';
      const nowIso = ctx.now().toISOString();
      await db.transaction(async (tx) => {
        await tx.run(
          `INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms) VALUES (?, ?, ?, ?, ?, ?)`,
          [t.delivery_id, attempt, at.toISOString(), statusCode, message, Date.now() - started],
        );
        await tx.run(
          `UPDATE webhook_deliveries SET status = ?, attempts = ?, last_status = ?, last_error = ?, delivered_at = ?,
             next_attempt_at = ?, updated_at = ? WHERE id = ?`,
          [
            status,
            attempt,
            statusCode,
            message,
            error ? null : nowIso,
            status === 'pending' ? new Date(ctx.now().getTime() + webhookBackoff(item.attempts)).toISOString() : null,
            nowIso,
            t.delivery_id,
          ],
        );
      });
      if (error) throw error;
    },
    { maxAttempts: WEBHOOK_MAX_ATTEMPTS, backoffMs: webhookBackoff },
  );
}
