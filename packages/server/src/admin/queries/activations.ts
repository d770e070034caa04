import { z } from 'zod';
import type { Storage } from '../../db/storage';
import type { Row } from '../../db/types';
import { resolveCode } from '../../licensing/activate';
import { type ActivationRow, type ActivationView, activationView } from '../../licensing/activations';
import { add, chunks, type Dataset, paginate, textSearch, type Where, where } from '../pagination';
import { columns, common, exportOptions, instant, listOf, text } from './shared';

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

export const activationExportSchema = activationFilterSchema
  .omit({ limit: true, page: true, cursor: true })
  .extend(exportOptions);
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

/** A listed device row (with its license's code), checked column by column. */
function activationRow(row: Row): ActivationRow & { code: string | null } {
  const c = columns('activation', row);
  return {
    id: c.string('id'),
    entitlement_id: c.string('entitlement_id'),
    code: c.stringOrNull('code'),
    status: c.oneOf('status', ACTIVATION_STATUSES),
    seat: c.numberOrNull('seat'),
    fingerprint: c.string('fingerprint'),
    koogallery_fingerprint: c.stringOrNull('koogallery_fingerprint'),
    device_public_key: c.string('device_public_key'),
    device_key_hash: c.string('device_key_hash'),
    label: c.stringOrNull('label'),
    hostname: c.stringOrNull('hostname'),
    platform: c.stringOrNull('platform'),
    arch: c.stringOrNull('arch'),
    os_version: c.stringOrNull('os_version'),
    app_version: c.stringOrNull('app_version'),
    virtual: c.number('virtual'),
    user_id: c.stringOrNull('user_id'),
    offline: c.number('offline'),
    lease_expires_at: c.stringOrNull('lease_expires_at'),
    created_at: c.string('created_at'),
    last_seen_at: c.string('last_seen_at'),
    released_at: c.stringOrNull('released_at'),
    released_by: c.stringOrNull('released_by'),
  };
}

// The license's code and test flag are looked up for the rows of a page only; counting needs no join.
const activations: Dataset<ActivationItem> = {
  from: 'activations a',
  select: `a.*, (SELECT e.code FROM entitlements e WHERE e.id = a.entitlement_id) AS code,
    (SELECT e.test FROM entitlements e WHERE e.id = a.entitlement_id) AS test`,
  sort: ['a.seq'],
  map: (row) => ({
    ...activationView(activationRow(row)),
    // NULL only if the license row were gone; such a device is not test data.
    test: columns('activation', row).flagOrFalse('test'),
  }),
};

async function activationWhere(db: Storage, f: Omit<ActivationFilter, 'limit' | 'page' | 'cursor'>): Promise<Where> {
  const w = where();
  // One primary-key lookup per device examined: a page (and the capped count) examines a bounded number of
  // devices, while a set of test licenses built per query would scan the whole licenses table every time.
  if (!f.includeTest) {
    add(w, 'NOT EXISTS (SELECT 1 FROM entitlements t WHERE t.id = a.entitlement_id AND t.test = 1)');
  }
  if (f.entitlementId) add(w, 'a.entitlement_id = ?', f.entitlementId);
  // A code as people type it (any case, dashes, a known prefix) resolves like the activation API does.
  if (f.code) add(w, 'a.entitlement_id = ?', (await resolveCode(db, f.code))?.id ?? null);
  if (f.status) add(w, `a.status IN (${f.status.map(() => '?').join(', ')})`, ...f.status);
  if (f.since) add(w, 'a.created_at >= ?', f.since);
  if (f.seenSince) add(w, 'a.last_seen_at >= ?', f.seenSince);
  if (f.q) {
    add(w, ...textSearch(db.dialect, ['a.id', 'a.label', 'a.hostname', 'a.user_id'], f.q));
  }
  return w;
}

export const listActivationsPage = async (db: Storage, f: ActivationFilter) =>
  paginate(db, activations, await activationWhere(db, f), f);
export const exportActivations = async (db: Storage, f: Omit<ActivationFilter, 'limit' | 'page' | 'cursor'>) =>
  chunks(db, activations, await activationWhere(db, f));

/** Every device of one entitlement (active first, then by age) for the detail view. */
export const activationsOf = async (db: Storage, entitlementId: string): Promise<ActivationView[]> =>
  (
    await db.all<ActivationRow & { code: string | null }>(
      `SELECT a.*, e.code AS code FROM activations a JOIN entitlements e ON e.id = a.entitlement_id
        WHERE a.entitlement_id = ? ORDER BY a.status != 'active', a.created_at, a.id`,
      [entitlementId],
    )
  ).map(activationView);
