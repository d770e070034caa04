#!/usr/bin/env node
// Entry point behind every README command (`npm start`, `npm test`, `npm run demo`, the benchmarks, the full
// tier): a fresh clone needs nothing but Node 20 and npm. Each task first installs the workspace when
// node_modules is missing or stale (scripts/install.mjs), then:
//
//   start             builds the server when missing or older than its sources, runs packages/server/dist/main.js
//   build             JavaScript and type declarations of every package (scripts/build.mjs)
//   test [args]       vitest, with the type checks, dependency rules and lint beside it (scripts/checks.mjs)
//   run <file.ts> …   a development script (demo, benchmark, full tier) from the TypeScript sources under tsx
//
// `start` and `run` execute the server or script in this very process, not in a child, and stop with their
// launcher (see stopWithTheLauncher): SIGTERM or SIGINT to `npm start`'s PID shuts the server down gracefully.
import { spawn, spawnSync } from 'node:child_process';
import { register } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureBuilt, ROOT } from './build.mjs';
import { reportChecks, startChecks, staticChecks } from './checks.mjs';
import { ensureInstalled, installEnv } from './install.mjs';

const bin = (name) => join(ROOT, 'node_modules', '.bin', name);

function step(title, cmd, args) {
  console.log(`\n› ${title}`);
  const started = performance.now();
  const res = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit', env: installEnv });
  if (res.error) throw res.error;
  if (res.status !== 0) {
    console.error(`✖ ${title} failed (exit ${res.status})`);
    process.exit(res.status ?? 1);
  }
  console.log(`  ${title}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * Signals for the script running in this process (the server, a demo): its own handlers shut it down.
 * - Ctrl+C in a terminal reaches both npm and this process, and npm passes it on once more: a repeat within a
 *   second is that echo and must not cut the graceful shutdown short. A repeat after that means "stop now".
 * - npm runs the script through `sh -c`, and sends a signal for `npm start`'s PID to that shell, which dies
 *   without passing it on. So this process watches its parent: when the parent is gone (the shell, npm, or a
 *   terminal closed), it sends itself SIGTERM — the graceful shutdown instead of an orphaned server.
 */
function stopWithTheLauncher() {
  let first = 0;
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      // Nobody else listens (a script without its own handler): behave as if this listener did not exist.
      if (process.listenerCount(signal) === 1) process.exit(signal === 'SIGINT' ? 130 : 143);
      if (first === 0) first = Date.now();
      else if (Date.now() - first > 1000) {
        console.error(`✖ ${signal} again: stopping without waiting for the graceful shutdown`);
        process.exit(130);
      }
    });
  }
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(watch);
    if (first === 0) process.kill(process.pid, 'SIGTERM');
  }, 250);
  watch.unref();
}

const [task, ...rest] = process.argv.slice(2);
if (task === 'install') {
  ensureInstalled();
} else if (task === 'build') {
  ensureInstalled();
  try {
    const built = await ensureBuilt(['shared', 'client', 'server'], { types: true, log: (l) => console.log(l) });
    console.log(built.length ? '✔ Built' : '✔ Every package is up to date');
  } catch (err) {
    console.error(`✖ Build failed: ${err.message}`);
    process.exit(1);
  }
} else if (task === 'start') {
  ensureInstalled();
  await ensureBuilt(['server'], { log: (l) => console.log(l) });
  stopWithTheLauncher();
  const main = join(ROOT, 'packages', 'server', 'dist', 'main.js');
  process.argv = [process.argv[0], main, ...rest];
  await import(pathToFileURL(main).href);
} else if (task === 'run' && rest[0]) {
  ensureInstalled();
  // Development scripts run from the TypeScript sources: tsx compiles them, and the `source` export condition
  // resolves the workspace packages to their src/ (the same code the tests run), not to a build.
  const { register: registerTsx } = await import('tsx/esm/api');
  registerTsx();
  register(
    `data:text/javascript,${encodeURIComponent(
      'export const resolve = (s, c, next) => next(s, { ...c, conditions: ["source", ...c.conditions] });',
    )}`,
  );
  stopWithTheLauncher();
  const script = resolve(ROOT, rest[0]);
  process.argv = [process.argv[0], script, ...rest.slice(1)];
  await import(pathToFileURL(script).href);
} else if (task === 'test') {
  ensureInstalled();
  // The static checks run beside vitest, niced (scripts/checks.mjs); both always finish, and both are reported.
  const checks = startChecks(staticChecks(ROOT), { cwd: ROOT, env: installEnv });
  console.log('\n› Unit and end-to-end tests (vitest), beside the static checks');
  const started = performance.now();
  const vitest = await new Promise((done) => {
    const child = spawn(bin('vitest'), ['run', ...rest], { cwd: ROOT, stdio: 'inherit', env: installEnv });
    child.on('error', (err) => {
      console.error(err.message);
      done(1);
    });
    child.on('close', (code, signal) => done(code ?? (signal ? 1 : 0)));
  });
  console.log(`  Unit and end-to-end tests (vitest): ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const failed = reportChecks(await checks);
  if (vitest !== 0) failed.push(`Unit and end-to-end tests (vitest, exit ${vitest})`);
  if (failed.length > 0) {
    console.error(`\n✖ ${failed.length} failed:\n${failed.map((f) => `  - ${f}`).join('\n')}`);
    process.exit(1);
  }
  console.log('\n✔ All checks passed');
} else if (task === 'screenshots' && rest[0]) {
  // Regenerates docs/screenshots/ from the named end-to-end test files (not part of every `npm test`).
  ensureInstalled();
  installEnv.LICENSOR_SCREENSHOTS = '1';
  step('Screenshots (vitest with LICENSOR_SCREENSHOTS=1)', bin('vitest'), ['run', ...rest]);
} else {
  console.error('usage: node scripts/dev.mjs install | build | start | test [vitest args] | run <file.ts> [args]');
  process.exit(2);
}
