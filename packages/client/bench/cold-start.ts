/**
 * Cold start of `licensor-client status`: process start → verdict, as a whole process (spawn → exit),
 * against a bare `node -e 0` measured in the same run, round-robin so background load hits all alike.
 *
 *   npm run bench:cold-start [-- --runs 21] [--instructions]
 *
 * Variants: the built CLI as the `licensor-client` bin runs it (dist/cli.bundle.cjs through the per-user V8
 * code cache, src/codeCache.ts), and for reference the split ES-module build (dist/cli.js, what an embedding
 * app's imports load) and the TypeScript sources under tsx. The fingerprint readings are injected (as in
 * verify-bench.ts): collecting them on real hardware is measured separately. Goal: built CLI ≤ 1.5× bare node.
 *
 * --instructions: also counts the instructions of one start of each step of the bin's path under callgrind
 * (valgrind; the code cache warm), which, unlike wall time, does not move with the machine's load.
 *
 * The processes run without NODE_EXTRA_CA_CERTS: Node parses that bundle at every start, before any script, so
 * where it is set (this workplace sets it) bare `node` pays for it too and every ratio looks better than on an end
 * user's machine (here: 416 M of bare node's 500 M instructions, ≈ half its CPU time). --keep-extra-ca-certs runs
 * them with the environment as it is (the figures of reports before 2026-12-04 15:00).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BASE_READINGS, licenseFor, PRODUCT, pki } from '@licensor/testkit/client';
import { fingerprintFromReadings, hashedFingerprint } from '../src/fingerprint';
import { LicenseManager } from '../src/manager';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg >= 0 ? Number(process.argv[runsArg + 1]) : 21; // 0: instructions only
const INSTRUCTIONS = process.argv.includes('--instructions');
const KEEP_EXTRA_CA = process.argv.includes('--keep-extra-ca-certs');
const childEnv: NodeJS.ProcessEnv = { ...process.env };
if (!KEEP_EXTRA_CA) delete childEnv.NODE_EXTRA_CA_CERTS;

const built = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--js-only'], { stdio: 'inherit' });
if (built.status !== 0) throw new Error('building the client failed');

// A stored, valid, fingerprint-bound License.
const work = mkdtempSync(join(tmpdir(), 'licensor-cold-start-'));
const dataDir = join(work, 'data');
mkdirSync(dataDir);
const fp = fingerprintFromReadings(BASE_READINGS);
const manager = new LicenseManager({ productId: PRODUCT, roots: [pki().rootPem], dataDir, fingerprint: () => fp });
const imported = await manager.importLicenseFile(licenseFor(hashedFingerprint(fp, PRODUCT), { now: Date.now() }));
if (imported.code !== 'VALID') throw new Error(`setup failed: ${imported.code}`);

const driver = join(here, 'cold-start-status.cjs');
const config = (libPath: string) => {
  const path = join(work, `config-${libPath.endsWith('.ts') ? 'src' : 'dist'}.json`);
  writeFileSync(
    path,
    JSON.stringify({
      productId: PRODUCT,
      rootPem: pki().rootPem,
      dataDir,
      readings: BASE_READINGS,
      libPath,
      cacheDir: join(work, 'code-cache'), // private to this run: the first (warm-up) start writes it
    }),
  );
  return path;
};
const dist = join(here, '..', 'dist');
const src = join(here, '..', 'src');
const variants = [
  { name: 'bare `node -e 0`', args: ['-e', '0'] },
  {
    name: '`licensor-client status`, status bundle (zodLite) + code cache (what the bin runs)',
    args: [driver, join(dist, 'status.bundle.cjs'), config(join(dist, 'index.js'))],
    expect: 'VALID',
  },
  {
    name: '`licensor-client status`, the full CLI bundle with zod + code cache (what the bin ran before)',
    args: [driver, join(dist, 'cli.bundle.cjs'), config(join(dist, 'index.js'))],
    expect: 'VALID',
  },
  {
    name: '`licensor-client status`, built ES modules (dist/cli.js, no bundle, no cache)',
    args: [driver, join(dist, 'cli.js'), config(join(dist, 'index.js'))],
    expect: 'VALID',
  },
  {
    name: '`licensor-client status`, TypeScript sources under tsx',
    args: ['--conditions=source', '--import', 'tsx', driver, join(src, 'cli.ts'), config(join(src, 'index.ts'))],
    expect: 'VALID',
  },
];

/** Instructions of one process (callgrind's "Collected" total: the whole process, every thread). */
function instructions(args: string[], env: Record<string, string> = {}): number {
  const res = spawnSync('valgrind', ['--tool=callgrind', '--callgrind-out-file=/dev/null', process.execPath, ...args], {
    cwd: root,
    env: { ...childEnv, ...env },
    encoding: 'utf8',
  });
  const m = /Collected : (\d+)/.exec(res.stderr ?? '');
  if (res.status !== 0 || !m) throw new Error(`callgrind failed (is valgrind installed?): ${res.error ?? res.stderr}`);
  return Number(m[1]);
}

function timeRun(args: string[], expect?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], cwd: root, env: childEnv });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.on('error', reject);
    child.on('close', () => {
      const elapsed = performance.now() - start;
      if (expect && (JSON.parse(out) as { code?: string }).code !== expect) {
        return reject(new Error(`expected ${expect}, got ${out}`));
      }
      resolve(elapsed);
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

console.log(
  `Environment: NODE_EXTRA_CA_CERTS ${process.env.NODE_EXTRA_CA_CERTS ? (KEEP_EXTRA_CA ? 'kept' : 'removed') : 'not set'}; load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
for (const v of variants) await timeRun(v.args, v.expect); // warm the file cache and write the code cache once
if (RUNS > 0) {
  const times: number[][] = variants.map(() => []);
  for (let i = 0; i < RUNS; i++) {
    for (const [j, v] of variants.entries()) times[j]!.push(await timeRun(v.args, v.expect));
  }
  const medians = times.map(median);
  const bare = medians[0]!;
  console.log(`\nCold start, spawn → exit, median of ${RUNS} (round-robin, one run):\n`);
  console.log('| variant | median | × bare node |');
  console.log('|---|---|---|');
  for (const [j, v] of variants.entries()) {
    console.log(`| ${v.name} | ${medians[j]!.toFixed(1)} ms | ${(medians[j]! / bare).toFixed(2)}× |`);
  }
  const ratio = medians[1]! / bare;
  console.log(`\nGoal built CLI ≤ 1.5× bare node: ${ratio <= 1.5 ? 'met' : 'not met'} (${ratio.toFixed(2)}×)`);
}

if (INSTRUCTIONS) {
  const binArgs = variants[1]!.args;
  const steps = [
    { name: '`node -e 0`', args: ['-e', '0'] },
    {
      name: '+ the code-cache loader (`dist/codeCache.cjs` and the Node modules it requires)',
      args: binArgs,
      stop: 'loader',
    },
    {
      name: '+ load the bundle (read it, key and read the cache, deserialise, run the top level)',
      args: binArgs,
      stop: 'bundle',
    },
    { name: '+ `status` (arguments, state, verification, output)', args: binArgs },
  ];
  // V8 refuses under valgrind a cache written outside it (the CPU features it sees differ), and a start that stops
  // early would then write one holding only the top level: one whole start under valgrind first writes the cache
  // every step below then reads, as a user's second start reads the cache of the first.
  instructions(binArgs);
  console.log('\nInstructions (callgrind, one start each, code cache warm):\n');
  console.log('| step | instructions | step | × `node -e 0` |');
  console.log('|---|---:|---:|---:|');
  let previous = 0;
  let base = 0;
  for (const step of steps) {
    const count = instructions(step.args, step.stop ? { COLD_START_STOP: step.stop } : {});
    base ||= count;
    const m = (n: number) => `${(n / 1e6).toFixed(0)} M`;
    console.log(
      `| ${step.name} | ${m(count)} | ${previous ? `+${m(count - previous)}` : ''} | ${(count / base).toFixed(2)} |`,
    );
    previous = count;
  }
  const fullArgs = variants[2]!.args;
  instructions(fullArgs); // its own valgrind-flavoured cache, as above
  const full = instructions(fullArgs);
  console.log(
    `| for comparison: the whole start through the full CLI bundle (zod) | ${(full / 1e6).toFixed(0)} M | | ${(full / base).toFixed(2)} |`,
  );
}
console.log(
  `\nLoad average at the end: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
rmSync(work, { recursive: true, force: true });
