import type { DeviceSummary, HashedComponents } from '@licensor/shared';
import type { Storage } from '../db/storage';
import type { EntitlementRow } from './entitlements';

export type ActivationStatus = 'active' | 'lapsed' | 'released';

/** A device bound to an entitlement (table `activations`). */
export interface ActivationRow {
  id: string;
  entitlement_id: string;
  status: ActivationStatus;
  seat: number | null;
  fingerprint: string;
  koogallery_fingerprint: string | null;
  device_public_key: string;
  device_key_hash: string;
  label: string | null;
  hostname: string | null;
  platform: string | null;
  arch: string | null;
  os_version: string | null;
  app_version: string | null;
  virtual: number;
  user_id: string | null;
  offline: number;
  lease_expires_at: string | null;
  created_at: string;
  last_seen_at: string;
  released_at: string | null;
  released_by: string | null;
}

/** What operators see of an activation (the admin API and CLI list these). No fingerprint hashes. */
export interface ActivationView {
  id: string;
  entitlementId: string;
  code: string | null;
  status: ActivationStatus;
  seat: number | null;
  label: string | null;
  hostname: string | null;
  platform: string | null;
  arch: string | null;
  osVersion: string | null;
  appVersion: string | null;
  virtual: boolean;
  user: string | null;
  offline: boolean;
  /** Whether the device sent a KooGallery-form fingerprint (the value itself is not shown). */
  kooGalleryFingerprint: boolean;
  leaseExpiresAt: string | null;
  createdAt: string;
  lastSeenAt: string;
  releasedAt: string | null;
  releasedBy: string | null;
}

export const findActivation = (db: Storage, id: string): Promise<ActivationRow | undefined> =>
  db.first<ActivationRow>('SELECT * FROM activations WHERE id = ?', [id]);

/** Devices holding a seat of an entitlement, oldest first. */
export const activeActivations = (db: Storage, entitlementId: string): Promise<ActivationRow[]> =>
  db.all<ActivationRow>(
    `SELECT * FROM activations WHERE entitlement_id = ? AND status = 'active' ORDER BY created_at, id`,
    [entitlementId],
  );

export const parseComponents = (row: Pick<ActivationRow, 'fingerprint'>): HashedComponents =>
  JSON.parse(row.fingerprint) as HashedComponents;

export function deviceSummary(row: ActivationRow, currentId?: string): DeviceSummary {
  const summary: DeviceSummary = {
    id: row.id,
    label: row.label,
    hostname: row.hostname,
    platform: row.platform,
    lastSeenAt: row.last_seen_at,
    firstSeenAt: row.created_at,
  };
  if (currentId !== undefined) summary.current = row.id === currentId;
  return summary;
}

export function activationView(row: ActivationRow & { code?: string | null }): ActivationView {
  return {
    id: row.id,
    entitlementId: row.entitlement_id,
    code: row.code ?? null,
    status: row.status,
    seat: row.seat,
    label: row.label,
    hostname: row.hostname,
    platform: row.platform,
    arch: row.arch,
    osVersion: row.os_version,
    appVersion: row.app_version,
    virtual: row.virtual === 1,
    user: row.user_id,
    offline: row.offline === 1,
    kooGalleryFingerprint: row.koogallery_fingerprint !== null,
    leaseExpiresAt: row.lease_expires_at,
    createdAt: row.created_at,
    lastSeenAt: row.last_seen_at,
    releasedAt: row.released_at,
    releasedBy: row.released_by,
  };
}

/**
 * The lowest free seat slot below `limit`, or null when `limit` seats are taken. Slots above a lowered limit
 * stay with their devices until freed, but are never handed out again.
 */
export async function freeSeatSlot(db: Storage, entitlementId: string, limit: number): Promise<number | null> {
  const taken = await db.all<{ seat: number }>(
    `SELECT seat FROM activations WHERE entitlement_id = ? AND seat IS NOT NULL ORDER BY seat`,
    [entitlementId],
  );
  if (taken.length >= limit) return null;
  let slot = 0;
  for (const { seat } of taken) {
    if (seat > slot) break;
    if (seat === slot) slot++;
  }
  return slot < limit ? slot : null;
}

/**
 * Floating seats whose lease ran out lose their slot (status `lapsed`); the device may take a seat again at
 * its next check-in if one is free. Returns how many lapsed. `entitlementId` limits the cull to one license.
 */
export async function cullLapsedLeases(db: Storage, now: Date, entitlementId?: string): Promise<number> {
  const at = now.toISOString();
  const r = entitlementId
    ? await db.run(
        `UPDATE activations SET status = 'lapsed', seat = NULL
         WHERE entitlement_id = ? AND status = 'active' AND lease_expires_at IS NOT NULL AND lease_expires_at <= ?`,
        [entitlementId, at],
      )
    : await db.run(
        `UPDATE activations SET status = 'lapsed', seat = NULL
         WHERE status = 'active' AND lease_expires_at IS NOT NULL AND lease_expires_at <= ?`,
        [at],
      );
  return r.changes;
}

/**
 * Installs (data folders, each with its own device key) one machine may hold under one activation; binding
 * another drops the oldest install's key (its folder was most likely deleted or reinstalled over).
 */
export const MAX_KEYS_PER_ACTIVATION = 8;

/** A device key of an activation: one per install on the machine (table `activation_keys`). */
export interface ActivationKeyRow {
  key_hash: string;
  public_key: string;
}

/** The activation's device keys, newest first. */
export const activationKeys = (db: Storage, activationId: string): Promise<ActivationKeyRow[]> =>
  db.all<ActivationKeyRow>(
    'SELECT key_hash, public_key FROM activation_keys WHERE activation_id = ? ORDER BY created_at DESC, key_hash',
    [activationId],
  );

/**
 * Records an install's device key for an activation (a no-op for a known key) and keeps at most
 * MAX_KEYS_PER_ACTIVATION, dropping the oldest others. Returns whether the key is new. Call inside a transaction.
 */
export async function addActivationKey(
  db: Storage,
  activationId: string,
  key: { hash: string; publicKey: string },
  now: Date,
): Promise<boolean> {
  const added =
    (
      await db.run(
        'INSERT INTO activation_keys (activation_id, key_hash, public_key, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
        [activationId, key.hash, key.publicKey, now.toISOString()],
      )
    ).changes === 1;
  if (added) {
    await db.run(
      `DELETE FROM activation_keys WHERE activation_id = ? AND key_hash != ? AND key_hash NOT IN (
         SELECT key_hash FROM activation_keys WHERE activation_id = ? ORDER BY created_at DESC, key_hash LIMIT ?)`,
      [activationId, key.hash, activationId, MAX_KEYS_PER_ACTIVATION],
    );
  }
  return added;
}

/**
 * The key of a new activation's one install: like addActivationKey, without its conflict check and pruning (an
 * activation created in this transaction has no other key). Call inside the transaction that created it.
 */
export async function addFirstActivationKey(
  db: Storage,
  activationId: string,
  key: { hash: string; publicKey: string },
  now: Date,
): Promise<void> {
  await db.run('INSERT INTO activation_keys (activation_id, key_hash, public_key, created_at) VALUES (?, ?, ?, ?)', [
    activationId,
    key.hash,
    key.publicKey,
    now.toISOString(),
  ]);
}

/** A device gained a seat (a new activation) or gave one back (released), as activationChanged hears it. */
export interface ActivationChange {
  type: 'created' | 'released';
  activation: ActivationRow;
  /** The activation's entitlement when the caller has it at hand (read in the same transaction): not read again. */
  entitlement?: Pick<EntitlementRow, 'code' | 'product_id' | 'test'>;
  actor: string;
  at: Date;
}

/** Where activation changes go: the database, and the port that hears each one (LicensingPorts). */
export interface ActivationWriter {
  db: Storage;
  activationChanged(db: Storage, change: ActivationChange): Promise<void>;
  /** The injectable clock (ctx.now). */
  now(): Date;
}

/**
 * Marks an activation released (its seat, if it held one, is free again) and tells the activationChanged port.
 * False when it was already released. Call inside a transaction.
 */
export async function releaseActivation(w: ActivationWriter, id: string, actor: string, now: Date): Promise<boolean> {
  const released =
    (
      await w.db.run(
        `UPDATE activations SET status = 'released', seat = NULL, released_at = ?, released_by = ?
       WHERE id = ? AND status != 'released'`,
        [now.toISOString(), actor, id],
      )
    ).changes === 1;
  if (released)
    await w.activationChanged(w.db, {
      type: 'released',
      activation: (await findActivation(w.db, id))!,
      actor,
      at: now,
    });
  return released;
}

export interface ActivationFilter {
  /** Entitlement id (instanceId / code for family B). */
  entitlementId?: string;
  /** License code as typed (normalised like the activation API does). */
  code?: string;
  status?: ActivationStatus | 'all';
  /** Case-insensitive substring of label, hostname, user or activation id. */
  q?: string;
  /** Only devices seen at or after this time (ISO). */
  seenSince?: string;
  limit?: number;
  offset?: number;
}
