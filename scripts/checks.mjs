// The static checks of `npm test` (type checks, dependency rules, lint) and how they run: BESIDE vitest, under
// `nice`, rather than before it. Most of vitest's time is spent waiting (servers, child processes, a browser),
// and the checks fill that idle CPU; niced, they never slow a timing-sensitive test more than any other process
// would. Output is buffered per check and printed after vitest, in order, so nothing interleaves with it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The production code the dependency rules cover (the folders that exist: packages come and go). */
const MODULE_ROOTS = [
  'packages/shared/src',
  'packages/client/src',
  'packages/client/electron',
  'packages/client/bin',
  'packages/server/src',
  'packages/server/bin',
  'packages/simulator/src',
  'packages/testkit/src',
  'packages/console/src',
];

/** The TypeScript programs, each checked as `tsc -p <project> --noEmit` would (also `npm run typecheck`: --all). */
export const TYPE_CHECKED = [
  'tsconfig.check.json', // packages/shared, server, client, test and bench in one program: each file once
  'packages/client/electron/tsconfig.browser.json',
  'packages/client/electron/tsconfig.e2e.json',
  'packages/console/tsconfig.json', // the merchant console (browser code, Preact)
];

/** The checks, each one command: { title, cmd, args }. */
export function staticChecks(root) {
  const bin = (name) => join(root, 'node_modules', '.bin', name);
  return [
    {
      // TypeScript 7's tsc for each of the four programs in turn (scripts/typecheck.mjs).
      title: `Type check ${TYPE_CHECKED.join(', ')}`,
      cmd: process.execPath,
      args: [join(root, 'scripts', 'typecheck.mjs'), ...TYPE_CHECKED],
    },
    {
      // Import cycles and forbidden directions between modules (rules and reasons in .dependency-cruiser.cjs).
      title: 'Dependency rules (dependency-cruiser)',
      cmd: bin('depcruise'),
      args: ['--config', '.dependency-cruiser.cjs', ...MODULE_ROOTS.filter((dir) => existsSync(join(root, dir)))],
    },
    { title: 'Lint and format check (biome)', cmd: bin('biome'), args: ['ci', '.'] },
  ];
}

/** `nice -n 10` where there is one (Linux, macOS); elsewhere the command as it is. */
const NICE = ['/usr/bin/nice', '/bin/nice'].find((p) => existsSync(p));
const niced = (cmd, args) => (NICE ? { cmd: NICE, args: ['-n', '10', cmd, ...args] } : { cmd, args });

/**
 * Starts every check at once (niced) and returns a promise of their results, in the listed order:
 * [{ title, status, output, ms }]. A check that cannot start is a failure with the reason as its output.
 */
export function startChecks(checks, { cwd, env }) {
  const started = performance.now();
  return Promise.all(
    checks.map(({ title, cmd, args }) => {
      const run = niced(cmd, args);
      return new Promise((done) => {
        const child = spawn(run.cmd, run.args, { cwd, env });
        let output = '';
        child.stdout.on('data', (b) => {
          output += b;
        });
        child.stderr.on('data', (b) => {
          output += b;
        });
        child.on('error', (err) => done({ title, status: 1, output: `${output}${err.message}\n`, ms: 0 }));
        child.on('close', (code, signal) =>
          done({ title, status: code ?? (signal ? 1 : 0), output, ms: performance.now() - started }),
        );
      });
    }),
  );
}

/** Prints each check's output and time; returns the titles of the checks that failed. */
export function reportChecks(results) {
  const failed = [];
  for (const { title, status, output, ms } of results) {
    console.log(`\n› ${title}`);
    if (output.trim()) process.stdout.write(output.endsWith('\n') ? output : `${output}\n`);
    if (status !== 0) {
      console.error(`✖ ${title} failed (exit ${status})`);
      failed.push(title);
    } else {
      console.log(`  ${title}: ${(ms / 1000).toFixed(1)} s (niced, beside vitest)`);
    }
  }
  return failed;
}
