// Automatic check-ins while the app runs: on the server's interval, with backoff while offline.
import type { AutoState, ManagerState } from './state';
import type { AutoCheckInOptions, CheckInResult } from './types';

const HOUR = 3_600_000;
const DEFAULT_CHECK_IN_INTERVAL_S = 24 * 3600;
/** setTimeout's ceiling (~24.8 days); longer delays would fire immediately. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The manager's public operations the timer runs (each takes the manager's lock itself). */
export interface AutoCheckInOperations {
  verify(): Promise<unknown>;
  checkIn(): Promise<CheckInResult>;
}

export function startAutoCheckIn(s: ManagerState, opts: AutoCheckInOptions, ops: AutoCheckInOperations): void {
  if (s.auto) return;
  const verifyEvery = opts.verifyIntervalMs ?? HOUR;
  const retryMin = opts.retryMinMs ?? 5 * 60_000;
  const retryMax = opts.retryMaxMs ?? HOUR;
  const auto: AutoState = { timer: undefined, failures: 0, inflight: undefined };
  s.auto = auto;
  const schedule = (ms: number) => {
    if (s.auto !== auto) return;
    auto.timer = s.timers.setTimeout(tick, Math.max(0, Math.min(ms, MAX_TIMER_MS)));
  };
  const run = async (): Promise<number> => {
    await s.exclusive(() => s.ensureState());
    const body = s.body;
    const canCheckIn = Boolean(body?.activationId && body.device && (body.serverUrl ?? s.opts.serverUrl));
    if (!canCheckIn) {
      await ops.verify();
      return verifyEvery;
    }
    const interval = (body!.checkInIntervalSeconds ?? DEFAULT_CHECK_IN_INTERVAL_S) * 1000;
    const due = (body!.lastCheckInAt ?? 0) + interval;
    if (s.now() < due) {
      await ops.verify();
      return Math.min(verifyEvery, due - s.now());
    }
    const result = await ops.checkIn();
    if (result.online) {
      auto.failures = 0;
      return Math.min(verifyEvery, (s.body?.checkInIntervalSeconds ?? DEFAULT_CHECK_IN_INTERVAL_S) * 1000);
    }
    auto.failures++;
    return Math.min(retryMax, retryMin * 2 ** (auto.failures - 1));
  };
  const tick = () => {
    auto.timer = undefined;
    auto.inflight = run()
      .catch(() => verifyEvery) // storage trouble: the status was published; try again later
      .then(schedule)
      .finally(() => {
        auto.inflight = undefined;
      });
  };
  schedule(0);
}

/** Stops the automatic check-ins and waits for one in progress. */
export async function stopAutoCheckIn(s: ManagerState): Promise<void> {
  const auto = s.auto;
  s.auto = undefined;
  if (!auto) return;
  if (auto.timer !== undefined) s.timers.clearTimeout(auto.timer);
  await auto.inflight;
}
