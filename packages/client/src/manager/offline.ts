// Activation without network access: the request file, and importing the License file that answers it.
import type { KeyObject } from 'node:crypto';
import {
  decodeLicenseFile,
  devicePublicKeyHash,
  encodeOfflineRequest,
  LicensorError,
  newNonce,
  offlineRequestSchema,
} from '@licensor/shared';
import type { LicenseStatus } from '../evaluate';
import type { DeviceKeyRecord, StateBody } from '../store';
import type { ManagerState } from './state';
import type { ActivateOptions } from './types';

/** An activation request file signed with a pending device key (kept until the answer is imported). */
export async function offlineRequestLocked(s: ManagerState, code: string, opts: ActivateOptions): Promise<string> {
  await s.ensureState();
  const base = (!s.tampered && s.body) || s.fresh();
  const now = s.now();
  let record = base.pendingDevice;
  let privateKey: KeyObject | undefined;
  if (record) {
    try {
      privateKey = await s.store.openDeviceKey(record);
    } catch {
      record = undefined;
    }
  }
  if (!record || !privateKey) ({ record, privateKey } = await s.store.createDeviceKey(now));
  const request = offlineRequestSchema.safeParse({
    v: 1,
    createdAt: new Date(now).toISOString(),
    nonce: newNonce(),
    code: s.normalizeCode(code),
    productId: s.productId,
    fingerprint: s.fingerprintSubmission(),
    device: s.deviceInfo(opts.label),
    devicePublicKey: record.publicKey,
    ...(opts.user ? { user: opts.user } : {}),
  });
  if (!request.success) {
    throw new LicensorError('INVALID_INPUT', `Invalid activation request: ${request.error.issues[0]?.message}`);
  }
  const text = encodeOfflineRequest(request.data, privateKey);
  await s.save({ ...base, pendingDevice: record });
  return text;
}

/** Verifies a License file against this device and stores it, never one older than the stored file. */
export async function importLocked(s: ManagerState, input: string | Uint8Array): Promise<LicenseStatus> {
  if (typeof input !== 'string' && !(input instanceof Uint8Array)) {
    throw new LicensorError('INVALID_INPUT', 'Pass the License file contents as text');
  }
  const text = typeof input === 'string' ? input : Buffer.from(input).toString('utf8');
  await s.ensureState();
  const base = (!s.tampered && s.body) || s.fresh();
  const { status, payload } = s.evaluate(base, text);
  if (['FILE_SIGNATURE_INVALID', 'PRODUCT_MISMATCH', 'FINGERPRINT_MISMATCH', 'TIME_MODIFIED'].includes(status.code)) {
    throw new LicensorError(status.code, `License file not imported: ${status.message}`, { ...status.detail });
  }
  // The server locked this license after the file was issued: importing it again must not undo that.
  if (status.detail.reason === 'server') {
    throw new LicensorError(
      status.code,
      `License file not imported: the license server locked this license (${status.code}) after this file was issued. ${status.detail.serverMessage ?? status.message} Only a newer file lifts it: check in online once the license is in order again.`,
      { ...status.detail },
    );
  }
  // An older file of the same entitlement would undo a later state (e.g. bring back a frozen license).
  if (base.license && payload) {
    try {
      const current = decodeLicenseFile(base.license).payload;
      if (current.eid === payload.eid && Date.parse(payload.issuedAt) < Date.parse(current.issuedAt)) {
        throw new LicensorError(
          'INVALID_INPUT',
          `This License file (issued ${payload.issuedAt}) is older than the stored one (issued ${current.issuedAt}); use the newest file`,
        );
      }
    } catch (err) {
      if (err instanceof LicensorError && err.code === 'INVALID_INPUT') throw err;
    }
  }
  const next: StateBody = {
    ...base,
    license: text,
    highWater: Math.max(base.highWater, s.now(), payload ? Date.parse(payload.serverTime) : 0),
  };
  delete next.verdict;
  const boundKey = payload?.deviceKey;
  const matches = (r: DeviceKeyRecord | undefined) =>
    r !== undefined && boundKey !== undefined && devicePublicKeyHash(r.publicKey) === boundKey;
  if (matches(base.pendingDevice)) {
    // The answer to our offline request: its key becomes the activation's key, so later check-ins work.
    if (base.device && base.device.publicKey !== base.pendingDevice!.publicKey)
      await s.store.deleteDeviceKey(base.device);
    next.device = base.pendingDevice;
    delete next.pendingDevice;
    next.activationId = payload!.lid;
    if (s.opts.serverUrl && !next.serverUrl) next.serverUrl = s.opts.serverUrl;
  } else if (matches(base.device)) {
    next.activationId = payload!.lid;
  } else {
    // A file bound to no key of ours (e.g. delivered by KooGallery's client) belongs to no activation here.
    if (base.device) await s.store.deleteDeviceKey(base.device);
    delete next.device;
    delete next.activationId;
    delete next.codeHash;
    delete next.lastCheckInAt;
  }
  await s.save(next);
  if (next.activationId) status.detail.activationId = next.activationId;
  s.addDeviceLabel(status, next);
  return s.publish(status);
}
