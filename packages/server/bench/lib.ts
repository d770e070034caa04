import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort } from '@licensor/testkit/server';
import autocannon from 'autocannon';

/** Helpers shared by the benchmark scripts: child-process servers and a load run reduced to a few numbers. */

export const ROOT = join(import.meta.dirname, '..', '..', '..');

export { freePort };

/** The value after `name` on the command line (`--configs 10000,1000000`), or `fallback` when it is not given. */
export function argOption(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]! : fallback;
}

export interface Child {
  url: string;
  proc: ChildProcess;
  dataDir: string;
  stop(): Promise<void>;
}

async function waitForHttp(url: string, proc: ChildProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`process exited with ${proc.exitCode ?? proc.signalCode}`);
    }
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url} did not come up`);
}

/** Runs a TypeScript file (the benchmark's bare Express and floor endpoints, another checkout's server) through tsx. */
export const TS_ARGS = ['--conditions=source', '--import', 'tsx'];

/**
 * What every benchmark server runs with besides its port and data folder: the marketplace's keys, an admin token,
 * warnings only, no scheduler, and no production-interface rate limit (the load comes from one address: with the
 * default 600/min most answers would be 429s, and a profile would profile the limiter).
 */
export const BENCH_SERVER_ENV: Record<string, string> = {
  HOST: '127.0.0.1',
  LICENSOR_KOO_KEY: 'KEY',
  LICENSOR_KOO_ACCESS_KEY: 'ACCESSKEY',
  LICENSOR_ADMIN_TOKEN: 'bench-admin-token',
  LICENSOR_LOG_LEVEL: 'warn',
  LICENSOR_SCHEDULER: 'off',
  LICENSOR_PRODUCE_RATE_LIMIT: '0',
};

/** The configuration of an app created in the benchmark's own process: no rate limit on the API, no scheduler. */
export const inProcessBenchEnv = (dataDir: string): Record<string, string> => ({
  LICENSOR_DATA_DIR: dataDir,
  LICENSOR_API_RATE_LIMIT: '0',
  LICENSOR_SCHEDULER: 'off',
  LICENSOR_LOG_LEVEL: 'warn',
  LICENSOR_KOO_KEY: 'KEY',
  LICENSOR_KOO_ACCESS_KEY: 'ACCESSKEY',
});

/** Starts `node <args>` in `cwd` and resolves once `readyUrl` answers; a process that never does is killed. */
export function spawnNode(
  args: string[],
  env: Record<string, string>,
  readyUrl: string,
  dataDir: string,
  cwd = ROOT,
): Promise<Child> {
  const proc = spawn(process.execPath, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  // A process that never came up must not outlive the benchmark (or test) that gave up on it.
  const started = waitForHttp(readyUrl, proc).catch((err: unknown) => {
    proc.kill('SIGKILL');
    throw err;
  });
  return started.then(() => ({
    url: new URL(readyUrl).origin,
    proc,
    dataDir,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  }));
}

let built: Promise<unknown> | undefined;
/**
 * The Node arguments of `npm start` (`node scripts/dev.mjs start`: the built server, `packages/server/dist/main.js`,
 * run in the launcher's process), built first when stale so the server process never builds. Measuring the sources
 * through tsx instead would add tsx's loader thread (≈ 37 MB of RSS) to a process no merchant runs.
 */
export async function licensorServerArgs(): Promise<string[]> {
  built ??= import(pathToFileURL(join(ROOT, 'scripts/build.mjs')).href)
    .then((m: { ensureBuilt(names: string[], opts: { log(line: string): void }): Promise<string[]> }) =>
      m.ensureBuilt(['server'], { log: (line) => process.stderr.write(`[bench] ${line}\n`) }),
    )
    .catch((err: unknown) => {
      built = undefined; // a failed build is tried again by the next server start, not remembered
      throw err;
    });
  await built;
  return [join(ROOT, 'scripts/dev.mjs'), 'start'];
}

/** The real server (`npm start`, see licensorServerArgs) on a fresh data folder. */
export async function startLicensorServer(extraEnv: Record<string, string> = {}): Promise<Child> {
  const port = await freePort();
  const dataDir = extraEnv.LICENSOR_DATA_DIR ?? mkdtempSync(join(tmpdir(), 'licensor-bench-'));
  return spawnNode(
    await licensorServerArgs(),
    { ...BENCH_SERVER_ENV, PORT: String(port), LICENSOR_DATA_DIR: dataDir, ...extraEnv },
    `http://127.0.0.1:${port}/healthz`,
    dataDir,
  );
}

/** The reference: a bare Express app answering a small JSON body. */
export async function startBareExpress(): Promise<Child> {
  const port = await freePort();
  return spawnNode(
    [...TS_ARGS, join(ROOT, 'packages/server/bench/bare-express.ts')],
    { PORT: String(port) },
    `http://127.0.0.1:${port}/bare`,
    '',
  );
}

/**
 * The floor endpoints (floor.ts): the irreducible work of an activation and of a check-in, on Express, through
 * the same group commit and crypto. `keysFile` lists the device keys check-ins are signed with; `databaseUrl`
 * (postgres://…) puts the durable write on PostgreSQL instead of SQLite.
 */
export async function startFloor(keysFile: string, databaseUrl?: string): Promise<Child> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'licensor-floor-'));
  return spawnNode(
    [...TS_ARGS, join(ROOT, 'packages/server/bench/floor.ts')],
    {
      PORT: String(port),
      FLOOR_DIR: dataDir,
      FLOOR_KEYS: keysFile,
      ...(databaseUrl ? { FLOOR_DATABASE_URL: databaseUrl } : {}),
    },
    `http://127.0.0.1:${port}/floor/ready`,
    dataDir,
  );
}

export interface LoadResult {
  name: string;
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

export async function load(
  name: string,
  url: string,
  opts: { connections?: number; durationSec?: number; setupRequest?: (req: autocannon.Request) => autocannon.Request },
): Promise<LoadResult> {
  const r = await autocannon({
    url,
    connections: opts.connections ?? 50,
    duration: opts.durationSec ?? 5,
    requests: opts.setupRequest ? [{ setupRequest: opts.setupRequest as never }] : undefined,
  });
  return {
    name,
    requests: r.requests.total,
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
  };
}

export function table(rows: LoadResult[], baseline: LoadResult): string {
  const lines = [
    '| scenario | req/s | vs bare Express | p50 ms | p99 ms | errors | non-2xx |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${r.rps.toFixed(0)} | ${((r.rps / baseline.rps) * 100).toFixed(0)}% | ${r.p50} | ${r.p99} | ${r.errors} | ${r.non2xx} |`,
    ),
  ];
  return lines.join('\n');
}
