import { randomBytes } from 'node:crypto';

/**
 * Set by the suite's global setup (pgSuite.ts) for every test process: names the run, so its teardown drops
 * exactly the databases this run made. A process without it (a file run by hand) names a run of its own; its
 * leftovers go with the stale sweep (postgres.ts dropStale).
 */
export const TEST_PG_RUN_ENV = 'LICENSOR_TEST_PG_RUN';
export const testPgRun = (): string => {
  process.env[TEST_PG_RUN_ENV] ??= `${Date.now()}_${randomBytes(3).toString('hex')}`;
  return process.env[TEST_PG_RUN_ENV];
};
