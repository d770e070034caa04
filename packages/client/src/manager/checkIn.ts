// Online check-in: report to the server, apply its verdict and the refreshed License, keep working offline.
import type { KeyObject } from 'node:crypto';
import { checkInResponseSchema, LicensorError, toLicensorError, type VerdictPayload } from '@licensor/shared';
import type { z } from 'zod';
import type { ApiClient } from '../api';
import { type LicenseStatus, LOCKING_VERDICTS, makeStatus } from '../evaluate';
import { hashedFingerprint } from '../fingerprint';
import type { StateBody } from '../store';
import type { ManagerState } from './state';
import type { CheckInResult } from './types';
import { verifyLocked } from './verify';

/** One check-in: the server's verdict and refreshed License applied, or why it could not be reached. */
export async function checkInLocked(s: ManagerState): Promise<CheckInResult> {
  await s.ensureState();
  const body = s.tampered ? undefined : s.body;
  if (!body?.activationId || !body.device) {
    throw new LicensorError(
      s.tampered ? 'STATE_TAMPERED' : 'NO_LICENSE',
      s.tampered
        ? 'The local license data cannot be trusted; activate again online'
        : body?.license
          ? 'This License file was imported without an online activation, so there is nothing to check in; activate online to have it refreshed'
          : 'This device has no online activation to check in; activate it first',
    );
  }
  const now = s.now();
  const failed = async (err: unknown): Promise<CheckInResult> => {
    const e = toLicensorError(err, 'Check-in failed');
    try {
      await s.save({ ...s.body!, lastCheckInAttemptAt: now });
    } catch {
      /* the attempt time is only informative */
    }
    const status = await verifyLocked(s);
    return { online: false, status, error: { code: e.code, message: e.message, retryable: e.retryable } };
  };

  let privateKey: KeyObject;
  try {
    privateKey = await s.store.openDeviceKey(body.device);
  } catch (err) {
    return failed(err);
  }
  const fingerprint = { components: hashedFingerprint(s.fp!, s.productId) };
  let response: Awaited<ReturnType<ApiClient['request']>> & { data: z.infer<typeof checkInResponseSchema> };
  try {
    response = await s.api(body).request({
      method: 'POST',
      path: `/api/v1/activations/${encodeURIComponent(body.activationId)}/check-in`,
      body: {
        ...(s.opts.appVersion ? { appVersion: s.opts.appVersion.slice(0, 64) } : {}),
        ...(Object.keys(fingerprint.components).length > 0 ? { fingerprint } : {}),
      },
      device: { activationId: body.activationId, privateKey },
      schema: checkInResponseSchema,
    });
  } catch (err) {
    const e = toLicensorError(err, 'Check-in failed');
    // The server refused the activation itself (revoked, released, seat freed): that is its verdict.
    if (LOCKING_VERDICTS.has(e.code)) {
      await s.save(
        {
          ...body,
          verdict: { code: e.code, message: e.message, at: Math.max(now, body.highWater) },
          lastCheckInAttemptAt: now,
        },
        { online: true },
      );
      const status = await verifyLocked(s);
      return { online: true, status, serverStatus: e.code, serverMessage: e.message };
    }
    return failed(e);
  }

  const { data, serverTs } = response;
  const serverTime = Date.parse(data.serverTime);
  const next: StateBody = {
    ...body,
    highWater: s.trustedAfter(body, serverTs, serverTime),
    lastCheckInAt: now,
    lastCheckInAttemptAt: now,
    checkInIntervalSeconds: data.checkInIntervalSeconds,
  };
  if (data.entitlement) next.entitlement = data.entitlement;
  let fileProblem: LicenseStatus | undefined;
  if (data.license) {
    const { status } = s.evaluate(next, data.license, { verdict: undefined });
    if (['FILE_SIGNATURE_INVALID', 'PRODUCT_MISMATCH', 'FINGERPRINT_MISMATCH'].includes(status.code)) {
      fileProblem = status; // keep the old file rather than store one this machine rejects
    } else {
      next.license = data.license;
    }
  }
  if (data.status === 'VALID') delete next.verdict;
  else if (LOCKING_VERDICTS.has(data.status)) {
    next.verdict = { code: data.status, message: data.message, at: Math.max(next.highWater, serverTime) };
  }
  // Kept after a VALID answer too: it only locks files issued before it, and a re-import could bring one back.
  if (data.verdict && acceptableVerdictRecord(s, data.verdict, next)) next.verdictRecord = data.verdict;
  await s.save(next, { online: true });
  const status = await verifyLocked(s);
  const result: CheckInResult = { online: true, status, serverStatus: data.status, serverMessage: data.message };
  if (fileProblem) {
    result.error = {
      code: 'RESPONSE_INVALID',
      message: `The server sent a License file that does not verify here (${fileProblem.code}); the previous file was kept`,
      retryable: false,
    };
  }
  return result;
}

/** A check-in that did not reach a server verdict: the offline status, and why. */
export async function checkInFailed(s: ManagerState, err: unknown): Promise<CheckInResult> {
  const e = toLicensorError(err, 'Check-in failed');
  const error = { code: e.code, message: e.message, retryable: e.retryable };
  try {
    return { online: false, status: await verifyLocked(s), error };
  } catch {
    // The local data cannot even be read (e.g. STORAGE_UNAVAILABLE): no status can be trusted.
    const status = makeStatus('NO_LICENSE', s.now(), null, { reason: e.code, explanation: e.message });
    return { online: false, status: s.publish(status), error };
  }
}

/**
 * Whether a verdict record from a (signed) check-in answer verifies against the pinned roots, names this
 * activation and product, and is newer than the one stored; anything else is ignored (the unsigned
 * verdict in the same answer still locks the current file).
 */
function acceptableVerdictRecord(s: ManagerState, text: string, body: StateBody): boolean {
  let record: VerdictPayload;
  try {
    record = s.verifier.verifyVerdict(text).payload;
  } catch {
    return false;
  }
  if (record.lid !== body.activationId || record.product !== s.productId) return false;
  if (body.verdictRecord) {
    try {
      const stored = s.verifier.verifyVerdict(body.verdictRecord).payload;
      if (Date.parse(stored.issuedAt) > Date.parse(record.issuedAt)) return false;
    } catch {
      /* a stored record that no longer verifies is replaced */
    }
  }
  return true;
}
