import { dropRunDatabases, requirePostgres, TEST_PG_RUN_ENV, testPgRun } from './postgres';

/**
 * Vitest global setup of the `postgres-suite` project (vitest.config.ts): names the run for every test process
 * (they inherit the environment), so that afterwards exactly the databases this run created are dropped, the
 * per-process templates and the per-file databases alike. Without a reachable PostgreSQL (vitest.config.ts then
 * leaves the files out, except under CI=true) it fails the run (testkit/postgres.ts requirePostgres).
 */
export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (!(await requirePostgres('postgres-suite'))) return undefined;
  const run = testPgRun();
  return async () => {
    delete process.env[TEST_PG_RUN_ENV];
    await dropRunDatabases(run);
  };
}
