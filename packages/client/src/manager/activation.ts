// Online activation and deactivation of this device, seat management, and forgetting the local state.
import { createHash, type KeyObject } from 'node:crypto';
import {
  type ActivateRequest,
  activateRequestSchema,
  activateResponseSchema,
  type DevicesResponse,
  devicesResponseSchema,
  LicensorError,
} from '@licensor/shared';
import { z } from 'zod';
import { type LicenseStatus, makeStatus } from '../evaluate';
import type { DeviceKeyRecord, StateBody } from '../store';
import type { ManagerState } from './state';
import type { ActivateOptions } from './types';

const releasedSchema = z.object({ released: z.literal(true) });
const releaseResponseSchema = z.object({ released: z.boolean() });
const b64uSha256 = (s: string) => createHash('sha256').update(s).digest('base64url');

/** The name an activation request registered this device under, for the state. */
function deviceLabelOf(device: ActivateRequest['device']): { deviceLabel?: string } {
  const name = device?.label ?? device?.hostname;
  return name ? { deviceLabel: name } : {};
}

/** Activates this device online with a license code and stores the verified License file. */
export async function activateLocked(s: ManagerState, code: string, opts: ActivateOptions): Promise<LicenseStatus> {
  await s.ensureState();
  const normalized = s.normalizeCode(code);
  const prev = s.tampered ? undefined : s.body;
  const serverUrl = s.requireServer(prev);
  const codeHash = b64uSha256(normalized);
  const now = s.now();

  // Re-activating with the same code keeps the device key, so the server sees the same device.
  let device: DeviceKeyRecord | undefined;
  let privateKey: KeyObject | undefined;
  if (prev?.device && prev.codeHash === codeHash && prev.serverUrl === serverUrl) {
    try {
      privateKey = await s.store.openDeviceKey(prev.device);
      device = prev.device;
    } catch {
      device = undefined;
    }
  }
  if (!device || !privateKey) ({ record: device, privateKey } = await s.store.createDeviceKey(now));

  const request = activateRequestSchema.safeParse({
    code: normalized,
    productId: s.productId,
    fingerprint: s.fingerprintSubmission(),
    device: s.deviceInfo(opts.label),
    devicePublicKey: device.publicKey,
    ...(opts.user ? { user: opts.user } : {}),
  });
  if (!request.success) {
    throw new LicensorError('INVALID_INPUT', `Invalid activation request: ${request.error.issues[0]?.message}`, {
      issues: request.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`),
    });
  }
  const { data, serverTs } = await s.api(prev).request({
    method: 'POST',
    path: '/api/v1/activations',
    body: request.data,
    schema: activateResponseSchema,
  });
  const body: StateBody = {
    v: 1,
    productId: s.productId,
    highWater: s.trustedAfter(prev, serverTs, Date.parse(data.serverTime)),
    serverUrl,
    activationId: data.activationId,
    codeHash,
    ...deviceLabelOf(request.data.device),
    license: data.license,
    device,
    checkInIntervalSeconds: data.checkInIntervalSeconds,
    lastCheckInAt: now,
    entitlement: data.entitlement,
  };
  if (prev?.pendingDevice) body.pendingDevice = prev.pendingDevice;
  // Harmless for the newer file just issued, and it keeps locking the older ones.
  if (prev?.verdictRecord) body.verdictRecord = prev.verdictRecord;
  // Never store a file this machine would reject: the user would be locked out at the next start.
  const { status } = s.evaluate(body, data.license, { verdict: undefined });
  if (!status.valid) {
    throw new LicensorError(
      status.code,
      `The server issued a License file that does not verify here: ${status.message}`,
      {
        ...status.detail,
      },
    );
  }
  status.detail.activationId = data.activationId;
  s.addDeviceLabel(status, body);
  status.detail.lastCheckInAt = new Date(now).toISOString();
  if (prev?.device && prev.device.publicKey !== device.publicKey) await s.store.deleteDeviceKey(prev.device);
  await s.save(body, { online: true });
  return s.publish(status);
}

/** Frees this device's seat on the server, then forgets the local License and device key. */
export async function deactivateLocked(s: ManagerState): Promise<void> {
  await s.ensureState();
  const body = s.tampered ? undefined : s.body;
  if (!body?.activationId || !body.device) {
    throw new LicensorError('NO_LICENSE', 'This device has no online activation to deactivate');
  }
  const privateKey = await s.store.openDeviceKey(body.device);
  try {
    await s.api(body).request({
      method: 'DELETE',
      path: `/api/v1/activations/${encodeURIComponent(body.activationId)}`,
      device: { activationId: body.activationId, privateKey },
      schema: releasedSchema,
    });
  } catch (err) {
    // Already gone on the server (released, freed by an operator): forgetting it locally is what is left.
    if (!(err instanceof LicensorError) || (err.code !== 'NOT_FOUND' && err.code !== 'RELEASED')) throw err;
  }
  await s.store.deleteDeviceKey(body.device);
  const next: StateBody = { v: 1, productId: s.productId, highWater: Math.max(body.highWater, s.now()) };
  if (body.pendingDevice) next.pendingDevice = body.pendingDevice;
  await s.save(next, { online: true });
  s.publish(makeStatus('NO_LICENSE', s.now(), null));
}

/** The devices holding seats of a license code (to free a lost machine's seat). */
export async function listSeatDevicesLocked(s: ManagerState, code: string): Promise<DevicesResponse> {
  await s.ensureState();
  const { data } = await s.api().request({
    method: 'POST',
    path: '/api/v1/seats/devices',
    body: { code: s.normalizeCode(code) },
    schema: devicesResponseSchema,
  });
  return data;
}

/** Frees the seat of another device of the same license code; false when it was already free. */
export async function releaseSeatDeviceLocked(s: ManagerState, code: string, deviceId: string): Promise<boolean> {
  if (typeof deviceId !== 'string' || !/^[A-Za-z0-9_.:-]{1,128}$/.test(deviceId)) {
    throw new LicensorError('INVALID_INPUT', 'deviceId must be an id from the device list');
  }
  await s.ensureState();
  const { data } = await s.api().request({
    method: 'POST',
    path: `/api/v1/seats/devices/${encodeURIComponent(deviceId)}/release`,
    body: { code: s.normalizeCode(code) },
    schema: releaseResponseSchema,
  });
  return data.released;
}

/** Forgets the local state (e.g. after STATE_TAMPERED); the next activation starts afresh. */
export async function resetLocked(s: ManagerState): Promise<void> {
  await s.store.deleteDeviceKey(s.body?.device);
  // The next state continues beyond the one deleted here, which another OS account may have written.
  s.generationFloor = Math.max(s.generationFloor, s.body?.generation ?? 0, s.store.generationOnDisk());
  // …also when the next state is written by another process (reset now, import later): this account's anchor
  // carries the floor. The stored anchor is read first (a fresh process has not loaded it): the anchor is only
  // ever raised, in both fields, from a number read unauthenticated, which helps no rollback.
  const installId = s.store.installId();
  if (installId) {
    const stored = await s.anchors.read(installId);
    const generation = Math.max(stored?.generation ?? 0, s.anchorGeneration, s.generationFloor);
    const highWater = Math.max(stored?.highWater ?? 0, s.anchorHighWater);
    if (generation > (stored?.generation ?? 0)) await s.anchors.write(installId, { generation, highWater });
    s.anchorGeneration = generation;
    s.anchorHighWater = highWater;
  }
  s.store.reset();
  s.body = undefined;
  s.tampered = undefined;
  s.rolledBack = undefined; // the anchor stays: the next state continues beyond its generation
  s.loaded = true;
  s.publish(makeStatus('NO_LICENSE', s.now(), null));
}
