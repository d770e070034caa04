// Offline verification of the stored License (also the status every other workflow ends with).
import { type LicenseStatus, makeStatus } from '../evaluate';
import { markPhase } from '../timing';
import type { ManagerState } from './state';

/** Persist the local high-water mark at most this often (verify may run very frequently). */
const HIGH_WATER_STEP_MS = 60_000;

/** The stored License verified offline, published as the current status; never throws for license problems. */
export async function verifyLocked(s: ManagerState): Promise<LicenseStatus> {
  await s.ensureState();
  const now = s.now();
  if (s.tampered) {
    return s.publish(
      makeStatus('STATE_TAMPERED', now, null, {
        reason: s.tampered,
        explanation:
          s.tampered === 'other-machine'
            ? 'The local license data was created on another machine (or too much hardware changed)'
            : s.tampered === 'salt-missing'
              ? 'The install salt next to the license data is missing'
              : 'The local license data was modified outside the application',
      }),
    );
  }
  const body = s.body;
  if (body && s.rolledBack) {
    return s.publish(
      makeStatus('TIME_MODIFIED', now, null, {
        reason: 'state-rolled-back',
        explanation: `${s.rollbackExplanation()}. Connect to the internet so the application can check in.`,
        ...(body.activationId ? { activationId: body.activationId } : {}),
      }),
    );
  }
  if (!body?.license) return s.publish(makeStatus('NO_LICENSE', now, null));
  let { status } = s.evaluate(body, body.license);
  if (status.code === 'FINGERPRINT_MISMATCH' && (await s.readPatiently())) {
    ({ status } = s.evaluate(body, body.license));
  }
  markPhase('verify (License, chain, fingerprint match)');
  if (body.activationId) status.detail.activationId = body.activationId;
  s.addDeviceLabel(status, body);
  if (body.lastCheckInAt) status.detail.lastCheckInAt = new Date(body.lastCheckInAt).toISOString();
  // Remember the latest trusted local time, unless the clock is the very thing in doubt.
  if (status.code !== 'TIME_MODIFIED' && now > body.highWater + HIGH_WATER_STEP_MS) {
    try {
      await s.save({ ...body, highWater: now });
    } catch {
      // Read-only media or a full disk must not turn a valid license invalid; the mark advances next time.
    }
    markPhase('high-water mark saved (state and anchors)');
  }
  return s.publish(status);
}
