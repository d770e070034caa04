import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { LicensorError } from '@licensor/shared';
import type { Command } from 'commander';
import { z } from 'zod';
import { actions, entitlementDetail, requireEntitlement, retryOutboxItem } from '../../admin/actions';
import { operatorRegistration } from '../../admin/codes';
import type { Page } from '../../admin/pagination';
import {
  type AuditView,
  activationFilterSchema,
  auditFilterSchema,
  type EntitlementView,
  entitlementFilterSchema,
  entitlementView,
  listActivationsPage,
  listAudit,
  listEntitlements,
  listMessages,
  listOutbox,
  type MessageView,
  messageFilterSchema,
  outboxFilterSchema,
} from '../../admin/queries';
import { inTx } from '../../db/storage';
import { parseInput } from '../../http/errors';
import type { ActivationView } from '../../licensing';
import { registerCode } from '../../licensing';
import { EXPIRES_FORMS, parseExpiryText } from '../expiry';
import { fields, table } from '../output';
import type { Runner, Session } from '../session';

/** Commander option values → the admin API's filter input (same names, same validation). */
function filterInput(opts: Record<string, unknown>, rename: Record<string, string> = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(opts)) if (v !== undefined) out[rename[k] ?? k] = v;
  return out;
}

function pageFooter(page: Page<unknown>): string {
  if (page.total === 0) return '';
  const shown = page.items.length;
  let line = `${shown} of ${page.total} shown`;
  if (page.page !== undefined) line += ` (page ${page.page} of ${page.pages})`;
  if (page.nextCursor) line += `. Next: --cursor ${page.nextCursor}`;
  return `${line}\n`;
}

const date = (iso: string | null) => (iso ? iso.slice(0, 19).replace('T', ' ') : null);

/** Adds the options every listing shares. */
function listOptions(cmd: Command): Command {
  return cmd
    .option('--limit <n>', 'rows per page (1-200)', '50')
    .option('--page <n>', 'page number (1-based)')
    .option('--cursor <cursor>', 'continue after the previous page (printed under the table)');
}

// ------------------------------------------------------------------------------------ entitlements

const entitlementColumns = [
  { header: 'ID', value: (e: EntitlementView) => e.id },
  { header: 'CODE', value: (e: EntitlementView) => e.code },
  { header: 'FAM', value: (e: EntitlementView) => e.family },
  { header: 'STATUS', value: (e: EntitlementView) => e.status },
  { header: 'PRODUCT', value: (e: EntitlementView) => e.productId, max: 24 },
  { header: 'SEATS', value: (e: EntitlementView) => e.seats, align: 'right' as const },
  { header: 'EXPIRES', value: (e: EntitlementView) => date(e.expiresAt) },
  { header: 'CUSTOMER', value: (e: EntitlementView) => e.customerName ?? e.customerId, max: 24 },
  { header: 'TEST', value: (e: EntitlementView) => (e.test ? 'test' : '') },
];

async function entitlementsList(s: Session, opts: Record<string, unknown>) {
  const f = parseInput(entitlementFilterSchema, filterInput(opts, { product: 'productId', search: 'q' }), 'options');
  const page = await listEntitlements(await s.db(), f);
  s.print(page, () =>
    page.items.length === 0 ? 'No licenses match.\n' : table(page.items, entitlementColumns) + pageFooter(page),
  );
}

const activationColumns = [
  { header: 'ACTIVATION', value: (a: ActivationView) => a.id },
  { header: 'STATUS', value: (a: ActivationView) => a.status },
  { header: 'SEAT', value: (a: ActivationView) => a.seat, align: 'right' as const },
  { header: 'DEVICE', value: (a: ActivationView) => a.label ?? a.hostname, max: 28 },
  { header: 'PLATFORM', value: (a: ActivationView) => [a.platform, a.arch].filter(Boolean).join('/') },
  { header: 'USER', value: (a: ActivationView) => a.user, max: 20 },
  { header: 'LAST SEEN', value: (a: ActivationView) => date(a.lastSeenAt) },
];

async function entitlementsShow(s: Session, id: string) {
  const ctx = await s.ctx();
  const detail = await entitlementDetail(ctx, await requireEntitlement(ctx.db, id));
  const e = detail.entitlement;
  s.print(detail, () =>
    [
      fields([
        ['License', e.id],
        ['Code', e.code],
        ['Family', e.family],
        ['Status', e.status],
        ['Product / SKU', [e.productId, e.skuCode].filter(Boolean).join(' / ')],
        ['Customer', [e.customerName, e.customerId].filter(Boolean).join(' / ')],
        ['Order', [e.orderId, e.orderLineId].filter(Boolean).join(' / ')],
        ['Valid', `${date(e.startsAt) ?? '-'} → ${date(e.expiresAt) ?? 'no expiry'}`],
        ['Seats', `${detail.seats.used} of ${detail.seats.limit} in use`],
        [
          'Policy',
          `${detail.policy.mode}, file TTL ${detail.policy.fileTtlDays} d, grace ${detail.policy.offlineGraceDays} d`,
        ],
        ['Test', e.test ? 'yes (marketplace debugging)' : 'no'],
      ]),
      detail.activations.length ? `\nDevices\n${table(detail.activations, activationColumns)}` : '\nNo devices.',
      detail.audit.length
        ? `\nRecent changes\n${table(detail.audit.slice(0, 20), [
            { header: 'AT', value: (a: AuditView) => date(a.at) },
            { header: 'ACTOR', value: (a: AuditView) => a.actor, max: 32 },
            { header: 'ACTION', value: (a: AuditView) => a.action, max: 32 },
            {
              header: 'CHANGE',
              value: (a: AuditView) => (a.after && Object.keys(a.after).length ? a.after : a.detail),
              max: 60,
            },
          ])}`
        : '',
    ].join('\n'),
  );
}

function hold(action: 'suspend' | 'reinstate' | 'revoke') {
  const done = { suspend: 'suspended', reinstate: 'reinstated', revoke: 'revoked' }[action];
  return async (s: Session, id: string, opts: { reason?: string }) => {
    const { reason } = parseInput(reasonInput, opts, 'options');
    const r = await actions[action](await s.ctx(), id, s.actor, reason);
    s.print(r, () =>
      r.changed
        ? `License ${r.entitlement.id} ${done}: status is now ${r.entitlement.status}. Devices see it at their next check-in.`
        : `License ${r.entitlement.id} unchanged (status ${r.entitlement.status}).`,
    );
  };
}

const reasonInput = z.object({ reason: z.string().trim().min(1).max(500).optional() });

// ----------------------------------------------------------------------------------- seats, devices

async function seatsFree(s: Session, activationId: string, opts: { reason?: string }) {
  const { reason } = parseInput(reasonInput, opts, 'options');
  const r = await actions.freeSeat(await s.ctx(), activationId, s.actor, reason);
  s.print(r, () =>
    r.released
      ? `Freed the seat of ${activationId} on license ${r.activation.entitlementId}.`
      : `Activation ${activationId} held no seat (status ${r.activation.status}); nothing changed.`,
  );
}

async function seatsMove(s: Session, activationId: string, opts: { to: string; reason?: string }) {
  const { reason } = parseInput(reasonInput, { reason: opts.reason }, 'options');
  const r = await actions.move(await s.ctx(), activationId, opts.to, s.actor, reason);
  s.print(
    r,
    () => `Activation ${activationId} now holds seat ${r.activation.seat} of license ${r.activation.entitlementId}.`,
  );
}

async function activationsList(s: Session, opts: Record<string, unknown>) {
  const f = parseInput(
    activationFilterSchema,
    filterInput(opts, { entitlement: 'entitlementId', search: 'q' }),
    'options',
  );
  const page = await listActivationsPage(await s.db(), f);
  s.print(page, () =>
    page.items.length === 0
      ? 'No activations match.\n'
      : table(page.items, [
          { header: 'LICENSE', value: (a: ActivationView) => a.entitlementId },
          ...activationColumns,
        ]) + pageFooter(page),
  );
}

// ---------------------------------------------------------------------------------- codes, offline

const codeInput = z.object({
  code: z.string().trim().min(1).max(64),
  test: z.boolean().optional(),
  productId: z.string().trim().min(1).max(64).optional(),
  seats: z.coerce.number().int().min(1).max(100_000).optional(),
  expires: z
    .string()
    .refine((v) => parseExpiryText(v) !== null, `expected ${EXPIRES_FORMS}`)
    .transform((v) => parseExpiryText(v)!)
    .optional(),
});

async function codesRegister(s: Session, code: string, opts: Record<string, unknown>) {
  const input = parseInput(codeInput, filterInput({ code, ...opts }, { product: 'productId' }), 'options');
  const ctx = await s.ctx();
  const registration = await operatorRegistration(
    ctx,
    { code: input.code, test: input.test, productId: input.productId, seats: input.seats, expireTime: input.expires },
    { productOption: '--product' },
  );
  const { entitlement, created } = await ctx.db.transaction(async (tx) => {
    const t = inTx(ctx, tx);
    return registerCode(t, registration, s.actor);
  });
  if (!created && entitlement.family !== 'B') {
    throw new LicensorError(
      'CONFLICT',
      `${registration.code} is already used by a family-${entitlement.family} license; pick another code`,
    );
  }
  const view = entitlementView(entitlement);
  s.print({ created, entitlement: view }, () =>
    created
      ? `Registered code ${view.code}${view.test ? ' (test)' : ''}: ${view.seats} seat(s), expires ${date(view.expiresAt) ?? 'when the marketplace says'}.`
      : `Code ${view.code} was already registered (status ${view.status}); nothing changed.`,
  );
}

const MAX_REQUEST_BYTES = 64 * 1024;

async function offlineResponse(s: Session, requestFile: string, opts: { out?: string; force?: boolean }) {
  const path = resolve(requestFile);
  const size = statSync(path).size;
  if (size > MAX_REQUEST_BYTES) {
    throw new LicensorError(
      'FILE_TOO_LARGE',
      `${path} is ${size} bytes; an activation request is a few KB: check the file`,
    );
  }
  const out = opts.out ? resolve(opts.out) : undefined;
  // Checked before issuing: a refused output file must not leave a seat bound with no file handed out.
  if (out && existsSync(out) && !opts.force) {
    throw new LicensorError('INVALID_INPUT', `${out} already exists: choose another --out file or pass --force`);
  }
  const { license } = await actions.offlineResponse(await s.ctx(), readFileSync(path, 'utf8'), s.actor);
  if (out) {
    writeFileSync(out, license);
    s.print({ license, out }, () => `License file written to ${out}: hand it to the customer to load on that device.`);
  } else if (s.json) {
    s.print({ license }, () => license);
  } else {
    s.out(license);
  }
}

// ------------------------------------------------------------------------------- messages, outbox

async function messagesList(s: Session, opts: Record<string, unknown>) {
  const f = parseInput(messageFilterSchema, filterInput(opts, { search: 'q' }), 'options');
  const page = await listMessages(await s.db(), f);
  s.print(page, () =>
    page.items.length === 0
      ? 'No marketplace messages match.\n'
      : table(page.items, [
          { header: 'ID', value: (m: MessageView) => m.id, align: 'right' },
          { header: 'AT', value: (m: MessageView) => date(m.at) },
          { header: 'DIR', value: (m: MessageView) => m.direction },
          { header: 'ACTIVITY', value: (m: MessageView) => m.activity, max: 28 },
          { header: 'RESULT', value: (m: MessageView) => m.resultCode },
          { header: 'HTTP', value: (m: MessageView) => m.httpStatus, align: 'right' },
          { header: 'MS', value: (m: MessageView) => m.latencyMs, align: 'right' },
          { header: 'REF', value: (m: MessageView) => m.code ?? m.entitlementId ?? m.orderId ?? m.eventId, max: 28 },
          { header: 'ERROR', value: (m: MessageView) => m.error, max: 40 },
        ]) + pageFooter(page),
  );
}

type OutboxRow = Awaited<ReturnType<typeof listOutbox>>['items'][number];

async function outboxList(s: Session, opts: Record<string, unknown>) {
  const f = parseInput(outboxFilterSchema, filterInput(opts), 'options');
  const page = await listOutbox(await s.db(), f);
  s.print(page, () =>
    page.items.length === 0
      ? 'Outbox is empty: nothing pending or failed.\n'
      : table(page.items, [
          { header: 'ID', value: (o: OutboxRow) => o.id, align: 'right' },
          { header: 'KIND', value: (o: OutboxRow) => o.kind },
          { header: 'STATUS', value: (o: OutboxRow) => o.status },
          { header: 'TRIES', value: (o: OutboxRow) => o.attempts, align: 'right' },
          { header: 'NEXT TRY', value: (o: OutboxRow) => date(o.nextAttemptAt) },
          { header: 'LAST ERROR', value: (o: OutboxRow) => o.lastError, max: 60 },
        ]) + pageFooter(page),
  );
}

async function outboxRetry(s: Session, id: string) {
  const n = parseInput(z.object({ id: z.coerce.number().int().positive() }), { id }, 'outbox item id').id;
  const item = await retryOutboxItem(await s.ctx(), n, s.actor);
  s.print(
    item,
    () => `Outbox item ${n} (${item.kind}) queued for another attempt; the running server picks it up within a second.`,
  );
}

async function auditList(s: Session, opts: Record<string, unknown>) {
  const f = parseInput(auditFilterSchema, filterInput(opts, { entitlement: 'entitlementId', search: 'q' }), 'options');
  const page = await listAudit(await s.db(), f);
  s.print(page, () =>
    page.items.length === 0
      ? 'No audit entries match.\n'
      : table(page.items, [
          { header: 'ID', value: (a: AuditView) => a.id, align: 'right' },
          { header: 'AT', value: (a: AuditView) => date(a.at) },
          { header: 'ACTOR', value: (a: AuditView) => a.actor, max: 32 },
          { header: 'ACTION', value: (a: AuditView) => a.action, max: 32 },
          { header: 'LICENSE', value: (a: AuditView) => a.entitlementId },
          {
            header: 'CHANGE',
            value: (a: AuditView) => (a.after && Object.keys(a.after).length ? a.after : a.detail),
            max: 60,
          },
        ]) + pageFooter(page),
  );
}

export function registerOperatorCommands(program: Command, run: Runner): void {
  const ent = program.command('entitlements').description('licenses (entitlements)');
  listOptions(
    ent
      .command('list')
      .description('list licenses, newest first (test licenses only with --include-test)')
      .option('--status <list>', 'comma-separated: provisioning,active,frozen,expired,suspended,revoked,released')
      .option('--family <list>', 'comma-separated: A,B,C,direct')
      .option('--product <id>', 'product id the code activates (required unless LICENSOR_PRODUCT_ID is set)')
      .option('--search <text>', 'id, code, order, customer, product or SKU contains this')
      .option('--since <date>', 'created at or after (ISO date or date-time)')
      .option('--expires-before <date>', 'expiring before (ISO date or date-time)')
      .option('--include-test', 'include marketplace test licenses'),
  ).action(run((s, opts: Record<string, unknown>) => entitlementsList(s, opts)));
  ent
    .command('show')
    .description('one license with its devices and audit trail')
    .argument('<id>', 'license id or code')
    .action(run((s, id: string) => entitlementsShow(s, id)));

  for (const action of ['suspend', 'reinstate', 'revoke'] as const) {
    const what = {
      suspend: 'suspend a license (devices lock at their next check-in)',
      reinstate: 'lift a suspension or revocation',
      revoke: 'revoke a license for good (fraud, refund outside the marketplace)',
    }[action];
    program
      .command(action)
      .description(what)
      .argument('<entitlementId>', 'license id or code')
      .option('--reason <text>', 'kept in the audit log')
      .action(run((s, id: string, opts: { reason?: string }) => hold(action)(s, id, opts)));
  }

  const seats = program.command('seats').description('device seats');
  seats
    .command('free')
    .description("free a dead or lost device's seat")
    .argument('<activationId>', 'activation id (see entitlements show)')
    .option('--reason <text>', 'kept in the audit log')
    .action(run((s, id: string, opts: { reason?: string }) => seatsFree(s, id, opts)));
  seats
    .command('move')
    .description("move a device's seat to another license of the same product")
    .argument('<activationId>', 'activation id')
    .requiredOption('--to <license>', 'target license id or code')
    .option('--reason <text>', 'kept in the audit log')
    .action(run((s, id: string, opts: { to: string; reason?: string }) => seatsMove(s, id, opts)));

  listOptions(
    program
      .command('activations')
      .description('list device activations, newest first')
      .option('--entitlement <id>', 'license id')
      .option('--code <code>', 'license code')
      .option('--status <list>', 'comma-separated: active,lapsed,released')
      .option('--search <text>', 'id, label, hostname or user contains this')
      .option('--since <date>', 'activated at or after')
      .option('--seen-since <date>', 'seen at or after')
      .option('--include-test', 'include devices of test licenses'),
  ).action(run((s, opts: Record<string, unknown>) => activationsList(s, opts)));

  const codes = program.command('codes').description('license codes');
  codes
    .command('register')
    .description('register a family-B (PL…) code before its first activation')
    .argument('<code>', 'the code')
    .option('--test', 'marketplace test code (never counted)')
    .option('--product <id>', 'product id the code activates (required unless LICENSOR_PRODUCT_ID is set)')
    .option('--seats <n>', 'devices allowed')
    .option('--expires <time>', `expiry: ${EXPIRES_FORMS}`)
    .action(run((s, code: string, opts: Record<string, unknown>) => codesRegister(s, code, opts)));

  program
    .command('offline-response')
    .description("answer a device's offline activation request with a License file")
    .argument('<requestFile>', 'the request file the device wrote')
    .option('--out <file>', 'write the License file here (default: print it)')
    .option('--force', 'overwrite --out if it exists')
    .action(run((s, file: string, opts: { out?: string; force?: boolean }) => offlineResponse(s, file, opts)));

  const messages = program.command('messages').description('log of every marketplace call');
  listOptions(
    messages
      .command('list')
      .description('newest first')
      .option('--failed', 'only failures (error, HTTP ≥ 400 or a non-success result code)')
      .option('--activity <name>', 'e.g. getLicense, license.query.batch')
      .option('--result-code <code>', 'e.g. 000003, 92020005')
      .option('--direction <dir>', 'in (marketplace → us) or out (us → marketplace)')
      .option('--search <ref>', 'code, order id, event id or license id')
      .option('--since <date>', 'at or after')
      .option('--include-test', 'include marketplace debug traffic'),
  ).action(run((s, opts: Record<string, unknown>) => messagesList(s, opts)));

  const outbox = program.command('outbox').description('queued calls to the marketplace');
  listOptions(
    outbox
      .command('list')
      .description('pending, running and failed items (or --status)')
      .option('--status <list>', 'comma-separated: pending,running,done,failed')
      .option('--kind <kind>', 'e.g. license.upload, daily.query'),
  ).action(run((s, opts: Record<string, unknown>) => outboxList(s, opts)));
  outbox
    .command('retry')
    .description('try a failed item again now')
    .argument('<id>', 'outbox item id')
    .action(run((s, id: string) => outboxRetry(s, id)));

  const audit = program.command('audit').description('who changed what');
  listOptions(
    audit
      .command('list')
      .description('newest first')
      .option('--entitlement <id>', 'license id')
      .option('--actor <actor>', 'e.g. cli:alice, admin:tok_…, system:daily')
      .option('--action <action>', 'e.g. entitlement.suspended')
      .option('--search <text>', 'action, actor or detail contains this')
      .option('--since <date>', 'at or after')
      .option('--include-test', 'include entries of test licenses'),
  ).action(run((s, opts: Record<string, unknown>) => auditList(s, opts)));
}
