import { chmodSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { configDefaults, defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

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
  'packages/client/src/stateCrash.test.ts', // vi.mock('node:fs'): a failpoint that kills a state write half-way
  // Points the SQL recorder at a folder of its own: the recorder keeps its file open per process, so in a shared
  // worker whose earlier files already recorded, the statement would land in the run's folder instead.
  'packages/server/src/db/postgres/portability.test.ts',
];

/**
 * The heaviest files: they load the machine on purpose (SIGKILLs of a server under load, stampedes of hundreds of
 * requests on one and on two server processes) and check how the code copes. They run first, on two workers, each
 * beside one other of them, and nothing else starts until they are done (vitest runs one group of projects after
 * the other, each group on one number of workers), so that no more than two of these stampedes share the machine:
 * what they assert is correctness under load, and they pass at a load of 10–15, but three at once (one run of
 * 2026-12-05, beside other sessions' work at a load of 25) made the concurrency file's in-process marketplace miss
 * its 2 s timeout (MARKETPLACE_UNAVAILABLE for all 200 first activations of a code). Longest first (quiet machine,
 * 2026-12-05: 26, 19 and 9 s), so both workers finish together.
 */
const HEAVY = [
  // Two (later four) server processes at once, stampedes of activations and marketplace deliveries between them.
  'test/instances.e2e.test.ts',
  'test/reliability-concurrency.e2e.test.ts',
  'test/crash.e2e.test.ts',
];

/**
 * Heavy files that mostly wait: they start first after the heavy group, isolated, beside other files (in the heavy
 * group they ran last, one of the two workers idle for its last 7 s and the run's second core mostly idle: the
 * group used 41.7 CPU-s in 41 s).
 */
const HEAVY_BESIDE = [
  // Two server processes on one PostgreSQL, one paused (SIGSTOP) and one SIGKILLed mid-call: a lease that must end
  // on time, checked against wall-clock bounds. Waits out a 5 s lease (3.9 CPU-s in 11.4 s).
  'test/outbox-takeover.e2e.test.ts',
  // The client CLI under CPU-bound processes of its own (3 per core): the load it makes is the point, so it runs
  // beside other files as it ran beside the heavy ones (3.2 CPU-s of its own in 7.8 s).
  'test/busy-machine.e2e.test.ts',
];

/**
 * The other files that took 4 s or more in a fresh-clone run (per-file wall, LICENSOR_TEST_CPU, 2026-12-05 04:15 UTC,
 * load 7), longest first.
 * On a fresh clone vitest knows no durations and starts the largest files first; a long file that happens to be small
 * then starts near the end and runs alone (key-revocation, 22 s, started at 260 of 316 s). Only the order: a file
 * missing here or in the wrong place costs time, never a test. Once vitest has durations of its own (a second run
 * on the same checkout), they decide.
 */
const LONGEST_FIRST = [
  ...HEAVY,
  ...HEAVY_BESIDE,
  'test/console.e2e.test.ts',
  'test/key-revocation.e2e.test.ts',
  'packages/server/src/db/postgres/migrate.test.ts',
  'packages/server/src/cli/backends.test.ts',
  'test/everyday-commands.e2e.test.ts',
  'test/everyday-client-package.e2e.test.ts',
  'packages/testkit/src/instances.test.ts',
  'packages/client/electron/renderer.e2e.test.ts',
  'packages/server/src/operators/operators.test.ts',
  'packages/server/src/licensing/api.test.ts',
  'packages/server/src/cli/revocationAnchor.test.ts',
  'packages/server/src/cli/database.test.ts',
  'test/lifecycle.e2e.test.ts',
  'test/simulator/simulator.test.ts',
  'test/fuzz/api.fuzz.test.ts',
  'test/postgres-backup.e2e.test.ts',
  'test/keys-transport.e2e.test.ts',
  'packages/testkit/src/privatePostgres.test.ts',
  'test/reverse-proxy.e2e.test.ts',
  'packages/server/src/admin/router.test.ts',
  'packages/server/src/koogallery/produce.test.ts',
  'test/fuzz/http.fuzz.test.ts',
  'packages/server/src/http/readiness.test.ts',
];

const HEAVY_BESIDE_PROJECT = 'heavy-beside';

/**
 * Vitest's order (groups, then projects by name, isolated files first) but the heavy-beside project first in its
 * group, and within a project the files of LONGEST_FIRST first in that order, unless vitest has durations of its own
 * for the files (then its order within a project: failed first, then longest first). A project's files stay
 * together: a worker of shared-modules or postgres-suite takes the next file only if it is of the same project (else
 * a fresh worker imports the server again).
 */
class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const position = new Map(sorted.map((f, i) => [f, i]));
    const groupOrder = (f: TestSpecification) => f.project.config.sequence.groupOrder;
    const besideFirst = (f: TestSpecification) => Number(f.project.name !== HEAVY_BESIDE_PROJECT);
    const known = files.some((f) =>
      this.ctx.cache.getFileTestResults(`${f.project.name}:${relative(this.ctx.config.root, f.moduleId)}`),
    );
    if (known) {
      return [...sorted].sort(
        (a, b) =>
          groupOrder(a) - groupOrder(b) || besideFirst(a) - besideFirst(b) || position.get(a)! - position.get(b)!,
      );
    }
    const rank = (f: TestSpecification) => {
      const i = LONGEST_FIRST.indexOf(relative(this.ctx.config.root, f.moduleId));
      return i === -1 ? LONGEST_FIRST.length : i;
    };
    const group = (f: TestSpecification) => `${groupOrder(f)}:${besideFirst(f)}:${f.project.name}`;
    const groups = [...new Set(sorted.map(group))].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    return [...sorted].sort(
      (a, b) =>
        groups.indexOf(group(a)) - groups.indexOf(group(b)) || rank(a) - rank(b) || position.get(a)! - position.get(b)!,
    );
  }
}

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
  'packages/server/src/http/nul.test.ts',
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
  if (!answered && process.env.CI === 'true') {
    // Fails the run before any test starts (the global setups load the PostgreSQL code in the background).
    throw new Error(
      `CI=true requires PostgreSQL, which does not answer at ${url.host}: start it ` +
        '(pg_ctlcluster --skip-systemctl-redirect 15 main start) or set LICENSOR_TEST_PG_URL',
    );
  }
  // The config is evaluated more than once per run: warn once.
  if (!answered && !process.env.LICENSOR_PG_SUITE_WARNED) {
    process.env.LICENSOR_PG_SUITE_WARNED = '1';
    process.stderr.write(`\n⚠  SKIPPING the postgres-suite project: PostgreSQL does not answer at ${url.host}\n\n`);
  }
  return answered;
}

/**
 * Workers of the files after the heavy ones. Measured on a quiet machine with two workers, the run kept the two
 * cores busy only 129 % of the time (339 s user + 75 s sys in 316 s): most files wait on servers, child processes,
 * PostgreSQL or a browser, and a third worker fills that wait. A machine that is already busier than it has cores
 * (other jobs: the 1-minute load average at the start) has no idle core to fill: there the third worker would only
 * add to the load under which timing-sensitive tests run, so it stays at two. LICENSOR_TEST_WORKERS overrides.
 */
// Decided once: vitest evaluates this config more than once per run, and its projects must agree.
if (!process.env.LICENSOR_TEST_WORKERS) {
  const load = loadavg()[0]!;
  process.env.LICENSOR_TEST_WORKERS = String(load < availableParallelism() ? 3 : 2);
  // Said once per run, so a slow run can be told from a busy machine (a fresh clone's install and build just before
  // count in the 1-minute load too).
  process.stderr.write(
    `vitest: ${process.env.LICENSOR_TEST_WORKERS} workers after the heavy files (1-minute load ${load.toFixed(1)} on ${availableParallelism()} cores; LICENSOR_TEST_WORKERS overrides)\n`,
  );
}
const WORKERS = Number(process.env.LICENSOR_TEST_WORKERS);

// The machine's temporary folder, as it was before this config pointed TMPDIR at the run's own (below): the config is
// evaluated more than once per run.
process.env.LICENSOR_SYSTEM_TMPDIR ??= tmpdir();
const SYSTEM_TMP = process.env.LICENSOR_SYSTEM_TMPDIR;
/**
 * The run's temporary folder: TMPDIR of vitest, its workers and every process they start, removed at the end of the
 * run. What tests make in the temporary folder and do not remove (the key store testkit shares per worker, data
 * folders of apps a test keeps to the end) used to stay in /tmp after every run: vitest ends its workers without
 * their exit handlers. Mode 1777 like /tmp itself: the private PostgreSQL clusters run as the postgres user.
 */
const RUN_TMP = join(SYSTEM_TMP, `licensor-vitest-tmp-${process.pid}`);
/**
 * Each project has a Vite server of its own, which transforms every source file it serves again: the server's
 * sources four times per run (shared-modules, postgres-suite, heavy, module-mocks) and once more for the global
 * setups. Vitest's file-system module cache (experimental.fsModuleCache) keys a transform by the file's content and
 * the Vite configuration, which the projects share: one project transforms a file, the others read it. Here it lives
 * for one run only (in the run's folder), so a run never reads what an earlier one wrote: a transform also records
 * where its imports resolved, which a moved file or a changed package.json can change without changing the
 * importing file.
 */
const MODULE_CACHE = join(RUN_TMP, 'vitest-modules');
const removeQuietly = (dir: string) => {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // A process of the run still writing there at exit: the next run's sweep below removes it.
  }
};
/** Whether a process of this id exists (signal 0 only checks; EPERM means it exists under another user). */
const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};
const RUN_TMP_MADE = Symbol.for('licensor.vitest.runTmp'); // the config is evaluated more than once
if (!(globalThis as { [RUN_TMP_MADE]?: true })[RUN_TMP_MADE]) {
  (globalThis as { [RUN_TMP_MADE]?: true })[RUN_TMP_MADE] = true;
  removeQuietly(RUN_TMP); // left by an earlier process of the same id
  mkdirSync(RUN_TMP, { recursive: true });
  chmodSync(RUN_TMP, 0o1777);
  process.env.TMPDIR = RUN_TMP;
  process.once('exit', () => removeQuietly(RUN_TMP));
  // Folders of runs that were killed (SIGKILL, a CI timeout) and so never ran their exit handler: their process is gone.
  for (const name of readdirSync(SYSTEM_TMP)) {
    const pid = Number(/^licensor-vitest-tmp-(\d+)$/.exec(name)?.[1]);
    if (pid && pid !== process.pid && !processAlive(pid)) removeQuietly(join(SYSTEM_TMP, name));
  }
}

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['source'] } },
  // Vitest's own environment, which loads the global setup.
  environments: { __vitest__: { resolve: { conditions, externalConditions: ['source'] } } },
  test: {
    experimental: { fsModuleCache: true, fsModuleCachePath: MODULE_CACHE },
    // Generous limits for a machine busy with other work (a shared 2-core CI runner): a passing test ends as soon
    // as it passes, so a long limit costs nothing then.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two workers (vitest's default is one per core but one: 1 on a 2-core machine) for the heavy files, which run
    // first and alone (groupOrder 0); the other projects run after them (groupOrder 1) on WORKERS workers, the
    // heavy-beside files first.
    maxWorkers: 2,
    sequence: { sequencer: LongestFirst },
    // Polls wait for background work (outbox, webhooks, a browser re-render): on a machine busy with other work
    // that can take seconds. A passing poll returns as soon as it holds, so the long limit costs nothing then.
    expect: { poll: { timeout: 15_000 } },
    // Records every SQL statement the server prepares and checks each on PostgreSQL after the run.
    // LICENSOR_TEST_CPU: vitest's main process CPU at the end of the run (cpuOfMain.ts).
    globalSetup: [
      ...(process.env.LICENSOR_TEST_CPU ? ['packages/testkit/src/cpuOfMain.ts'] : []),
      'packages/testkit/src/sqlPortability.ts',
    ],
    // LICENSOR_TEST_CPU=<file>: one line per test file with its wall time and CPU (testkit/cpuPerFile.ts).
    setupFiles: process.env.LICENSOR_TEST_CPU ? ['packages/testkit/src/cpuPerFile.ts'] : [],
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
          sequence: { groupOrder: 1 },
          maxWorkers: WORKERS,
          include: ALL,
          exclude: [...configDefaults.exclude, ...MODULE_MOCKS, ...HEAVY, ...HEAVY_BESIDE],
          // Files in one worker share the imported modules (the server, Express, zod, …) instead of importing
          // them again per file: most of a small file's time was that import. These files replace no module and
          // leave no global state behind (the ones that do are below).
          isolate: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'module-mocks',
          sequence: { groupOrder: 1 },
          maxWorkers: WORKERS,
          include: MODULE_MOCKS,
          isolate: true,
        },
      },
      {
        extends: true,
        // Group 0: before every other file, on the two workers of the root config.
        test: { name: 'heavy', sequence: { groupOrder: 0 }, include: HEAVY, isolate: true },
      },
      {
        extends: true,
        test: {
          name: HEAVY_BESIDE_PROJECT,
          sequence: { groupOrder: 1 },
          maxWorkers: WORKERS,
          include: HEAVY_BESIDE,
          isolate: true,
        },
      },
      {
        extends: true,
        test: {
          name: 'postgres-suite',
          sequence: { groupOrder: 1 },
          maxWorkers: WORKERS,
          include: (await postgresAnswers()) || process.env.CI === 'true' ? POSTGRES_SUITE : [],
          // Names the run and drops its databases afterwards (testkit/pgSuite.ts); under CI=true the run fails where
          // PostgreSQL does not answer (postgresAnswers above, then the setup's own check).
          globalSetup: ['packages/testkit/src/pgSuite.ts'],
          env: { LICENSOR_TEST_BACKEND: 'postgres' },
          isolate: false,
        },
      },
    ],
  },
});
