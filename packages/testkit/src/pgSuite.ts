import { postgresOnce } from './loadOnce';
import { TEST_PG_RUN_ENV, testPgRun } from './pgRun';

/**
 * Vitest global setup of the `postgres-suite` project (vitest.config.ts): names the run for every test process
 * (they inherit the environment), so that afterwards exactly the databases this run created are dropped, the
 * per-process templates and the per-file databases alike. Without a reachable PostgreSQL (vitest.config.ts then
 * leaves the files out, except under CI=true, where the config fails the run at once) its teardown fails the run
 * (testkit/postgres.ts requirePostgres).
 *
 * postgres.ts loads the server's sources: seconds of transforming in vitest's main process, in a module graph
 * of its own (the global setups' environment, not the tests'). It loads in the background, beside the first test
 * files, instead of holding back their start; only the teardown needs it. The SQL portability setup loads the same
 * module: loaded once for both (loadOnce.ts).
 */
export default function setup(): () => Promise<void> {
  const run = testPgRun();
  const reachable = postgresOnce().then(async (pg) => ((await pg.requirePostgres('postgres-suite')) ? pg : undefined));
  reachable.catch(() => undefined); // reported by the teardown, which awaits it
  return async () => {
    delete process.env[TEST_PG_RUN_ENV];
    try {
      await (await reachable)?.dropRunDatabases(run);
    } catch (err) {
      console.error(`\n✖ postgres-suite: ${(err as Error).message}\n`);
      // A global teardown's exception is only logged by vitest; the exit code is what fails `npm test`.
      process.exitCode = 1;
    }
  };
}
