#!/usr/bin/env node
// Type-checks TypeScript projects, `tsc -p <project> --noEmit` each, with TypeScript 7 (the native compiler, npm alias
// `typescript7`): the four programs of `npm test` in ≈ 10 CPU-s instead of ≈ 37 with TypeScript 5.9, whose JavaScript
// API the build still uses (dts-bundle-generator) and a few tests read sources with. Diagnostics are printed as `tsc`
// prints them without a terminal, under the project's name; the exit code is 1 when any program has an error.
//
//   node scripts/typecheck.mjs tsconfig.check.json packages/console/tsconfig.json …
//   node scripts/typecheck.mjs --all    (the programs of `npm test`, scripts/checks.mjs TYPE_CHECKED)
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// Resolved from this file's folder, so the runner works from any working directory.
const TSC = join(dirname(createRequire(import.meta.url).resolve('typescript7/package.json')), 'bin', 'tsc');

/**
 * Checks each project in turn; returns the number of error diagnostics, having written every diagnostic. A program
 * that fails without a diagnostic in tsc's format (a missing or broken tsconfig, a crash) counts as one error, so a
 * check that could not run never passes.
 */
export function typecheck(projects, { cwd = process.cwd(), write = (s) => process.stdout.write(s) } = {}) {
  let errors = 0;
  for (const project of projects) {
    const res = spawnSync(process.execPath, [TSC, '-p', resolve(cwd, project), '--noEmit', '--pretty', 'false'], {
      cwd,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    const output = `${res.stdout ?? ''}${res.stderr ?? ''}${res.error ? `${res.error.message}\n` : ''}`;
    if (output.trim() !== '') write(`${project}:\n${output}`);
    const found = output.match(/\berror TS\d+:/g)?.length ?? 0;
    errors += res.status === 0 ? found : Math.max(found, 1);
  }
  return errors;
}

// fileURLToPath, not the URL's pathname: that is percent-encoded (a space, a Chinese user name in the path), and a
// mismatch here would check nothing and exit 0.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  // --all: the programs `npm test` checks (scripts/checks.mjs), for `npm run typecheck`: one list for both.
  const projects = args.length === 1 && args[0] === '--all' ? (await import('./checks.mjs')).TYPE_CHECKED : args;
  if (projects.length === 0) {
    console.error('usage: node scripts/typecheck.mjs --all | <tsconfig.json> …');
    process.exit(2);
  }
  process.exitCode = typecheck(projects) > 0 ? 1 : 0;
}
