// Installs the workspace with pnpm (fetched through npx) when node_modules is missing or older than the
// lockfile: every README command goes through here first, so a fresh clone needs only Node 20 and npm.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const PNPM = ['-y', 'pnpm@10.34.8'];
export const installEnv = { ...process.env, ELECTRON_SKIP_BINARY_DOWNLOAD: '1', PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1' };

function installIsCurrent() {
  const marker = join(root, 'node_modules', '.modules.yaml');
  if (!existsSync(marker)) return false;
  const lock = join(root, 'pnpm-lock.yaml');
  return !existsSync(lock) || statSync(lock).mtimeMs <= statSync(marker).mtimeMs;
}

/**
 * `quiet`: progress and pnpm's own output go to stderr (the `licensor-client` bin's stdout may be JSON).
 * Exits the process with a hint when the installation fails.
 */
export function ensureInstalled({ quiet = false } = {}) {
  if (installIsCurrent()) return;
  const say = quiet ? console.error : console.log;
  say('› Installing workspace dependencies (pnpm via npx; first run compiles better-sqlite3, about a minute)…');
  const frozen = existsSync(join(root, 'pnpm-lock.yaml')) && process.env.CI ? ['--frozen-lockfile'] : [];
  const res = spawnSync('npx', [...PNPM, 'install', ...frozen], {
    cwd: root,
    stdio: quiet ? ['inherit', 2, 2] : 'inherit',
    env: installEnv,
    shell: process.platform === 'win32',
  });
  if (res.status !== 0) {
    console.error('✖ Dependency installation failed. Check network access to the npm registry and re-run.');
    process.exit(res.status ?? 1);
  }
}
