import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { requirePrivatePostgres } from '@licensor/testkit/privatePostgres';
import { crashSummary, runCrashTest } from './crash';
import { ROOT } from './harness';
import { type PgCrashReport, pgCrashSummary, runPgCrashTest } from './pgCrash';

/**
 * `npm run test:full`: the reliability suite in full form — the crash test with 20 SIGKILLs, the same on PostgreSQL
 * (two instances, 20 SIGKILLs alternating between them, one PostgreSQL restart mid-run; test/crash/pgCrash.ts), then the
 * concurrency tests (1000-way duplicates), the fuzzers (10x the runs) and the slowloris timings with the
 * production values, the storage-fault and security tests, the exhaustive bit-flip and substitution tests of
 * License files and license codes. Several minutes; CI runs the reduced forms.
 */

const kills = Number(process.argv[process.argv.indexOf('--kills') + 1]) || 20;
console.log(`› Crash test: ${kills} SIGKILLs under load`);
const report = await runCrashTest({ kills, workers: 12, log: (l) => console.log(`  ${l}`) });
console.log(`\n${crashSummary(report)}\n`);

console.log(`› Crash test on PostgreSQL: two instances, ${kills} SIGKILLs, one PostgreSQL restart (a private cluster)`);
// Skipped with a warning where no private cluster can run (not root, no PostgreSQL 15); under CI=true that throws.
let pgReport: Pick<PgCrashReport, 'failures'> = { failures: [] };
if (requirePrivatePostgres('crash test on PostgreSQL')) {
  const r = await runPgCrashTest({ kills, workers: 12, log: (l) => console.log(`  ${l}`) });
  console.log(`\n${pgCrashSummary(r)}\n`);
  pgReport = r;
}

console.log('› Concurrency, fuzzing, slow clients, storage faults, security, exhaustive bit flips (LICENSOR_FULL=1)');
const vitest = spawnSync(
  join(ROOT, 'node_modules', '.bin', 'vitest'),
  [
    'run',
    'test/fuzz',
    'test/reliability-concurrency.e2e.test.ts',
    'test/reliability-storage.e2e.test.ts',
    'packages/server/src/security.test.ts',
    'packages/server/src/http/cors.test.ts',
    // Exhaustive forms: every bit flip of a License file, every substitution of 300 license codes.
    'packages/shared/src/license/license.test.ts',
    'packages/shared/src/licenseCode.test.ts',
    '--testTimeout=600000',
  ],
  { cwd: ROOT, stdio: 'inherit', env: { ...process.env, LICENSOR_FULL: '1' } },
);
const ok = report.failures.length === 0 && pgReport.failures.length === 0 && vitest.status === 0;
const verdict = (r: { failures: unknown[] }) => (r.failures.length === 0 ? 'passed' : 'FAILED');
console.log(
  `\n${ok ? '✔' : '✖'} Full reliability suite: crash test ${verdict(report)}, on PostgreSQL ${verdict(pgReport)}, vitest ${vitest.status === 0 ? 'passed' : 'FAILED'}`,
);
process.exit(ok ? 0 : 1);
