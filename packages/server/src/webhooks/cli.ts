import type { Command } from 'commander';
import { fields, table } from '../cli/output';
import type { Runner, Session } from '../cli/session';
import { parseInput } from '../http/errors';
import { webhookDeps } from './router';
import {
  createEndpoint,
  type DeliveryView,
  deliveryDetail,
  deliveryFilterSchema,
  type EndpointView,
  listDeliveries,
  listEndpoints,
  replayDelivery,
  setEndpointEnabled,
  WEBHOOK_EVENTS,
} from './store';

const date = (iso: string | null) => (iso ? iso.slice(0, 19).replace('T', ' ') : null);

const endpointColumns = [
  { header: 'ID', value: (e: EndpointView) => e.id },
  { header: 'URL', value: (e: EndpointView) => e.url, max: 48 },
  { header: 'EVENTS', value: (e: EndpointView) => e.events.join(','), max: 40 },
  { header: 'ENABLED', value: (e: EndpointView) => (e.enabled ? 'yes' : 'no') },
];

const deliveryColumns = [
  { header: 'DELIVERY', value: (d: DeliveryView) => d.id },
  { header: 'EVENT', value: (d: DeliveryView) => d.eventType },
  { header: 'ENDPOINT', value: (d: DeliveryView) => d.endpointId },
  { header: 'STATUS', value: (d: DeliveryView) => d.status },
  { header: 'ATTEMPTS', value: (d: DeliveryView) => d.attempts, align: 'right' as const },
  { header: 'LAST', value: (d: DeliveryView) => d.lastStatus ?? d.lastError, max: 40 },
  { header: 'NEXT', value: (d: DeliveryView) => date(d.nextAttemptAt) },
];

/** `licensor webhooks …`: the same service functions as the admin API. */
export function registerWebhookCommands(program: Command, run: Runner): void {
  const webhooks = program
    .command('webhooks')
    .description("events pushed to the merchant's own systems (Standard Webhooks, signed)");

  webhooks
    .command('add <url>')
    .description('register an endpoint; prints its signing secret once')
    .requiredOption('--events <types>', `comma-separated event types, or * for all: ${WEBHOOK_EVENTS.join(', ')}`)
    .option('--secret <whsec>', 'use this secret (whsec_<base64>) instead of a generated one')
    .option('--description <text>', 'what the endpoint is for')
    .action(
      run(async (s: Session, url: string, o: { events: string; secret?: string; description?: string }) => {
        const r = await createEndpoint(
          webhookDeps(await s.ctx()),
          {
            url,
            events: o.events
              .split(',')
              .map((e) => e.trim())
              .filter(Boolean),
            secret: o.secret,
            description: o.description,
          },
          s.actor,
        );
        s.print(
          r,
          () =>
            `Endpoint ${r.endpoint.id} registered for ${r.endpoint.events.join(', ')}.\n` +
            `Signing secret (shown once; verify webhook-signature with it):\n  ${r.secret}`,
        );
      }),
    );

  webhooks
    .command('list')
    .description('registered endpoints')
    .action(
      run(async (s: Session) => {
        const items = await listEndpoints(await s.db());
        s.print({ items }, () =>
          items.length ? table(items, endpointColumns) : 'No endpoints: add one with `licensor webhooks add <url>`.',
        );
      }),
    );

  for (const action of ['enable', 'disable'] as const) {
    webhooks
      .command(`${action} <endpointId>`)
      .description(action === 'disable' ? 'stop sending to an endpoint (history kept)' : 'resume sending')
      .action(
        run(async (s: Session, id: string) => {
          const e = await setEndpointEnabled(webhookDeps(await s.ctx()), id, action === 'enable', s.actor);
          s.print(e, () => `Endpoint ${e.id} ${e.enabled ? 'enabled' : 'disabled'}.`);
        }),
      );
  }

  webhooks
    .command('deliveries')
    .description('deliveries, newest first, with attempts, last answer and next attempt')
    .option('--endpoint <id>', 'one endpoint')
    .option('--status <status>', 'pending, delivered or failed')
    .option('--event <type>', 'one event type')
    .option('--limit <n>', 'rows (1-200)', '50')
    .action(
      run(async (s: Session, o: { endpoint?: string; status?: string; event?: string; limit: string }) => {
        const filter = parseInput(
          deliveryFilterSchema,
          Object.fromEntries(
            Object.entries({ endpointId: o.endpoint, status: o.status, eventType: o.event, limit: o.limit }).filter(
              ([, v]) => v !== undefined,
            ),
          ),
          'options',
        );
        const { items } = await listDeliveries(await s.db(), filter);
        s.print({ items }, () => (items.length ? table(items, deliveryColumns) : 'No deliveries match.'));
      }),
    );

  webhooks
    .command('show <deliveryId>')
    .description('one delivery with every attempt and the payload')
    .action(
      run(async (s: Session, id: string) => {
        const d = await deliveryDetail(await s.db(), id);
        s.print(d, () =>
          [
            fields([
              ['Delivery', d.id],
              ['Event', `${d.eventType} (${d.eventId})`],
              ['Endpoint', `${d.endpointId} ${d.url}`],
              ['Status', d.status],
              ['Next attempt', date(d.nextAttemptAt) ?? '-'],
            ]),
            d.attemptLog?.length
              ? table(d.attemptLog, [
                  { header: '#', value: (a) => a.attempt, align: 'right' as const },
                  { header: 'AT', value: (a) => date(a.at) },
                  { header: 'HTTP', value: (a) => a.statusCode },
                  { header: 'ERROR', value: (a) => a.error, max: 60 },
                  { header: 'MS', value: (a) => a.durationMs, align: 'right' as const },
                ])
              : 'No attempts yet.',
            JSON.stringify(d.payload, null, 2),
          ].join('\n'),
        );
      }),
    );

  webhooks
    .command('replay <deliveryId>')
    .description('send a delivery again (the running server sends it within a second)')
    .action(
      run(async (s: Session, id: string) => {
        const d = await replayDelivery(await s.ctx(), id, s.actor);
        s.print(d, () => `Delivery ${d.id} queued again; the running server sends it shortly.`);
      }),
    );
}
