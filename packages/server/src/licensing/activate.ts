import { randomFillSync } from 'node:crypto';
import {
  type activateRequestSchema,
  devicePublicKeyHash,
  formatKooGalleryFingerprint,
  type HashedComponents,
  importDevicePublicKey,
  isValidLicenseCode,
  type LicensePayload,
  LicensorError,
  licenseCodeKind,
  matchFingerprint,
  normalizeLicenseCode,
  parseKooGalleryFingerprint,
} from '@licensor/shared';
import type { z } from 'zod';
import { todayUtc } from '../calendar';
import { inTx, type Storage } from '../db/storage';
import {
  type ActivationRow,
  activeActivations,
  addActivationKey,
  addFirstActivationKey,
  cullLapsedLeases,
  deviceSummary,
  parseComponents,
} from './activations';
import type { LicensingContext } from './context';
import { audit, type EntitlementRow, findEntitlement, findEntitlementByCode } from './entitlements';
import { buildPayload } from './issue';
import { type Policy, policyFor, seatLimit } from './policy';
import { signLicenseFileAsync } from './signing';
import { fileStatusOf, type Verdict, verdictMessage, verdictOf } from './verdict';

export type ActivationInput = z.output<typeof activateRequestSchema>;

const MINUTE = 60_000;

/**
 * Finds the entitlement a typed code names: an LSR code (normalised, so look-alike characters and missing
 * dashes still match), a marketplace `PL…` code, or a family-C instance id.
 */
export async function resolveCode(db: Storage, typed: string): Promise<EntitlementRow | undefined> {
  const raw = typed.trim();
  const ent = (await findEntitlementByCode(db, normalizeLicenseCode(raw))) ?? (await findEntitlementByCode(db, raw));
  if (ent) return ent;
  const instance = await findEntitlement(db, raw);
  return instance?.family === 'C' ? instance : undefined;
}

/**
 * Like resolveCode, but learns an unknown marketplace code from KooGallery (family B first activation). Three
 * different answers for an unknown code: NOT_FOUND when the server can rule it out itself (not a marketplace
 * code: an LSR code it never minted, a mistyped one, anything else); MARKETPLACE_NOT_CONFIGURED when it is a
 * marketplace code but this server has no open-API credentials to ask (the vendor's configuration, not worth a
 * retry); only a marketplace that does not answer is MARKETPLACE_UNAVAILABLE ("try again later").
 */
export async function resolveCodeForActivation(ctx: LicensingContext, typed: string): Promise<EntitlementRow> {
  const ent = await resolveCode(ctx.db, typed);
  if (ent) return ent;
  const code = normalizeLicenseCode(typed);
  const kind = licenseCodeKind(code);
  if (kind === 'marketplace') {
    if (!ctx.marketplaceCodes.configured) {
      ctx.log.warn(
        { code },
        'a KooGallery code was typed but LICENSOR_KOO_AK/SK are not set, so it cannot be confirmed; set them',
      );
      throw new LicensorError(
        'MARKETPLACE_NOT_CONFIGURED',
        'This license server cannot confirm KooGallery license codes: the vendor has not configured its marketplace credentials. This is not a problem with your code; contact the vendor (trying again will not help until they fix it).',
      );
    }
    return ctx.marketplaceCodes.learn(code);
  }
  throw new LicensorError(
    'NOT_FOUND',
    kind === 'lsr' && !isValidLicenseCode(code)
      ? 'This code was not recognised: it is not a valid license code (a character is probably mistyped). Check the code in your purchase confirmation and type it again.'
      : 'This code was not recognised. Check the code (it is in your purchase confirmation) and type it again.',
  );
}

/** Throws the verdict that stops a new activation, if any. */
export function assertUsable(ent: EntitlementRow, now: Date): void {
  if (ent.status === 'provisioning') {
    // Family C: the marketplace order is still being fetched (seconds, normally).
    throw new LicensorError(
      'MARKETPLACE_UNAVAILABLE',
      'This license is still being set up after the purchase; try again in a minute.',
    );
  }
  const verdict = verdictOf(ent, now);
  if (verdict !== 'VALID') throw new LicensorError(verdict, verdictMessage(verdict, ent), { status: verdict });
}

/** The file-TTL side of a policy for one device: a floating seat's file lives no longer than its lease. */
function issuingPolicy(policy: Policy, offline: boolean): Policy {
  if (policy.mode !== 'floating' || offline) return policy;
  return { ...policy, fileTtlDays: Math.min(policy.fileTtlDays, policy.leaseMinutes / 1440) };
}

/** The check-in interval a client is told: floating seats must renew well within their lease. */
export function checkInIntervalSeconds(policy: Policy): number {
  const interval = policy.checkInIntervalHours * 3600;
  return Math.round(policy.mode === 'floating' ? Math.min(interval, (policy.leaseMinutes * 60) / 3) : interval);
}

export interface IssueForOptions {
  verdict?: Verdict;
  offline?: boolean;
  /** The moment the caller decided at (a verdict record issued with the file must carry the same time). */
  now?: Date;
}

/** The License claims for one activation: bound to its fingerprint components and device key. */
export async function activationLicensePayload(
  ctx: Pick<LicensingContext, 'db' | 'config' | 'now' | 'licenseModel'>,
  ent: EntitlementRow,
  policy: Policy,
  activation: ActivationRow,
  opts: IssueForOptions = {},
): Promise<LicensePayload> {
  const status = fileStatusOf(opts.verdict ?? 'VALID');
  const offline = opts.offline ?? activation.offline === 1;
  return buildPayload({ ...ent, status }, issuingPolicy(policy, offline), {
    licenseId: activation.id,
    fingerprint: { rule: policy.matchRule, components: parseComponents(activation) },
    deviceKey: activation.device_key_hash,
    offline,
    defaultProductId: ctx.config.productId,
    model: await ctx.licenseModel(ctx.db, ent),
    now: opts.now ?? ctx.now(),
  });
}

export function entitlementSummary(ent: EntitlementRow, policy: Policy) {
  return {
    id: ent.id,
    family: ent.family,
    productId: ent.product_id,
    sku: ent.sku_code,
    edition: ent.edition,
    seats: seatLimit(policy, ent.seats),
    status: ent.status === 'provisioning' ? 'active' : ent.status,
    expiresAt: ent.expires_at,
  };
}

/** Family-B codes used today drive the daily marketplace query and usage report. */
export async function recordCodeUsage(
  db: Storage,
  ent: EntitlementRow,
  activationId: string,
  now: Date,
): Promise<void> {
  if (ent.family !== 'B' || !ent.code) return;
  await db.run('INSERT INTO code_usage (code, day, device) VALUES (?, ?, ?) ON CONFLICT DO NOTHING', [
    ent.code,
    todayUtc(now),
    activationId,
  ]);
}

export interface BindOptions {
  offline: boolean;
  actor?: string;
}

export interface BindResult {
  entitlement: EntitlementRow;
  policy: Policy;
  activation: ActivationRow;
  /** The device already held a seat (or a lapsed floating lease) of this license. */
  reactivated: boolean;
}

/** The device fields of a request, as stored (empty strings are treated as absent). */
function deviceColumns(input: ActivationInput, kooGallery: string | null) {
  const d = input.device ?? {};
  const text = (v: string | undefined) => (v?.trim() ? v.trim() : null);
  return {
    fingerprint: JSON.stringify(input.fingerprint.components),
    koogallery_fingerprint: kooGallery,
    device_public_key: input.devicePublicKey,
    device_key_hash: devicePublicKeyHash(input.devicePublicKey),
    label: text(d.label),
    hostname: text(d.hostname),
    platform: text(d.platform),
    arch: text(d.arch),
    os_version: text(d.osVersion),
    app_version: text(d.appVersion),
    virtual: d.virtual ? 1 : 0,
    user_id: text(input.user),
  };
}

// Every Ed25519 SubjectPublicKeyInfo is this 12-byte header plus the 32-byte key (RFC 8410).
const ED25519_SPKI_HEADER = Buffer.from('302a300506032b6570032100', 'hex');

/** The canonical base64url encoding of an Ed25519 SPKI: a byte check instead of a key import. */
function isEd25519Spki(b64url: string): boolean {
  const der = Buffer.from(b64url, 'base64url');
  return der.length === 44 && der.subarray(0, 12).equals(ED25519_SPKI_HEADER) && der.toString('base64url') === b64url;
}

/** Validates the parts of a request that zod cannot: the key type and the KooGallery fingerprint form. */
export function checkDeviceInput(input: ActivationInput): { kooGallery: string | null } {
  if (!isEd25519Spki(input.devicePublicKey)) {
    importDevicePublicKey(input.devicePublicKey); // throws the precise reason
    throw new LicensorError('INVALID_INPUT', 'devicePublicKey must be the base64url SPKI DER of an Ed25519 key');
  }
  const raw = input.fingerprint.koogallery?.trim();
  if (!raw) return { kooGallery: null };
  try {
    return { kooGallery: formatKooGalleryFingerprint(parseKooGalleryFingerprint(raw)) };
  } catch {
    throw new LicensorError(
      'INVALID_INPUT',
      'fingerprint.koogallery must be MAC|disk|board|CPU as KooGallery defines it; omit it if unsure',
    );
  }
}

/**
 * `act_` + 12 hex digits of milliseconds + 80 random bits: unguessable like a UUID, but ordered by time, so
 * new activations append to the primary-key index instead of dirtying a random page of it on every insert.
 */
export const newActivationId = (now: Date): string =>
  `act_${now.getTime().toString(16).padStart(12, '0')}${randomHex10()}`;

// Random bytes drawn 2.5 kB at a time, each 10 used for one id only (like Node's randomUUID): one randomBytes(10)
// per activation cost ≈ 2.5 µs of CPU, a slice of the pool ≈ 0.1 µs.
const ID_RANDOM = Buffer.alloc(10 * 256);
let idRandomAt = ID_RANDOM.length;
function randomHex10(): string {
  if (idRandomAt === ID_RANDOM.length) {
    randomFillSync(ID_RANDOM);
    idRandomAt = 0;
  }
  const hex = ID_RANDOM.toString('hex', idRandomAt, idRandomAt + 10);
  idRandomAt += 10;
  return hex;
}

/** What bindDevice reads of the license's devices to decide: the seats taken and the fingerprints to match. */
type Candidate = Pick<ActivationRow, 'id' | 'status' | 'seat' | 'fingerprint'>;

/** Like freeSeatSlot, from the activations already read in this transaction. */
function lowestFreeSlot(rows: Candidate[], limit: number): number | null {
  const taken = new Set<number>();
  for (const r of rows) if (r.seat !== null) taken.add(r.seat);
  if (taken.size >= limit) return null;
  for (let slot = 0; slot < limit; slot++) if (!taken.has(slot)) return slot;
  return null;
}

/** The stored device that the submitted fingerprint matches best under the policy's rule. */
function bestMatch(candidates: Candidate[], components: HashedComponents, policy: Policy): Candidate | undefined {
  let best: Candidate | undefined;
  let bestScore = -1;
  for (const row of candidates) {
    const m = matchFingerprint(parseComponents(row), components, policy.matchRule);
    if (!m.match) continue;
    // A device that holds a seat wins over a lapsed one; then the closest match.
    const score = (row.status === 'active' ? 100 : 0) + m.matched.length - m.changed.length;
    if (score > bestScore) {
      best = row;
      bestScore = score;
    }
  }
  return best;
}

/**
 * Binds a device to an entitlement — the seat check and the insert in one write transaction, so concurrent
 * activations can never exceed the limit (and the unique seat slot index would refuse it even across
 * processes). The transaction first locks the entitlement's row (lockRow): activations of one license, on any
 * instance, run one after another from there, each reading the devices the previous one committed, so it may run at
 * READ COMMITTED (ACTIVATION_ISOLATION). A device that already holds a seat (fingerprint match under the policy's rule, so one changed
 * component still counts) is re-activated: same activation and seat, its fingerprint updated, and the request's
 * device key added to the activation's keys — a second install on the machine (another OS user, another data
 * folder) gets its own key beside the first's, so both keep checking in.
 * Call inside a transaction.
 */
export async function bindDevice(
  ctx: Pick<LicensingContext, 'db' | 'now' | 'config' | 'isNamedUserAuthorized' | 'activationChanged'>,
  entitlement: EntitlementKey,
  input: ActivationInput,
  kooGallery: string | null,
  opts: BindOptions,
): Promise<BindResult> {
  const bound = await bindDeviceIfFound(ctx, entitlement, input, kooGallery, opts);
  if (!bound) throw new LicensorError('NOT_FOUND', 'No license with this code');
  return bound;
}

/** Which entitlement bindDevice locks: by its id, or by its (normalised) code, which is unique. */
export type EntitlementKey = { id: string } | { code: string };

/** bindDevice, or undefined when no entitlement has that key (nothing written). */
async function bindDeviceIfFound(
  ctx: Pick<LicensingContext, 'db' | 'now' | 'config' | 'isNamedUserAuthorized' | 'activationChanged'>,
  key: EntitlementKey,
  input: ActivationInput,
  kooGallery: string | null,
  opts: BindOptions,
): Promise<BindResult | undefined> {
  const { db } = ctx;
  const now = ctx.now();
  const at = now.toISOString();
  // The lock every decision below stands on: the seats left, the device already bound, the license's status.
  const ent =
    'id' in key
      ? await db.lockRow<EntitlementRow>('entitlements', 'id', key.id)
      : await db.lockRow<EntitlementRow>('entitlements', 'code', key.code);
  if (!ent) return undefined;
  const entitlementId = ent.id;
  assertUsable(ent, now);
  const policy = await policyFor(db, ent);

  // The product the License file will name (as issue.ts derives it): refuse here, before a seat is taken, what
  // the client would refuse with PRODUCT_MISMATCH after activation.
  const product = ent.product_id ?? ctx.config.productId;
  if (input.productId && !product) {
    throw new LicensorError(
      'PRODUCT_MISMATCH',
      'This license code is not assigned to a product yet, so it cannot activate any software. Ask the vendor to assign it to this product.',
      { expected: null },
    );
  }
  if (input.productId && product && input.productId !== product) {
    throw new LicensorError(
      'PRODUCT_MISMATCH',
      `This license is for product ${product}, not ${input.productId}. Use a license code bought for this software.`,
      { expected: product },
    );
  }
  if (input.device?.virtual && !policy.allowVirtualMachines) {
    throw new LicensorError(
      'VM_NOT_ALLOWED',
      'This license may not be used on virtual machines or containers. Activate it on a physical computer.',
    );
  }
  if (policy.requireNamedUser) {
    const user = input.user?.trim();
    // Users the enterprise authorised through KooGallery's sync (family C instances), or the operator granted.
    const allowed =
      user &&
      ((await ctx.isNamedUserAuthorized(ctx.db, ent.id, user)) ||
        (await db.first('SELECT 1 FROM authorized_users WHERE entitlement_id = ? AND user_id = ?', [ent.id, user])));
    if (!allowed) {
      throw new LicensorError(
        'USER_NOT_AUTHORIZED',
        user
          ? `User ${user} is not authorised for this license. Ask your administrator to grant it.`
          : 'This license is assigned to named users: sign in (send "user") and try again.',
      );
    }
  }

  const floating = policy.mode === 'floating' && !opts.offline;
  if (policy.mode === 'floating') await cullLapsedLeases(db, now, ent.id);
  const lease = floating ? new Date(now.getTime() + policy.leaseMinutes * MINUTE).toISOString() : null;
  const columns = deviceColumns(input, kooGallery);
  // The device's columns in statement order, shared by the re-activation UPDATE and the new-seat INSERT.
  const deviceValues = [
    columns.fingerprint,
    columns.koogallery_fingerprint,
    columns.device_public_key,
    columns.device_key_hash,
    columns.label,
    columns.hostname,
    columns.platform,
    columns.arch,
    columns.os_version,
    columns.app_version,
    columns.virtual,
    columns.user_id,
    opts.offline ? 1 : 0,
    lease,
  ];
  const actor = opts.actor ?? 'client:activation';

  const candidates = await db.all<Candidate>(
    `SELECT id, status, seat, fingerprint FROM activations WHERE entitlement_id = ? AND status IN ('active', 'lapsed')`,
    [ent.id],
  );
  const match = bestMatch(candidates, input.fingerprint.components, policy);

  // The device's row is not covered by the license's lock: a seat freed, a device moved to another license or a
  // lease culled by another check-in may commit between the read above and the write below, which at READ COMMITTED
  // waits for that change and then applies to its result. So the write is conditional on the row still being what
  // was decided on (undefined if not), and the caller then decides again from what is committed now.
  const update = async (row: Candidate, seat: number | null) =>
    await db.first<ActivationRow>(
      `UPDATE activations SET status = 'active', seat = COALESCE(?, seat), fingerprint = ?, koogallery_fingerprint = COALESCE(?, koogallery_fingerprint),
         device_public_key = ?, device_key_hash = ?, label = COALESCE(?, label), hostname = COALESCE(?, hostname),
         platform = COALESCE(?, platform), arch = COALESCE(?, arch), os_version = COALESCE(?, os_version),
         app_version = COALESCE(?, app_version), virtual = ?, user_id = COALESCE(?, user_id), offline = ?,
         lease_expires_at = ?, last_seen_at = ?
       WHERE id = ? AND entitlement_id = ? AND status = ?
       RETURNING *`,
      [seat, ...deviceValues, at, row.id, ent.id, row.status],
    );
  const decideAgain = () => bindDevice(ctx, { id: entitlementId }, input, kooGallery, opts);

  const deviceKey = { hash: columns.device_key_hash, publicKey: columns.device_public_key };
  if (match?.status === 'active') {
    const activation = await update(match, null);
    if (!activation) return decideAgain();
    // Another install on the same machine (another data folder, another key) shares the seat and keeps the
    // first install working: its key is added, not swapped in.
    const newInstall = await addActivationKey(db, match.id, deviceKey, now);
    await audit(db, {
      actor,
      action: 'activation.reactivated',
      entitlementId: ent.id,
      activationId: match.id,
      detail: { offline: opts.offline, newInstall },
      at: now,
    });
    await recordCodeUsage(db, ent, activation.id, now);
    return { entitlement: ent, policy, activation, reactivated: true };
  }

  const limit = seatLimit(policy, ent.seats);
  const slot = lowestFreeSlot(candidates, limit);
  if (slot === null) {
    const devices = (await activeActivations(db, ent.id)).map((a) => deviceSummary(a));
    throw new LicensorError(
      'TOO_MANY_DEVICES',
      `All ${limit} seat${limit === 1 ? '' : 's'} of this license are in use. Deactivate the software on one of the listed devices, or free that device's seat, then try again.`,
      { seats: limit, devices },
    );
  }

  if (match) {
    // A floating device whose lease lapsed takes a seat again under its old activation.
    const activation = await update(match, slot);
    if (!activation) return decideAgain();
    await addActivationKey(db, match.id, deviceKey, now);
    await audit(db, {
      actor,
      action: 'activation.lease_resumed',
      entitlementId: ent.id,
      activationId: match.id,
      at: now,
    });
    await recordCodeUsage(db, ent, activation.id, now);
    return { entitlement: ent, policy, activation, reactivated: true };
  }

  const id = newActivationId(now);
  await db.run(
    `INSERT INTO activations (id, entitlement_id, status, seat, fingerprint, koogallery_fingerprint, device_public_key,
       device_key_hash, label, hostname, platform, arch, os_version, app_version, virtual, user_id, offline,
       lease_expires_at, created_at, last_seen_at)
     VALUES (?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [id, ent.id, slot, ...deviceValues, at, at],
  );
  await addFirstActivationKey(db, id, deviceKey, now);
  await audit(db, {
    actor,
    action: 'activation.created',
    entitlementId: ent.id,
    activationId: id,
    detail: { seat: slot, offline: opts.offline, platform: columns.platform },
    at: now,
  });
  await recordCodeUsage(db, ent, id, now);
  const activation: ActivationRow = {
    id,
    entitlement_id: ent.id,
    status: 'active',
    seat: slot,
    ...columns,
    offline: opts.offline ? 1 : 0,
    lease_expires_at: lease,
    created_at: at,
    last_seen_at: at,
    released_at: null,
    released_by: null,
  };
  await ctx.activationChanged(ctx.db, { type: 'created', activation, entitlement: ent, actor, at: now });
  return { entitlement: ent, policy, activation, reactivated: false };
}

export interface ActivateOptions {
  offline?: boolean;
  actor?: string;
  /** Commits through the group commit (the API's requests); other callers get a plain transaction. */
  batched?: boolean;
}

export interface ActivateResult extends BindResult {
  license: string;
}

/**
 * The activation transaction's isolation: bindDevice locks the entitlement before reading anything it decides on,
 * the seat slot index refuses (a rerun) a slot taken by a path that does not lock (a device moved to this license),
 * and a device's row such a path changed after bindDevice read it (a seat freed or moved, a lease culled)
 * fails the re-activation's conditional write and is decided again. SERIALIZABLE would add only collisions:
 * same-license activations failing and rerunning instead of waiting for the lock (bench/results/report.md).
 */
export const ACTIVATION_ISOLATION = { isolation: 'read committed' } as const;

/**
 * The whole activation except the signature: validate the device, resolve (or learn) the code, bind a seat;
 * returns the claims of the device's License file.
 */
export async function bindActivation(
  ctx: LicensingContext,
  input: ActivationInput,
  opts: ActivateOptions = {},
): Promise<BindResult & { payload: LicensePayload }> {
  const { kooGallery } = checkDeviceInput(input);
  const offline = opts.offline ?? false;
  const write = <T>(fn: (tx: Storage) => Promise<T>) =>
    opts.batched ? ctx.db.batched(fn, ACTIVATION_ISOLATION) : ctx.db.transaction(fn, ACTIVATION_ISOLATION);
  const bindOpts = { offline, actor: opts.actor };
  // Most codes are typed as minted (or normalise to it): the transaction's lock read finds the entitlement by that
  // code, the lookup resolveCode would have made first (one statement fewer, on the writer's warm cache). Only a
  // code that can be stored in that form is tried so: a family-C instance id or a mistyped code would otherwise pay
  // a group commit (and its sync) for nothing. Anything else (a raw marketplace code, a family-C instance id, a code
  // to learn from KooGallery) is resolved as before.
  const byCode = normalizeLicenseCode(input.code.trim());
  const kind = licenseCodeKind(byCode);
  const mayBeStored = kind === 'marketplace' || (kind === 'lsr' && isValidLicenseCode(byCode));
  let bound = mayBeStored
    ? await write((tx) => bindDeviceIfFound(inTx(ctx, tx), { code: byCode }, input, kooGallery, bindOpts))
    : undefined;
  if (!bound) {
    const ent = await resolveCodeForActivation(ctx, input.code);
    bound = await write((tx) => bindDevice(inTx(ctx, tx), { id: ent.id }, input, kooGallery, bindOpts));
  }
  const payload = await activationLicensePayload(ctx, bound.entitlement, bound.policy, bound.activation, { offline });
  return { ...bound, payload };
}

/** The whole activation: validate the device, resolve (or learn) the code, bind a seat, sign a License file. */
export async function activate(
  ctx: LicensingContext,
  input: ActivationInput,
  opts: ActivateOptions = {},
): Promise<ActivateResult> {
  const { payload, ...bound } = await bindActivation(ctx, input, opts);
  const signer = ctx.keys.current();
  return { ...bound, license: await signLicenseFileAsync(payload, signer) };
}
