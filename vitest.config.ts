import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configDefaults, defineConfig } from 'vitest/config';

// Tests run from the TypeScript sources, never from a build: the workspace packages' `source` export condition
// points at src/ (their `default` is the built dist/). The rest are Vite's own defaults.
const conditions = ['source', 'module', 'node', 'development|production'];

const ALL = [
  'packages/*/src/**/*.test.ts',
  'bench/lib/**/*.test.ts',
  'packages/client/electron/**/*.test.ts',
  'test/**/*.test.ts',
];

/**
 * Files that replace modules (vi.mock) or change the environment (vi.stubEnv, process.env): they get fresh modules of their
 * own, so what they replace never reaches another file.
 */
const MODULE_MOCKS = [
  'packages/server/src/security.test.ts', // vi.mock('node:crypto') to count timingSafeEqual calls
  'packages/client/electron/main/busyMachine.test.ts', // vi.mock of the client's fingerprint module
  'packages/client/src/example.test.ts', // vi.stubEnv of the example's settings
  'packages/client/src/zodLite.test.ts', // vi.doMock('zod') and vi.resetModules(): its schema modules twice
  // Points the SQL recorder at a folder of its own: the recorder keeps its file open per process, so in a shared
  // worker whose earlier files already recorded, the statement would land in the run's folder instead.
  'packages/server/src/db/postgres/portability.test.ts',
];

/**
 * The heaviest files: they load the machine on purpose (CPU-bound processes, SIGKILLs of a server under load,
 * stampedes of hundreds of requests on one and on two server processes) and check how the code copes. They used to
 * run after the rest, one at a time: a serial tail of a quarter of the run (133 of 525 s at a load of 11 on 2 cores)
 * in which one worker had nothing to do. They now start first, each beside one other file (the longest jobs first
 * keeps both workers busy to the end); what they assert is correctness under load, and they pass at a load of 10–15.
 */
const HEAVY = [
  'test/busy-machine.e2e.test.ts',
  'test/crash.e2e.test.ts',
  'test/reliability-concurrency.e2e.test.ts',
  // Two (later four) server processes at once, stampedes of activations and marketplace deliveries between them.
  'test/instances.e2e.test.ts',
  // Two server processes on one PostgreSQL, one paused (SIGSTOP) and one SIGKILLed mid-call: a lease that must end
  // on time, checked against wall-clock bounds.
  'test/outbox-takeover.e2e.test.ts',
];

/**
 * The storage-level test files, run a second time on PostgreSQL (issue 16): testkit's openTestDatabase,
 * createTestApp and makeApp hand out a database of the run (LICENSOR_TEST_BACKEND=postgres, testkit/postgres.ts),
 * emptied and reused between the tests of a file, copied from a migrated template otherwise. The SQLite run of
 * each file is the shared-modules project above. Single tests that are about SQLite skip here with their reason
 * (testBackend()); their `licensor` command runs use the same database (testDatabaseEnv).
 * Files not here, each for its reason:
 *   - db/sqlite.test.ts, db/migrations.test.ts, testkit/src/server.test.ts, test/reliability-storage.e2e.test.ts,
 *     test/reliability-concurrency.e2e.test.ts, test/bench-floor.e2e.test.ts: about the SQLite file itself (WAL,
 *     pragmas, group commit, SQLite migrations, the template copy, a read-only or full disk, integrity_check);
 *   - admin/queries/plans.test.ts: SQLite's query plans (EXPLAIN QUERY PLAN) of the console lists;
 *   - http/readiness.test.ts, db/storage.contract.test.ts, db/postgres/*, db/open.test.ts, keys/databaseKeys,
 *     keys/dbSigningKeys, outbox/pgLeases, test/instances.e2e.test.ts: run on both backends already;
 *   - cli/cli.test.ts, cli/database.test.ts: `licensor` commands (cli.test: SQLite files, backups; database.test
 *     covers PostgreSQL itself);
 *   - security.test.ts: replaces node:crypto (vi.mock), so it needs a project that isolates files (module-mocks);
 *   - the other test/*.e2e.test.ts start server and CLI processes on a data folder's SQLite (client-server,
 *     console, editions, lifecycle, …); instances, bench-postgres and postgres-backup run on PostgreSQL already.
 */
const POSTGRES_SUITE = [
  'packages/server/src/admin/auth.test.ts',
  'packages/server/src/admin/queries/orders.test.ts',
  'packages/server/src/admin/queries/rows.test.ts',
  'packages/server/src/admin/router.test.ts',
  'packages/server/src/catalog/catalog.test.ts',
  'packages/server/src/catalog/license.test.ts',
  'packages/server/src/catalog/rederive.test.ts',
  'packages/server/src/console/adminOpenApi.test.ts',
  'packages/server/src/console/readiness.test.ts',
  'packages/server/src/http/cors.test.ts',
  'packages/server/src/jobs/daily.test.ts',
  'packages/server/src/kit/admin.test.ts',
  'packages/server/src/kit/kit.test.ts',
  'packages/server/src/koogallery/codeLearning.test.ts',
  'packages/server/src/koogallery/messageLog.test.ts',
  'packages/server/src/koogallery/produce.test.ts',
  'packages/server/src/licensing/admin.test.ts',
  'packages/server/src/licensing/api.test.ts',
  'packages/server/src/licensing/http.test.ts',
  'packages/server/src/licensing/licenses.test.ts',
  'packages/server/src/operators/operators.test.ts',
  'packages/server/src/outbox/outbox.test.ts',
  'packages/server/src/webhooks/events.test.ts',
  'packages/server/src/webhooks/webhooks.test.ts',
  'test/fuzz/api.fuzz.test.ts',
  'test/fuzz/produce.fuzz.test.ts',
];

/**
 * Whether the test PostgreSQL (testkit/postgres.ts TEST_PG_ADMIN_URL) accepts connections. Without it the
 * postgres-suite files are left out with a warning, as every PostgreSQL test skips (a failure under CI=true).
 */
async function postgresAnswers(): Promise<boolean> {
  const url = new URL(process.env.LICENSOR_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  const answered = await new Promise<boolean>((resolve) => {
    const socket = connect({ host: url.hostname || '127.0.0.1', port: Number(url.port || 5432), timeout: 2000 });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
  // The config is evaluated more than once per run: warn once.
  if (!answered && process.env.CI !== 'true' && !process.env.LICENSOR_PG_SUITE_WARNED) {
    process.env.LICENSOR_PG_SUITE_WARNED = '1';
    process.stderr.write(`\n⚠  SKIPPING the postgres-suite project: PostgreSQL does not answer at ${url.host}\n\n`);
  }
  return answered;
}

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['source'] } },
  // Vitest's own environment, which loads the global setup.
  environments: { __vitest__: { resolve: { conditions, externalConditions: ['source'] } } },
  test: {
    // Generous limits for a machine busy with other work (a shared 2-core CI runner): a passing test ends as soon
    // as it passes, so a long limit costs nothing then.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Vitest's default is one worker per core but one (1 on a 2-core machine): much of the test time is waiting
    // on servers, child processes and a browser, so a second worker fills that time instead of idling. (3 were
    // faster still, but on a machine loaded far beyond its cores timing-sensitive tests then failed.)
    maxWorkers: 2,
    // Polls wait for background work (outbox, webhooks, a browser re-render): on a machine busy with other work
    // that can take seconds. A passing poll returns as soon as it holds, so the long limit costs nothing then.
    expect: { poll: { timeout: 15_000 } },
    // Records every SQL statement the server prepares and checks each on PostgreSQL after the run.
    globalSetup: ['packages/testkit/src/sqlPortability.ts'],
    // The client's default anti-rollback anchors live in $XDG_STATE_HOME (Linux): keep tests out of the real home.
    // Likewise the CLI's code cache ($XDG_CACHE_HOME/licensor/code-cache, see packages/client/src/codeCache.ts).
    // LICENSOR_STORAGE_CHECKS: a query on the top-level storage inside one of its transactions throws
    // STORAGE_MISUSE instead of deadlocking (db/misuse.ts); servers and CLIs the tests start inherit it.
    env: {
      LICENSOR_STORAGE_CHECKS: '1',
      XDG_STATE_HOME: join(tmpdir(), 'licensor-test-state'),
      XDG_CACHE_HOME: join(tmpdir(), 'licensor-test-cache'),
    },
    projects: [
      {
        extends: true,
        test: {
          name: 'shared-modules',
          include: ALL,
          exclude: [...configDefaults.exclude, ...MODULE_MOCKS, ...HEAVY],
          // Files in one worker share the imported modules (the server, Express, zod, …) instead of importing
          // them again per file: most of a small file's time was that import. These files replace no module and
          // leave no global state behind (the ones that do are below).
          isolate: false,
        },
      },
      {
        extends: true,
        test: { name: 'module-mocks', include: MODULE_MOCKS, isolate: true },
      },
      {
        extends: true,
        // Vitest hands out the files project by project in the order of their names: 'heavy' comes first.
        test: { name: 'heavy', include: HEAVY, isolate: true },
      },
      {
        extends: true,
        test: {
          name: 'postgres-suite',
          include: (await postgresAnswers()) || process.env.CI === 'true' ? POSTGRES_SUITE : [],
          // Names the run and drops its databases afterwards (testkit/pgSuite.ts); under CI=true it fails the run
          // where PostgreSQL does not answer.
          globalSetup: ['packages/testkit/src/pgSuite.ts'],
          env: { LICENSOR_TEST_BACKEND: 'postgres' },
          isolate: false,
        },
      },
    ],
  },
});
