import type { KeyObject } from 'node:crypto';
import {
  type CheckInRequest,
  type CheckInResponse,
  importDevicePublicKey,
  type LicensePayload,
  LicensorError,
  type LockingVerdictCode,
  matchFingerprint,
  parseDeviceSignature,
  SIGNATURE_WINDOW_MS,
  verifyDeviceRequestAsync,
} from '@licensor/shared';
import type { Storage } from '../db/storage';
import { activationLicensePayload, checkInIntervalSeconds, entitlementSummary, recordCodeUsage } from './activate';
import {
  type ActivationKeyRow,
  type ActivationRow,
  activationKeys,
  cullLapsedLeases,
  findActivation,
  freeSeatSlot,
  parseComponents,
  releaseActivation,
} from './activations';
import type { LicensingContext } from './context';
import { audit, type EntitlementRow, findEntitlement } from './entitlements';
import { DEFAULT_POLICY, policyFor, seatLimit } from './policy';
import { type VerdictPayload, verdictMessage, verdictOf, verdictRecordPayload } from './verdict';

/** A request as the device signed it: method, path, exact body bytes and the signature header. */
export interface SignedDeviceRequest {
  activationId: string;
  method: string;
  path: string;
  body: Uint8Array;
  header: string | undefined;
}

// Importing an SPKI key costs more than verifying with it; devices check in with the same key every time.
const KEY_CACHE_SIZE = 10_000;
const keyCache = new Map<string, KeyObject>();

function devicePublicKey(spki: string): KeyObject {
  let key = keyCache.get(spki);
  if (key) {
    // Refresh recency (Map keeps insertion order: the first entry is the least recently used).
    keyCache.delete(spki);
  } else {
    key = importDevicePublicKey(spki);
    if (keyCache.size >= KEY_CACHE_SIZE) keyCache.delete(keyCache.keys().next().value!);
  }
  keyCache.set(spki, key);
  return key;
}

export interface AuthenticatedDevice {
  activation: ActivationRow;
  /** The install's key that signed the request (one machine may hold several installs, each with its key). */
  deviceKey: { hash: string; publicKey: string };
  nonce: string;
  /** Epoch ms until which the nonce must be remembered. */
  nonceExpiresAt: number;
}

/**
 * Checks a device signature: well-formed header for this activation, timestamp inside the window, Ed25519
 * signature by one of the activation's device keys (the most recently bound one first: one verify for the
 * usual single install; the machine's other installs only when that fails). Returns undefined for an unknown
 * activation (nothing to verify against). The nonce's novelty is checked by `consumeNonce` inside the write
 * transaction. The Ed25519 checks run on the thread pool.
 */
export async function authenticateDevice(
  db: Storage,
  req: SignedDeviceRequest,
  now: Date,
): Promise<AuthenticatedDevice | undefined> {
  const signature = parseDeviceSignature(req.header);
  if (signature.activationId !== req.activationId) {
    throw new LicensorError('SIGNATURE_INVALID', 'The device signature names another activation than the URL');
  }
  const activation = await findActivation(db, req.activationId);
  if (!activation) return undefined;
  const signedBy = async (publicKey: string) =>
    verifyDeviceRequestAsync({
      signature,
      method: req.method,
      path: req.path,
      body: req.body,
      publicKey: devicePublicKey(publicKey),
      now: now.getTime(),
    });
  let deviceKey = { hash: activation.device_key_hash, publicKey: activation.device_public_key };
  try {
    await signedBy(deviceKey.publicKey);
  } catch (err) {
    if (!(err instanceof LicensorError) || err.code !== 'SIGNATURE_INVALID') throw err;
    const others = (await activationKeys(db, activation.id)).filter((k) => k.key_hash !== activation.device_key_hash);
    let found: ActivationKeyRow | undefined;
    for (const key of others) {
      if (
        await signedBy(key.public_key).then(
          () => true,
          () => false,
        )
      ) {
        found = key;
        break;
      }
    }
    if (!found) throw err;
    deviceKey = { hash: found.key_hash, publicKey: found.public_key };
  }
  return { activation, deviceKey, nonce: signature.nonce, nonceExpiresAt: signature.ts + SIGNATURE_WINDOW_MS };
}

/** Records a device nonce; a second use inside the window is a replay. Call inside the write transaction. */
export async function consumeNonce(db: Storage, device: AuthenticatedDevice): Promise<void> {
  const r = await db.run(
    'INSERT INTO device_nonces (activation_id, nonce, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
    [device.activation.id, device.nonce, device.nonceExpiresAt],
  );
  if (r.changes === 0) {
    throw new LicensorError('REPLAYED', 'This request was already received (replayed nonce); send a new request');
  }
}

/** Forgets nonces whose window has passed. */
export const cullNonces = async (db: Storage, now: Date): Promise<number> =>
  (await db.run('DELETE FROM device_nonces WHERE expires_at < ?', [now.getTime()])).changes;

const MINUTE = 60_000;

const respond = (response: CheckInResponse): CheckInOutcome => ({ response });

/** What a check-in decided inside its transaction; the License file it grants is signed after the commit. */
export interface CheckInOutcome {
  response: CheckInResponse;
  /** The claims of the fresh License file, when the device gets one. */
  license?: LicensePayload;
  /** The claims of the signed verdict record, when the answer locks the license. */
  verdict?: VerdictPayload;
}

/**
 * The check-in transaction's isolation. Every read in it that decides a write is guarded: the nonce by its primary
 * key (a concurrent duplicate waits for the first and then finds it: a replay), the device's row by the lock its
 * first UPDATE takes, a seat taken back after a lapsed lease by the license's row lock (as an activation takes it) and
 * the seat slot index. The entitlement and policy are only read, as of the statement: the same answer as a check-in
 * that ran just before a concurrent change. SERIALIZABLE would add predicate-lock bookkeeping to every check-in.
 */
export const CHECK_IN_ISOLATION = { isolation: 'read committed' } as const;

/**
 * A check-in: the current verdict and, unless the license is gone, a fresh License file (new refreshBy and
 * graceUntil, the current expiry; frozen, suspended and expired licenses get a file carrying that status so
 * the client locks). Updates last-seen and app version, renews a floating lease (taking a seat again if the
 * lease had lapsed and one is free). Call inside the write transaction, after `authenticateDevice`; the
 * caller signs the file from `license` once the commit is durable.
 */
export async function checkIn(
  ctx: Pick<LicensingContext, 'db' | 'now' | 'config' | 'keys' | 'licenseModel'>,
  device: AuthenticatedDevice,
  request: CheckInRequest,
): Promise<CheckInOutcome> {
  const { db } = ctx;
  const now = ctx.now();
  const at = now.toISOString();
  await consumeNonce(db, device);
  // The device's row, stamped as seen and locked until the commit in one statement: a release or a seat change of
  // this activation by anyone else waits (or, if it read the row before, reruns), so what this check-in decides
  // from the row below still holds when it commits. A released activation is only read (and answered NOT_FOUND).
  const seen = await db.first<ActivationRow>(
    `UPDATE activations SET last_seen_at = ?, app_version = COALESCE(?, app_version), offline = 0
     WHERE id = ? AND status != 'released' RETURNING *`,
    [at, request.appVersion?.trim() || null, device.activation.id],
  );
  const activation = seen ?? (await findActivation(db, device.activation.id))!;
  const ent = await findEntitlement(db, activation.entitlement_id);
  // Every check-in answer carries the root's list of revoked signing keys, so devices learn it as they check in.
  const revokedKeys = ctx.keys.revocations();
  const base = { serverTime: at, ...(revokedKeys ? { revokedKeys } : {}) };
  if (!ent || activation.status === 'released') {
    const message = 'This device no longer holds a seat of the license (it was freed). Activate again to take a seat.';
    const outcome = respond({
      ...base,
      status: 'NOT_FOUND',
      message,
      checkInIntervalSeconds: checkInIntervalSeconds(DEFAULT_POLICY),
    });
    // Without the entitlement there is no product to bind a record to; the unsigned answer still locks.
    if (ent) outcome.verdict = verdictRecordPayload(ctx, ent, activation.id, 'NOT_FOUND', message, now);
    return outcome;
  }
  const policy = await policyFor(db, ent);
  const interval = checkInIntervalSeconds(policy);
  const summary = entitlementSummary(ent, policy);
  // (A device activated offline that checks in became an online device, files with a TTL, in the UPDATE above.)

  /** A locking answer, with the claims of its signed verdict record. */
  const locked = (code: LockingVerdictCode, message: string): CheckInOutcome => ({
    response: { ...base, status: code, message, entitlement: summary, checkInIntervalSeconds: interval },
    verdict: verdictRecordPayload(ctx, ent, activation.id, code, message, now),
  });

  const verdict = verdictOf(ent, now);
  if (verdict === 'REVOKED' || verdict === 'RELEASED') return locked(verdict, verdictMessage(verdict, ent));

  let current = activation;
  if (request.fingerprint) {
    const m = matchFingerprint(parseComponents(activation), request.fingerprint.components, policy.matchRule);
    if (!m.match) {
      return locked(
        'FINGERPRINT_MISMATCH',
        'This computer no longer matches the one the license was activated on. Activate again on this computer (free the old seat if needed).',
      );
    }
    // Follow gradual hardware drift: the file carries the components the device has now.
    const fingerprint = JSON.stringify(request.fingerprint.components);
    await db.run('UPDATE activations SET fingerprint = ? WHERE id = ?', [fingerprint, activation.id]);
    current = { ...activation, fingerprint };
  }

  if (verdict === 'VALID' && policy.mode === 'floating') {
    await cullLapsedLeases(db, now, ent.id);
    const lease = new Date(now.getTime() + policy.leaseMinutes * MINUTE).toISOString();
    const held = (await findActivation(db, activation.id))!;
    if (held.status !== 'active') {
      // Taking a seat back counts the license's seats like an activation does, so it takes the same lock: the seats
      // and policy read above may predate an operator's change that counted the devices in use without this one
      // (updateLicense lowering the seats), which then waits for this check-in or reruns after it.
      const license = (await db.lockRow<EntitlementRow>('entitlements', 'id', ent.id))!;
      const slot = await freeSeatSlot(db, ent.id, seatLimit(await policyFor(db, license), license.seats));
      if (slot === null) {
        return locked(
          'TOO_MANY_DEVICES',
          'All floating seats of this license are in use right now. Try again when another user closes the software.',
        );
      }
      await db.run(`UPDATE activations SET status = 'active', seat = ?, lease_expires_at = ? WHERE id = ?`, [
        slot,
        lease,
        activation.id,
      ]);
    } else {
      await db.run('UPDATE activations SET lease_expires_at = ? WHERE id = ?', [lease, activation.id]);
    }
    current = (await findActivation(db, activation.id))!;
  }

  if (verdict === 'VALID') await recordCodeUsage(db, ent, activation.id, now);
  // The file names the key of the install that checked in (each install on the machine has its own).
  const license = await activationLicensePayload(
    ctx,
    ent,
    policy,
    { ...current, device_key_hash: device.deviceKey.hash },
    { verdict, offline: false, now },
  );
  // Frozen, suspended, expired: a file carrying that status, and the signed record that outlives older files.
  if (verdict !== 'VALID') return { ...locked(verdict, verdictMessage(verdict, ent)), license };
  return {
    response: {
      ...base,
      status: verdict,
      message: verdictMessage(verdict, ent),
      entitlement: summary,
      checkInIntervalSeconds: interval,
    },
    license,
  };
}

/**
 * The install gives its binding back (uninstall, moving to another computer). The seat is freed with the machine's
 * last install: while another install on the machine still holds a key, only this install's key goes. Idempotent.
 */
export async function deactivate(
  ctx: Pick<LicensingContext, 'db' | 'now' | 'activationChanged'>,
  device: AuthenticatedDevice,
): Promise<{ released: true }> {
  const now = ctx.now();
  const { db } = ctx;
  await consumeNonce(db, device);
  const id = device.activation.id;
  const remaining = (await activationKeys(db, id)).filter((k) => k.key_hash !== device.deviceKey.hash);
  if (remaining.length > 0 && device.activation.status !== 'released') {
    await db.run('DELETE FROM activation_keys WHERE activation_id = ? AND key_hash = ?', [id, device.deviceKey.hash]);
    const current = remaining[0]!;
    await db.run('UPDATE activations SET device_public_key = ?, device_key_hash = ? WHERE id = ?', [
      current.public_key,
      current.key_hash,
      id,
    ]);
    await audit(db, {
      actor: `client:${id}`,
      action: 'activation.install_removed',
      entitlementId: device.activation.entitlement_id,
      activationId: id,
      detail: { installsLeft: remaining.length },
      at: now,
    });
    return { released: true };
  }
  if (await releaseActivation(ctx, id, `client:${id}`, now)) {
    await audit(ctx.db, {
      actor: `client:${id}`,
      action: 'activation.deactivated',
      entitlementId: device.activation.entitlement_id,
      activationId: id,
      at: now,
    });
  }
  return { released: true };
}
