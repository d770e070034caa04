import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort } from './server';

/**
 * Several real server processes on one database, as a deployment runs them behind a load balancer: start N,
 * wait until each says /readyz (database reachable, schema current), kill one (SIGKILL: a crash) and restart it
 * on the same port, stop them all. Each process runs the built server (packages/server/dist, rebuilt first when any
 * source is newer, as `npm start` does), with the environment given plus its own PORT. Not the sources through
 * tsx: that loader compiled the server again in every process, about 2 s of CPU each on two cores.
 *
 *   const fleet = await startInstances({ count: 2, env: { LICENSOR_DATABASE_URL: url, LICENSOR_DATA_DIR: dir } });
 *   await fetch(`${fleet.url(0)}/…`); await fleet.kill(1); await fleet.restart(1); await fleet.stop();
 *
 * `runCli` runs one `licensor …` command in a process of its own (two at once are two instances migrating).
 */
export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const SERVER_MAIN = join(REPO_ROOT, 'packages/server/dist/main.js');
// Stack traces name the sources, and the SQL recorder (db/sqlRecorder.ts) finds where a statement came from.
const NODE_ARGS = ['--enable-source-maps'];
const CLI_INDEX = join(REPO_ROOT, 'packages/server/dist/cli/index.js');

let built: Promise<unknown> | undefined;
/** Builds the server once per test process (scripts/build.mjs: only what is stale, under a lock shared with others). */
function ensureServerBuilt(): Promise<unknown> {
  built ??= import(pathToFileURL(join(REPO_ROOT, 'scripts/build.mjs')).href).then(
    (m: { ensureBuilt(names: string[], opts: { log(line: string): void }): Promise<string[]> }) =>
      m.ensureBuilt(['server'], { log: () => {} }),
  );
  return built;
}

/**
 * The Node arguments that run the built server (`node <args>`, its entry point as `npm start` runs it), built first
 * when stale: for tests that start a server process their own way (test/crash/harness.ts).
 */
export async function builtServerArgs(): Promise<string[]> {
  await ensureServerBuilt();
  return [...NODE_ARGS, SERVER_MAIN];
}

export interface InstanceProcess {
  index: number;
  port: number;
  url: string;
  proc: ChildProcess;
  /** Everything the process printed (stdout and stderr, the last ~1000 chunks), for failure reports. */
  output: string[];
  exited: Promise<number | null>;
}

export interface StartInstancesOptions {
  count: number;
  /** Environment of every instance (LICENSOR_DATABASE_URL, LICENSOR_DATA_DIR, keys…); PORT is set per instance. */
  env: Record<string, string>;
  /** Per-instance additions (e.g. its own data folder for its logs). */
  envOf?: (index: number) => Record<string, string>;
  /** Ready means /readyz (default) or only /healthz answering 200. */
  ready?: 'readyz' | 'healthz';
  timeoutMs?: number;
  /** Start them one after the other instead of all at once (the default races them, as a deploy does). */
  sequential?: boolean;
}

export interface Instances {
  readonly instances: InstanceProcess[];
  url(index: number): string;
  /** Round-robin over the instances that are up, like a load balancer. */
  next(): string;
  /** Kills one (SIGKILL unless told) and waits for it to exit. */
  kill(index: number, signal?: NodeJS.Signals): Promise<number | null>;
  /** Starts a killed or stopped instance again on its port, waiting until it is ready. */
  restart(index: number): Promise<InstanceProcess>;
  /** SIGTERM to every live instance (SIGKILL after the grace period), waiting for all. */
  stop(graceMs?: number): Promise<void>;
}

const alive = (p: ChildProcess) => p.exitCode === null && p.signalCode === null;

function keepOutput(proc: ChildProcess): string[] {
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(chunk.toString('utf8'));
    if (output.length > 2000) output.splice(0, 1000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  return output;
}

/** Starts one server process and resolves once it is ready; rejects with its output if it exits or times out. */
export async function spawnInstance(
  index: number,
  port: number,
  env: Record<string, string>,
  opts: { ready?: 'readyz' | 'healthz'; timeoutMs?: number } = {},
): Promise<InstanceProcess> {
  await ensureServerBuilt();
  const proc = spawn(process.execPath, [...NODE_ARGS, SERVER_MAIN], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      LICENSOR_LOG_LEVEL: 'warn',
      LICENSOR_SCHEDULER: 'off',
      HOST: '127.0.0.1',
      ...env,
      PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = keepOutput(proc);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const path = opts.ready === 'healthz' ? '/healthz' : '/readyz';
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (!alive(proc)) {
      await exited;
      throw new Error(
        `instance ${index} exited (${proc.exitCode ?? proc.signalCode}) while starting:\n${output.join('')}`,
      );
    }
    try {
      const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return { index, port, url, proc, output, exited };
      last = `${res.status} ${await res.text()}`;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  proc.kill('SIGKILL');
  await exited;
  throw new Error(`instance ${index} was not ready (${path}: ${last}) within ${timeoutMs} ms:\n${output.join('')}`);
}

export async function startInstances(opts: StartInstancesOptions): Promise<Instances> {
  const ports: number[] = [];
  for (let i = 0; i < opts.count; i++) ports.push(await freePort());
  const envOf = (i: number) => ({ ...opts.env, ...(opts.envOf?.(i) ?? {}) });
  const launch = (i: number) => spawnInstance(i, ports[i]!, envOf(i), opts);
  const instances: InstanceProcess[] = [];
  if (opts.sequential) {
    for (let i = 0; i < opts.count; i++) instances.push(await launch(i));
  } else {
    const started = await Promise.allSettled(ports.map((_, i) => launch(i)));
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) {
      for (const s of started) if (s.status === 'fulfilled') s.value.proc.kill('SIGKILL');
      await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value.exited : undefined)));
      throw (failed as PromiseRejectedResult).reason;
    }
    instances.push(...started.map((s) => (s as PromiseFulfilledResult<InstanceProcess>).value));
  }
  let turn = 0;
  const fleet: Instances = {
    instances,
    url: (i) => instances[i]!.url,
    next: () => {
      for (let n = 0; n < instances.length; n++) {
        const candidate = instances[turn++ % instances.length]!;
        if (alive(candidate.proc)) return candidate.url;
      }
      throw new Error('no instance is running');
    },
    kill: async (i, signal = 'SIGKILL') => {
      const inst = instances[i]!;
      if (alive(inst.proc)) inst.proc.kill(signal);
      return inst.exited;
    },
    restart: async (i) => {
      const inst = instances[i]!;
      if (alive(inst.proc)) throw new Error(`instance ${i} is still running: kill it first`);
      instances[i] = await spawnInstance(i, inst.port, envOf(i), opts);
      return instances[i]!;
    },
    stop: async (graceMs = 10_000) => {
      await Promise.all(
        instances.map(async (inst) => {
          if (!alive(inst.proc)) return;
          inst.proc.kill('SIGTERM');
          const timer = setTimeout(() => inst.proc.kill('SIGKILL'), graceMs);
          await inst.exited;
          clearTimeout(timer);
        }),
      );
    },
  };
  return fleet;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  // biome-ignore lint/suspicious/noExplicitAny: parsed --json output
  json(): any;
}

/** Runs `licensor <args>` (the built CLI, as the `licensor` bin does) in a process of its own. */
export async function runCli(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<CliResult> {
  await ensureServerBuilt();
  // The CLI module exports main(); this one-liner calls it with the arguments after `--`.
  const script = `const { main } = await import(${JSON.stringify(pathToFileURL(CLI_INDEX).href)}); process.exitCode = await main(process.argv.slice(1));`;
  const proc = spawn(process.execPath, [...NODE_ARGS, '--input-type=module', '-e', script, '--', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, LICENSOR_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (c: Buffer) => {
    stdout += c.toString('utf8');
  });
  proc.stderr.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    proc.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, json: () => JSON.parse(stdout) });
    });
  });
}
