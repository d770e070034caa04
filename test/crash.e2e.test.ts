import { describe, expect, it } from 'vitest';
import { crashSummary, runCrashTest } from './crash/crash';

/**
 * CI form of the crash test (3 SIGKILLs under load); the full form is `npm run test:full` (20 kills).
 * A kill that lands while an outbox item is claimed leaves it leased for 60 s, so the drain may take that long.
 */
describe('crash safety', () => {
  it('loses no acknowledged request across SIGKILLs and keeps SQLite intact', { timeout: 240_000 }, async () => {
    const report = await runCrashTest({ kills: 3, workers: 10, upMs: [500, 1200], minAcknowledgedPerUp: 15 });
    console.log(crashSummary(report));
    expect(report.failures).toEqual([]);
    expect(report.kills).toBe(3);
    expect(report.unanswered).toBeGreaterThan(0); // the kills did interrupt requests in flight
    expect(report.checked).toBeGreaterThan(50);
    expect(report.integrity).toEqual(['ok']);
  });
});
