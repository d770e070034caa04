/**
 * Cold start of `licensor-client status` with the real fingerprint collection, as an end user runs it, and the
 * breakdown of the collection (issue 15).
 *
 *   npx tsx packages/client/bench/fingerprint-bench.ts [runs=5]
 *
 * Setup: this host's real readings, a License bound to them (test key hierarchy) imported into a temporary data
 * folder. Then, median of `runs` whole processes each (wall clock, and user+system CPU from /usr/bin/time when
 * present): `node -e 0`; the CLI with an empty per-boot cache (a fresh XDG_RUNTIME_DIR per run: the first start
 * after a boot); the CLI with this boot's cache (every later start); the CLI's start-up alone (`--help`), which
 * separates loading the CLI (the built bundle, as the bin runs it) from the collection; then one start of each kind
 * with LICENSOR_TRACE_TIMING=1 (the breakdown by phase). In process: loading systeminformation, each reading alone
 * (systeminformation, and the direct Linux reads), all readings in parallel (what a cache miss costs), a cache hit.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { licenseFor, PRODUCT, pki } from '@licensor/testkit/client';
import {
  bootFingerprintCache,
  DEFAULT_READING_TIMEOUT_MS,
  fingerprintFromReadings,
  hashedFingerprint,
  linuxLiveReadings,
  type SystemInformationLike,
  systemInformationSource,
} from '../src/fingerprint';
import { linuxNetworkInterfaces, linuxUuid } from '../src/fingerprintLinux';
import { LicenseManager } from '../src/manager';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '../bin/licensor-client.cjs');
const RUNS = Number(process.argv[2] ?? 5);
const SLOW_READING_CAP_MS = 30_000;
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const ms = (x: number | undefined) => (x === undefined ? 'n/a' : `${Math.round(x)} ms`);

const work = mkdtempSync(join(tmpdir(), 'licensor-fp-bench-'));
try {
  // ---- in process: what a cache miss costs, reading by reading ----------------------------------------------
  let t = performance.now();
  const si = (await import('systeminformation')).default as unknown as SystemInformationLike;
  const importMs = performance.now() - t;
  const alone: [string, number][] = [];
  for (const name of ['uuid', 'system', 'baseboard', 'cpu', 'diskLayout', 'networkInterfaces'] as const) {
    t = performance.now();
    await si[name]();
    alone.push([name, performance.now() - t]);
  }
  const direct: [string, number][] = [];
  if (process.platform === 'linux') {
    for (const [name, read] of [
      ['uuid', () => linuxUuid()],
      ['networkInterfaces', () => linuxNetworkInterfaces()],
      ['live readings (both, as every start takes them)', () => linuxLiveReadings()],
    ] as const) {
      t = performance.now();
      read();
      direct.push([name, performance.now() - t]);
    }
  }
  t = performance.now();
  const readings = await systemInformationSource({ si, timeoutMs: SLOW_READING_CAP_MS })();
  const siParallelMs = performance.now() - t;
  t = performance.now();
  await systemInformationSource({ timeoutMs: SLOW_READING_CAP_MS })(); // the default: direct reads on Linux
  const parallelMs = performance.now() - t;
  const fp = fingerprintFromReadings(readings);

  const cacheDir = join(work, 'cache');
  const cache = bootFingerprintCache({ dir: cacheDir });
  cache.write(readings);
  t = performance.now();
  const hit = cache.read();
  const hitMs = performance.now() - t;
  if (!hit) throw new Error('the boot cache did not answer right after it was written');

  // ---- an activated install bound to this host -----------------------------------------------------------
  const dataDir = join(work, 'data');
  const rootFile = join(work, 'root.pem');
  writeFileSync(rootFile, pki().rootPem);
  const manager = new LicenseManager({ productId: PRODUCT, roots: [pki().rootPem], dataDir, fingerprint: () => fp });
  const imported = await manager.importLicenseFile(licenseFor(hashedFingerprint(fp, PRODUCT), { now: Date.now() }));
  if (imported.code !== 'VALID') throw new Error(`setup failed: ${imported.code}`);

  interface Run {
    wall: number;
    cpu?: number;
    out: string;
    err: string;
  }
  const run = (cmd: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> =>
    new Promise((resolve, reject) => {
      const args = TIME ? ['-f', '@@%U %S', ...cmd] : cmd.slice(1);
      const started = performance.now();
      const child = spawn(TIME ?? cmd[0]!, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c));
      child.stderr.on('data', (c: Buffer) => (err += c));
      child.on('error', reject);
      child.on('close', () => {
        const wall = performance.now() - started;
        const m = /@@([\d.]+) ([\d.]+)/.exec(err);
        resolve({ wall, out, err, ...(m ? { cpu: (Number(m[1]) + Number(m[2])) * 1000 } : {}) });
      });
    });
  const status = (runtimeDir: string, extra: NodeJS.ProcessEnv = {}) =>
    run([process.execPath, CLI, '--data-dir', dataDir, '--product', PRODUCT, '--root', rootFile, '--json', 'status'], {
      ...process.env,
      XDG_RUNTIME_DIR: runtimeDir,
      ...extra,
    });
  const series = async (name: string, once: (i: number) => Promise<Run>) => {
    const runs: Run[] = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await once(i);
      if (name.startsWith('status') && !r.out.includes('"code": "VALID"')) throw new Error(`${name}: ${r.out}`);
      runs.push(r);
    }
    const cpus = runs.map((r) => r.cpu).filter((c): c is number => c !== undefined);
    return { name, wall: median(runs.map((r) => r.wall)), cpu: cpus.length ? median(cpus) : undefined };
  };
  const warmDir = join(work, 'run-warm');
  mkdirSync(warmDir, { mode: 0o700 });
  await status(warmDir); // fills this boot's cache
  const rows = [
    await series('node -e 0', () => run([process.execPath, '-e', '0'])),
    await series('CLI start-up only (--help)', () => run([process.execPath, CLI, '--help'])),
    await series('status, first start after boot (empty cache)', (i) => {
      const d = join(work, `run-cold-${i}`);
      mkdirSync(d, { mode: 0o700 });
      return status(d);
    }),
    await series('status, later starts (boot cache)', () => status(warmDir)),
  ];

  // One traced start of each kind (LICENSOR_TRACE_TIMING=1): where the time goes.
  const coldDir = join(work, 'run-traced-cold');
  mkdirSync(coldDir, { mode: 0o700 });
  const tracedCold = await status(coldDir, { LICENSOR_TRACE_TIMING: '1' });
  const tracedWarm = await status(warmDir, { LICENSOR_TRACE_TIMING: '1' });

  console.log(`fingerprint collection on this host (${fp.usableComponents} of 6 components readable)`);
  console.log(`  load systeminformation            ${ms(importMs)}`);
  for (const [name, x] of alone) console.log(`  ${`${name}()`.padEnd(32)}  ${ms(x)}  (systeminformation)`);
  for (const [name, x] of direct) console.log(`  ${name.padEnd(32)}  ${x.toFixed(2)} ms  (direct, Linux)`);
  console.log(`  all six queries in parallel, systeminformation  ${ms(siParallelMs)}  (to completion)`);
  console.log(
    `  all six in parallel, the default source          ${ms(parallelMs)}  (direct uuid/networkInterfaces on Linux; the CLI caps each at ${DEFAULT_READING_TIMEOUT_MS} ms)`,
  );
  console.log(`  boot cache hit                    ${hitMs.toFixed(2)} ms`);
  console.log(`whole process, median of ${RUNS} (wall / user+sys CPU / × node -e 0 wall)`);
  const bare = rows[0]!.wall;
  for (const r of rows)
    console.log(`  ${r.name.padEnd(48)} ${ms(r.wall)} / ${ms(r.cpu)} / ${(r.wall / bare).toFixed(2)}×`);
  const trace = (r: Run) => (/licensor timing[\s\S]*/.exec(r.err)?.[0] ?? '').replace(/\n@@[^\n]*/, '').trimEnd();
  console.log(`\none traced start, empty boot cache:\n${trace(tracedCold)}`);
  console.log(`\none traced start, boot cache:\n${trace(tracedWarm)}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
