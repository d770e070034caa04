#!/usr/bin/env node
// Entry point behind `npm start` and `npm test`: a fresh machine needs nothing but Node 20 and npm.
// It installs the workspace with pnpm (fetched through npx) when node_modules is missing or stale,
// then runs the requested task with the workspace's own binaries.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const PNPM = ['-y', 'pnpm@10.34.8'];
const env = { ...process.env, ELECTRON_SKIP_BINARY_DOWNLOAD: '1', PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1' };

function run(cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env, ...opts });
  if (res.error) throw res.error;
  return res.status ?? 1;
}

function installIsCurrent() {
  const marker = join(root, 'node_modules', '.modules.yaml');
  if (!existsSync(marker)) return false;
  const lock = join(root, 'pnpm-lock.yaml');
  return !existsSync(lock) || statSync(lock).mtimeMs <= statSync(marker).mtimeMs;
}

export function ensureInstalled() {
  if (installIsCurrent()) return;
  console.log('› Installing workspace dependencies (pnpm via npx; first run compiles better-sqlite3, about a minute)…');
  const frozen = existsSync(join(root, 'pnpm-lock.yaml')) && process.env.CI ? ['--frozen-lockfile'] : [];
  const status = run('npx', [...PNPM, 'install', ...frozen]);
  if (status !== 0) {
    console.error('✖ Dependency installation failed. Check network access to the npm registry and re-run.');
    process.exit(status);
  }
}

const bin = (name) => join(root, 'node_modules', '.bin', name);

function step(title, cmd, args) {
  console.log(`\n› ${title}`);
  const status = run(cmd, args);
  if (status !== 0) {
    console.error(`✖ ${title} failed (exit ${status})`);
    process.exit(status);
  }
}

const task = process.argv[2];
if (task === 'install') {
  ensureInstalled();
} else if (task === 'start') {
  ensureInstalled();
  const server = join(root, 'packages', 'server', 'src', 'main.ts');
  process.exit(run(process.execPath, ['--import', 'tsx', server, ...process.argv.slice(3)]));
} else if (task === 'test') {
  ensureInstalled();
  for (const project of [
    'packages/shared',
    'packages/server',
    'packages/client',
    'packages/client/electron/tsconfig.browser.json',
    'packages/client/electron/tsconfig.e2e.json',
    'test',
    'bench',
  ]) {
    step(`Type check ${project}`, bin('tsc'), ['-p', project, '--noEmit']);
  }
  step('Lint and format check (biome)', bin('biome'), ['ci', '.']);
  step('Unit and end-to-end tests (vitest)', bin('vitest'), ['run', ...process.argv.slice(3)]);
  console.log('\n✔ All checks passed');
} else {
  console.error('usage: node scripts/dev.mjs install|start|test');
  process.exit(2);
}
