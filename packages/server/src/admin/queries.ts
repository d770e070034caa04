import { z } from 'zod';
import type { Db, Row } from '../db/database';
import { resolveCode } from '../licensing/activate';
import { type ActivationRow, type ActivationView, activationView } from '../licensing/activations';
import type { EntitlementRow } from '../licensing/entitlements';
import type { OutboxItem } from '../outbox/outbox';
import { add, chunks, count, type Dataset, likeAnywhere, pageSchema, paginate, type Where, where } from './pagination';

/**
 * The operators' read side: one filter schema, one dataset and one view per listing. The admin API and
 * the CLI both go through these, so a filter means the same thing everywhere. Marketplace debug traffic
 * (`test = 1`) is left out of every listing, count and export unless `includeTest=true`.
 */

// ---------------------------------------------------------------------------------------------- inputs

const bool = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])])
  .transform((v) => v === true || v === 'true' || v === '1' || v === 'yes');

/** An ISO date (`2025-01-31`, UTC midnight) or date-time; normalised to the stored ISO form. */
const instant = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()], { error: 'expected an ISO date or date-time' })
  .transform((s) => new Date(s).toISOString());

/** `a,b` or repeated `?x=a&x=b` → ['a','b'], each checked against the allowed values. */
const listOf = <T extends readonly [string, ...string[]]>(values: T) =>
  z
    .union([z.string(), z.array(z.string())])
    .transform((v) =>
      (Array.isArray(v) ? v : [v])
        .flatMap((s) => s.split(','))
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(values)).min(1).max(values.length));

const text = (max: number) => z.string().trim().min(1).max(max);

export const ENTITLEMENT_STATUSES = [
  'provisioning',
  'active',
  'frozen',
  'expired',
  'suspended',
  'revoked',
  'released',
] as const;
export const FAMILIES = ['A', 'B', 'C', 'direct'] as const;
export const OUTBOX_STATUSES = ['pending', 'running', 'done', 'failed'] as const;

const common = { ...pageSchema, includeTest: bool.default(false) };

export const entitlementFilterSchema = z
  .object({
    ...common,
    status: listOf(ENTITLEMENT_STATUSES).optional(),
    family: listOf(FAMILIES).optional(),
    productId: text(64).optional(),
    q: text(200).optional(),
    since: instant.optional(),
    expiresBefore: instant.optional(),
  })
  .strict();
export type EntitlementFilter = z.infer<typeof entitlementFilterSchema>;

export const ACTIVATION_STATUSES = ['active', 'lapsed', 'released'] as const;

export const activationFilterSchema = z
  .object({
    ...common,
    entitlementId: text(128).optional(),
    code: text(64).optional(),
    status: listOf(ACTIVATION_STATUSES).optional(),
    q: text(200).optional(),
    since: instant.optional(),
    seenSince: instant.optional(),
  })
  .strict();
export type ActivationFilter = z.infer<typeof activationFilterSchema>;

export const orderFilterSchema = z.object({ ...common, q: text(200).optional(), since: instant.optional() }).strict();
export type OrderFilter = z.infer<typeof orderFilterSchema>;

export const auditFilterSchema = z
  .object({
    ...common,
    entitlementId: text(128).optional(),
    activationId: text(128).optional(),
    actor: text(200).optional(),
    action: text(200).optional(),
    q: text(200).optional(),
    since: instant.optional(),
  })
  .strict();
export type AuditFilter = z.infer<typeof auditFilterSchema>;

export const messageFilterSchema = z
  .object({
    ...common,
    direction: z.enum(['in', 'out']).optional(),
    activity: text(100).optional(),
    resultCode: text(32).optional(),
    failed: bool.optional(),
    q: text(200).optional(),
    since: instant.optional(),
  })
  .strict();
export type MessageFilter = z.infer<typeof messageFilterSchema>;

export const outboxFilterSchema = z
  .object({
    ...pageSchema,
    status: listOf(OUTBOX_STATUSES).optional(),
    kind: text(100).optional(),
  })
  .strict();
export type OutboxFilter = z.infer<typeof outboxFilterSchema>;

export const summaryFilterSchema = z.object({ includeTest: bool.default(false) }).strict();

/** Export = the listing's filters without paging, plus the output format. */
const exportOptions = {
  format: z.enum(['csv', 'json']).default('json'),
  bom: bool.default(false),
};
export const entitlementExportSchema = entitlementFilterSchema
  .omit({ limit: true, page: true, cursor: true })
  .extend(exportOptions);
export const activationExportSchema = activationFilterSchema
  .omit({ limit: true, page: true, cursor: true })
  .extend(exportOptions);
export const messageExportSchema = messageFilterSchema
  .omit({ limit: true, page: true, cursor: true })
  .extend(exportOptions);

// ----------------------------------------------------------------------------------------------- views

const bit = (v: unknown) => v === 1 || v === true;
const parseJson = (v: unknown): unknown => {
  if (typeof v !== 'string') return v ?? null;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
};

export function entitlementView(row: Row | EntitlementRow) {
  const r = row as Row;
  return {
    id: r.id as string,
    family: r.family as string,
    code: (r.code as string | null) ?? null,
    status: r.status as string,
    productId: (r.product_id as string | null) ?? null,
    skuCode: (r.sku_code as string | null) ?? null,
    edition: (r.edition as string | null) ?? null,
    seats: r.seats as number,
    customerId: (r.customer_id as string | null) ?? null,
    customerName: (r.customer_name as string | null) ?? null,
    orderId: (r.order_id as string | null) ?? null,
    orderLineId: (r.order_line_id as string | null) ?? null,
    chargingMode: (r.charging_mode as string | null) ?? null,
    periodType: (r.period_type as string | null) ?? null,
    periodNumber: (r.period_number as number | null) ?? null,
    startsAt: (r.starts_at as string | null) ?? null,
    expiresAt: (r.expires_at as string | null) ?? null,
    policy: r.policy ? parseJson(r.policy) : null,
    test: bit(r.test),
    createdAt: r.created_at as string,
    updatedAt: r.updated_at as string,
  };
}
export type EntitlementView = ReturnType<typeof entitlementView>;
export const ENTITLEMENT_COLUMNS: (keyof EntitlementView)[] = [
  'id',
  'family',
  'code',
  'status',
  'productId',
  'skuCode',
  'edition',
  'seats',
  'customerId',
  'customerName',
  'orderId',
  'orderLineId',
  'chargingMode',
  'periodType',
  'periodNumber',
  'startsAt',
  'expiresAt',
  'policy',
  'test',
  'createdAt',
  'updatedAt',
];

export function codeRowView(r: Row) {
  return {
    code: r.code as string,
    entitlementId: r.id as string,
    family: r.family as string,
    status: r.status as string,
    productId: (r.product_id as string | null) ?? null,
    seats: r.seats as number,
    expiresAt: (r.expires_at as string | null) ?? null,
    lastUsedDay: (r.last_used_day as string | null) ?? null,
    test: bit(r.test),
    createdAt: r.created_at as string,
    updatedAt: r.updated_at as string,
  };
}

export function orderView(r: Row) {
  return {
    orderId: r.order_id as string,
    orderLineId: r.order_line_id as string,
    orderType: (r.order_type as string | null) ?? null,
    entitlementId: (r.entitlement_id as string | null) ?? null,
    receivedAt: (r.received_at as string | null) ?? null,
    fetchedAt: (r.fetched_at as string | null) ?? null,
    appliedAt: (r.applied_at as string | null) ?? null,
    outcome: (r.outcome as string | null) ?? null,
    test: bit(r.test),
    info: r.info ? parseJson(r.info) : null,
  };
}

export function auditView(r: Row) {
  return {
    id: r.id as number,
    at: r.at as string,
    actor: r.actor as string,
    action: r.action as string,
    entitlementId: (r.entitlement_id as string | null) ?? null,
    activationId: (r.activation_id as string | null) ?? null,
    before: parseJson(r.before),
    after: parseJson(r.after),
    detail: parseJson(r.detail),
  };
}
export type AuditView = ReturnType<typeof auditView>;

/** Result codes that mean the call did what it was asked (production interface and open APIs). */
export const SUCCESS_RESULT_CODES = ['000000', '000004', '92020000', 'CBC.0000', 'MKT.0000'] as const;
const FAILED_SQL = `(error IS NOT NULL OR http_status >= 400 OR (result_code IS NOT NULL AND result_code != '' AND result_code NOT IN (${SUCCESS_RESULT_CODES.map(
  (c) => `'${c}'`,
).join(', ')})))`;

export function messageView(r: Row) {
  return {
    id: r.id as number,
    at: r.created_at as string,
    direction: r.direction as 'in' | 'out',
    activity: r.activity as string,
    method: (r.method as string | null) ?? null,
    path: (r.path as string | null) ?? null,
    resultCode: (r.result_code as string | null) ?? null,
    httpStatus: (r.http_status as number | null) ?? null,
    latencyMs:
      r.latency_ms === null || r.latency_ms === undefined ? null : Math.round((r.latency_ms as number) * 10) / 10,
    failed: bit(r.failed),
    error: (r.error as string | null) ?? null,
    entitlementId: (r.entitlement_id as string | null) ?? null,
    orderId: (r.order_id as string | null) ?? null,
    code: (r.code as string | null) ?? null,
    eventId: (r.event_id as string | null) ?? null,
    outboxId: (r.outbox_id as number | null) ?? null,
    test: bit(r.test),
  };
}
export type MessageView = ReturnType<typeof messageView>;
export const MESSAGE_COLUMNS: (keyof MessageView)[] = [
  'id',
  'at',
  'direction',
  'activity',
  'method',
  'path',
  'resultCode',
  'httpStatus',
  'latencyMs',
  'failed',
  'error',
  'entitlementId',
  'orderId',
  'code',
  'eventId',
  'outboxId',
  'test',
];

export function outboxView(r: Row | OutboxItem) {
  const o = r as OutboxItem;
  return {
    id: o.id,
    kind: o.kind,
    status: o.status,
    attempts: o.attempts,
    nextAttemptAt: o.status === 'done' ? null : new Date(o.next_attempt_at).toISOString(),
    lastError: o.last_error,
    dedupeKey: o.dedupe_key,
    payload: parseJson(o.payload),
    createdAt: o.created_at,
    updatedAt: o.updated_at,
  };
}

// -------------------------------------------------------------------------------------------- datasets

/*
 * Licenses and devices are listed newest first in the order they were created: by rowid, which SQLite
 * assigns in insertion order and walks backwards on the table itself, so a page, a cursor and every export
 * chunk cost a few index steps instead of sorting the whole table (no created_at index is needed).
 */
const entitlements: Dataset<EntitlementView> = {
  from: 'entitlements',
  select: '*, rowid AS rowid',
  sort: ['rowid'],
  map: entitlementView,
};

function entitlementWhere(f: Omit<EntitlementFilter, 'limit' | 'page' | 'cursor'>): Where {
  const w = where();
  if (!f.includeTest) add(w, 'test = 0');
  if (f.status) add(w, `status IN (${f.status.map(() => '?').join(', ')})`, ...f.status);
  if (f.family) add(w, `family IN (${f.family.map(() => '?').join(', ')})`, ...f.family);
  if (f.productId) add(w, 'product_id = ?', f.productId);
  if (f.since) add(w, 'created_at >= ?', f.since);
  if (f.expiresBefore) add(w, 'expires_at IS NOT NULL AND expires_at < ?', f.expiresBefore);
  if (f.q) {
    const p = likeAnywhere(f.q);
    add(
      w,
      `id LIKE ? ESCAPE '\\' OR code LIKE ? ESCAPE '\\' OR order_id LIKE ? ESCAPE '\\' OR customer_id LIKE ? ESCAPE '\\'
       OR customer_name LIKE ? ESCAPE '\\' OR product_id LIKE ? ESCAPE '\\' OR sku_code LIKE ? ESCAPE '\\'`,
      p,
      p,
      p,
      p,
      p,
      p,
      p,
    );
  }
  return w;
}

export const listEntitlements = (db: Db, f: EntitlementFilter) => paginate(db, entitlements, entitlementWhere(f), f);
export const exportEntitlements = (db: Db, f: Omit<EntitlementFilter, 'limit' | 'page' | 'cursor'>) =>
  chunks(db, entitlements, entitlementWhere(f));

export type ActivationItem = ActivationView & { test: boolean };
export const ACTIVATION_COLUMNS: (keyof ActivationItem)[] = [
  'id',
  'entitlementId',
  'code',
  'status',
  'seat',
  'label',
  'hostname',
  'platform',
  'arch',
  'osVersion',
  'appVersion',
  'virtual',
  'user',
  'offline',
  'kooGalleryFingerprint',
  'leaseExpiresAt',
  'createdAt',
  'lastSeenAt',
  'releasedAt',
  'releasedBy',
  'test',
];

// The license's code and test flag are looked up for the rows of a page only; counting needs no join.
const activations: Dataset<ActivationItem> = {
  from: 'activations a',
  select: `a.*, a.rowid AS rowid, (SELECT e.code FROM entitlements e WHERE e.id = a.entitlement_id) AS code,
    (SELECT e.test FROM entitlements e WHERE e.id = a.entitlement_id) AS test`,
  sort: ['a.rowid'],
  map: (r) => ({ ...activationView(r as unknown as ActivationRow & { code: string | null }), test: bit(r.test) }),
};

function activationWhere(db: Db, f: Omit<ActivationFilter, 'limit' | 'page' | 'cursor'>): Where {
  const w = where();
  // Test licenses are few: one small set built per query beats a lookup per device.
  if (!f.includeTest) add(w, 'a.entitlement_id NOT IN (SELECT id FROM entitlements WHERE test = 1)');
  if (f.entitlementId) add(w, 'a.entitlement_id = ?', f.entitlementId);
  // A code as people type it (any case, dashes, a known prefix) resolves like the activation API does.
  if (f.code) add(w, 'a.entitlement_id = ?', resolveCode(db, f.code)?.id ?? null);
  if (f.status) add(w, `a.status IN (${f.status.map(() => '?').join(', ')})`, ...f.status);
  if (f.since) add(w, 'a.created_at >= ?', f.since);
  if (f.seenSince) add(w, 'a.last_seen_at >= ?', f.seenSince);
  if (f.q) {
    const p = likeAnywhere(f.q);
    add(
      w,
      `a.id LIKE ? ESCAPE '\\' OR a.label LIKE ? ESCAPE '\\' OR a.hostname LIKE ? ESCAPE '\\' OR a.user_id LIKE ? ESCAPE '\\'`,
      p,
      p,
      p,
      p,
    );
  }
  return w;
}

export const listActivationsPage = (db: Db, f: ActivationFilter) =>
  paginate(db, activations, activationWhere(db, f), f);
export const exportActivations = (db: Db, f: Omit<ActivationFilter, 'limit' | 'page' | 'cursor'>) =>
  chunks(db, activations, activationWhere(db, f));

/** Every device of one entitlement (active first, then by age) for the detail view. */
export const activationsOf = (db: Db, entitlementId: string): ActivationView[] =>
  db
    .all<ActivationRow & { code: string | null }>(
      `SELECT a.*, e.code AS code FROM activations a JOIN entitlements e ON e.id = a.entitlement_id
        WHERE a.entitlement_id = ? ORDER BY a.status != 'active', a.created_at, a.id`,
      [entitlementId],
    )
    .map(activationView);

const codes: Dataset<ReturnType<typeof codeRowView>> = {
  from: 'entitlements',
  select: '*, rowid AS rowid, (SELECT MAX(day) FROM code_usage u WHERE u.code = entitlements.code) AS last_used_day',
  sort: ['rowid'],
  map: codeRowView,
};

export function listCodes(db: Db, f: EntitlementFilter) {
  const w = entitlementWhere(f);
  add(w, 'code IS NOT NULL');
  return paginate(db, codes, w, f);
}

// Orders are known from two tables: fetched through the order-query API, and notified by the marketplace.
const ORDERS_FROM = `(
  SELECT k.order_id, k.order_line_id, o.order_type, o.info, o.fetched_at, n.received_at, n.applied_at, n.outcome,
    COALESCE(n.received_at, o.fetched_at) AS at,
    (SELECT e.id FROM entitlements e WHERE e.order_id = k.order_id
       AND (e.order_line_id = k.order_line_id OR e.order_line_id IS NULL) LIMIT 1) AS entitlement_id,
    MAX(COALESCE(n.test, 0), COALESCE((SELECT MAX(e.test) FROM entitlements e WHERE e.order_id = k.order_id), 0)) AS test
  FROM (SELECT order_id, order_line_id FROM orders UNION SELECT order_id, order_line_id FROM order_notifications) k
  LEFT JOIN orders o ON o.order_id = k.order_id AND o.order_line_id = k.order_line_id
  LEFT JOIN order_notifications n ON n.order_id = k.order_id AND n.order_line_id = k.order_line_id
) ord`;

const orders: Dataset<ReturnType<typeof orderView>> = {
  from: ORDERS_FROM,
  select: '*',
  sort: ['at', 'order_id', 'order_line_id'],
  map: orderView,
};

export function listOrders(db: Db, f: OrderFilter) {
  const w = where();
  if (!f.includeTest) add(w, 'test = 0');
  if (f.since) add(w, 'at >= ?', f.since);
  if (f.q) {
    const p = likeAnywhere(f.q);
    add(
      w,
      `order_id LIKE ? ESCAPE '\\' OR order_line_id LIKE ? ESCAPE '\\' OR entitlement_id LIKE ? ESCAPE '\\'`,
      p,
      p,
      p,
    );
  }
  return paginate(db, orders, w, f);
}

const auditLog: Dataset<AuditView> = { from: 'audit_log', select: '*', sort: ['id'], map: auditView };

function auditWhere(f: Omit<AuditFilter, 'limit' | 'page' | 'cursor'>): Where {
  const w = where();
  if (!f.includeTest) {
    add(w, 'NOT EXISTS (SELECT 1 FROM entitlements e WHERE e.id = audit_log.entitlement_id AND e.test = 1)');
  }
  if (f.entitlementId) add(w, 'entitlement_id = ?', f.entitlementId);
  if (f.activationId) add(w, 'activation_id = ?', f.activationId);
  if (f.actor) add(w, 'actor = ?', f.actor);
  if (f.action) add(w, 'action = ?', f.action);
  if (f.since) add(w, 'at >= ?', f.since);
  if (f.q) {
    const p = likeAnywhere(f.q);
    add(w, `action LIKE ? ESCAPE '\\' OR actor LIKE ? ESCAPE '\\' OR detail LIKE ? ESCAPE '\\'`, p, p, p);
  }
  return w;
}

export const listAudit = (db: Db, f: AuditFilter) => paginate(db, auditLog, auditWhere(f), f);

const messages: Dataset<MessageView> = {
  from: 'marketplace_messages',
  select: `*, ${FAILED_SQL} AS failed`,
  sort: ['id'],
  map: messageView,
};

function messageWhere(f: Omit<MessageFilter, 'limit' | 'page' | 'cursor'>): Where {
  const w = where();
  if (!f.includeTest) add(w, 'test = 0');
  if (f.direction) add(w, 'direction = ?', f.direction);
  if (f.activity) add(w, 'activity = ?', f.activity);
  if (f.resultCode) add(w, 'result_code = ?', f.resultCode);
  if (f.failed === true) add(w, FAILED_SQL);
  if (f.failed === false) add(w, `NOT ${FAILED_SQL}`);
  if (f.since) add(w, 'created_at >= ?', f.since);
  if (f.q) add(w, 'code = ? OR order_id = ? OR event_id = ? OR entitlement_id = ?', f.q, f.q, f.q, f.q);
  return w;
}

export const listMessages = (db: Db, f: MessageFilter) => paginate(db, messages, messageWhere(f), f);
export const exportMessages = (db: Db, f: Omit<MessageFilter, 'limit' | 'page' | 'cursor'>) =>
  chunks(db, messages, messageWhere(f));

const outbox: Dataset<ReturnType<typeof outboxView>> = { from: 'outbox', select: '*', sort: ['id'], map: outboxView };

export function listOutbox(db: Db, f: OutboxFilter) {
  const w = where();
  // By default what an operator has to look at: work not yet done.
  const statuses = f.status ?? ['pending', 'running', 'failed'];
  add(w, `status IN (${statuses.map(() => '?').join(', ')})`, ...statuses);
  if (f.kind) add(w, 'kind = ?', f.kind);
  return paginate(db, outbox, w, f);
}

/** Recent audit trail of one entitlement (newest first). */
export const auditTrail = (db: Db, entitlementId: string, limit = 100): AuditView[] =>
  db
    .all<Row>('SELECT * FROM audit_log WHERE entitlement_id = ? ORDER BY id DESC LIMIT ?', [entitlementId, limit])
    .map(auditView);

/** Counts for a dashboard: test data excluded unless asked for. */
export function summary(db: Db, opts: { includeTest: boolean; now: Date }) {
  const testClause = opts.includeTest ? '' : 'WHERE test = 0';
  // One sequential scan for both breakdowns (through the status index it would be a random read per row).
  const groups = db.all<{ status: string; family: string; n: number }>(
    `SELECT status, family, COUNT(*) AS n FROM entitlements NOT INDEXED ${testClause} GROUP BY status, family`,
  );
  const tally = (key: 'status' | 'family') => {
    const out: Record<string, number> = {};
    for (const g of groups) out[g[key]] = (out[g[key]] ?? 0) + g.n;
    return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
  };
  const since = new Date(opts.now.getTime() - 86_400_000).toISOString();
  const msgWhere = where();
  if (!opts.includeTest) add(msgWhere, 'test = 0');
  add(msgWhere, 'created_at >= ?', since);
  const messagesLastDay = count(db, { from: 'marketplace_messages' }, msgWhere);
  add(msgWhere, FAILED_SQL);
  const failedMessagesLastDay = count(db, { from: 'marketplace_messages' }, msgWhere);
  return {
    entitlements: {
      total: groups.reduce((sum, g) => sum + g.n, 0),
      byStatus: tally('status'),
      byFamily: tally('family'),
    },
    messagesLastDay,
    failedMessagesLastDay,
  };
}
