/**
 * Cost of offline verification with @licensor/client.
 *
 *   pnpm bench:client          (root script: tsx packages/client/bench/verify-bench.ts)
 *
 * 1. Cold: a fresh process loads the library and verifies a stored License (state file, MAC, signature
 *    chain, fingerprint, clock), timed from spawn to the verdict line; median of 10. Measured with the
 *    TypeScript sources under tsx (development), with a plain-JS bundle (what a shipped app runs) and with
 *    that bundle loaded through a V8 code cache, next to bare `node` and `node --import tsx` start-ups,
 *    which bound what any library can reach.
 * 2. Warm: `LicenseManager.verify()` in a running process next to a bare `crypto.verify` of the same
 *    signature (interleaved rounds, median per call).
 * 3. Fingerprint collection with systeminformation on this host (first call of a process).
 *
 * Goals: warm verify within 3x of bare crypto.verify; cold process under 150 ms.
 */
import { spawn } from 'node:child_process';
import { verify as cryptoVerify, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeLicenseFile, LicenseVerifier } from '@licensor/shared';
import { BASE_READINGS, licenseFor, PRODUCT, pki } from '@licensor/testkit/client';
import { evaluateLicense } from '../src/evaluate';
import { collectFingerprint, fingerprintFromReadings, hashedFingerprint } from '../src/fingerprint';
import { LicenseManager } from '../src/manager';

const here = dirname(fileURLToPath(import.meta.url));
const COLD_RUNS = 10;
const WARM_ROUNDS = 15;
const WARM_ITERATIONS = 1000;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const ms = (x: number) => `${x.toFixed(1)} ms`;
const us = (x: number) => `${(x * 1000).toFixed(1)} µs`;

// ---- setup: a stored, valid, fingerprint-bound License -------------------------------------------------
const work = mkdtempSync(join(tmpdir(), 'licensor-client-bench-'));
const dataDir = join(work, 'data');
mkdirSync(dataDir);
const fp = fingerprintFromReadings(BASE_READINGS);
const license = licenseFor(hashedFingerprint(fp, PRODUCT), { now: Date.now() });
const manager = new LicenseManager({ productId: PRODUCT, roots: [pki().rootPem], dataDir, fingerprint: () => fp });
const imported = await manager.importLicenseFile(license);
if (imported.code !== 'VALID') throw new Error(`setup failed: ${imported.code}`);
const configPath = join(work, 'config.json');
writeFileSync(
  configPath,
  JSON.stringify({ productId: PRODUCT, rootPem: pki().rootPem, dataDir, readings: BASE_READINGS }),
);

// ---- cold ---------------------------------------------------------------------------------------------
type Cold = { spawnToVerdict: number; imported: number | undefined; verdict: number | undefined };

interface ColdRun {
  spawnToVerdict: number;
  inProcess?: { imported: number; verdict: number };
}

/** Spawn → first line on stdout (the verdict), not → exit: the app would act on the verdict right away. */
function timeSpawn(args: string[], expectCode?: string): Promise<ColdRun> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], cwd: here });
    let out = '';
    let done = false;
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (done || !out.includes('\n')) return;
      done = true;
      const spawnToVerdict = performance.now() - start;
      const line = out.slice(0, out.indexOf('\n'));
      if (expectCode === undefined) return resolve({ spawnToVerdict });
      const r = JSON.parse(line) as { code: string; imported: number; verdict: number };
      if (r.code !== expectCode) reject(new Error(`cold verify said ${r.code}`));
      resolve({ spawnToVerdict, inProcess: { imported: r.imported, verdict: r.verdict } });
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (!done) reject(new Error(`child exited with ${code} before a verdict: ${out}`));
    });
  });
}

/** Runs the variants round-robin (so background load hits them alike) and takes each one's median. */
async function coldSeries(variants: { args: string[]; expect?: string }[]) {
  for (const v of variants) await timeSpawn(v.args, v.expect); // warm the OS file cache once
  const runs: ColdRun[][] = variants.map(() => []);
  for (let i = 0; i < COLD_RUNS; i++) {
    for (const [j, v] of variants.entries()) runs[j]!.push(await timeSpawn(v.args, v.expect));
  }
  return runs.map((r) => ({
    spawnToVerdict: median(r.map((x) => x.spawnToVerdict)),
    imported: r[0]?.inProcess ? median(r.map((x) => x.inProcess!.imported)) : undefined,
    verdict: r[0]?.inProcess ? median(r.map((x) => x.inProcess!.verdict)) : undefined,
  }));
}

// The plain-JS bundle: what an app ships (Electron apps bundle their main process). esbuild comes with tsx,
// a declared dependency of this package, so the bench needs no extra install.
const esbuild = createRequire(createRequire(import.meta.url).resolve('tsx/package.json'))(
  'esbuild',
) as typeof import('esbuild');
const bundlePath = join(work, 'licensor-client.bundle.mjs');
await esbuild.build({
  entryPoints: [join(here, '..', 'src', 'index.ts')],
  bundle: true,
  conditions: ['source'], // @licensor/shared from its sources
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true, // as shipped
  outfile: bundlePath,
  external: ['systeminformation'], // loaded lazily, only for real hardware collection
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'error',
});

// The same as CommonJS, for the V8 code-cache variant (vm.Script cachedData).
const cjsBundlePath = join(work, 'licensor-client.bundle.cjs');
await esbuild.build({
  entryPoints: [join(here, '..', 'src', 'index.ts')],
  bundle: true,
  conditions: ['source'],
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  minify: true,
  outfile: cjsBundlePath,
  external: ['systeminformation'],
  logLevel: 'error',
});

const child = join(here, 'cold-verify.mjs');
const cachedChild = join(here, 'cold-verify-cached.cjs');
const [bareNode, bareTsx, coldTsx, coldBundle, coldCached] = (await coldSeries([
  { args: ['-e', 'process.stdout.write("x\\n")'] },
  { args: ['--import', 'tsx', '-e', 'process.stdout.write("x\\n")'] },
  { args: ['--import', 'tsx', child, join(here, '..', 'src', 'index.ts'), configPath], expect: 'VALID' },
  { args: [child, bundlePath, configPath], expect: 'VALID' },
  { args: [cachedChild, cjsBundlePath, join(work, 'bundle.v8cache'), configPath], expect: 'VALID' },
])) as [Cold, Cold, Cold, Cold, Cold];

// ---- warm ---------------------------------------------------------------------------------------------
const { envelope } = decodeLicenseFile(license);
const signed = Buffer.concat([Buffer.from('LICENSOR-LICENSE-V1\n'), Buffer.from(envelope.payload)]);
const signature = Buffer.from(envelope.sig, 'base64url');
const signingKey = new X509Certificate(Buffer.from(envelope.x5c[0]!, 'base64')).publicKey;
if (!cryptoVerify(null, signed, signingKey, signature)) throw new Error('bare verify baseline is wrong');
const verifier = new LicenseVerifier({ roots: [pki().rootPem] });

async function perCall(fn: () => unknown): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < WARM_ITERATIONS; i++) await fn();
  return (performance.now() - start) / WARM_ITERATIONS;
}
const warm = { bare: [] as number[], verifier: [] as number[], evaluate: [] as number[], manager: [] as number[] };
for (let i = 0; i < 200; i++) await manager.verify(); // JIT warm-up
for (let round = 0; round < WARM_ROUNDS; round++) {
  warm.bare.push(await perCall(() => cryptoVerify(null, signed, signingKey, signature)));
  warm.verifier.push(await perCall(() => verifier.verify(license)));
  warm.evaluate.push(
    await perCall(() => evaluateLicense({ verifier, license, productId: PRODUCT, fingerprint: fp, now: Date.now() })),
  );
  warm.manager.push(await perCall(() => manager.verify()));
}
const w = {
  bare: median(warm.bare),
  verifier: median(warm.verifier),
  evaluate: median(warm.evaluate),
  manager: median(warm.manager),
};

// ---- fingerprint collection on this host ----------------------------------------------------------------
const collected = await collectFingerprint();

// ---- report -------------------------------------------------------------------------------------------
const rows: [string, string][] = [
  ['cold: bare `node` start → output', ms(bareNode.spawnToVerdict)],
  ['cold: bare `node --import tsx` start → output', ms(bareTsx.spawnToVerdict)],
  [
    'cold: tsx + library, spawn → verdict',
    `${ms(coldTsx.spawnToVerdict)}  (in process: loaded ${ms(coldTsx.imported!)}, verdict ${ms(coldTsx.verdict!)})`,
  ],
  [
    'cold: plain-JS bundle (esbuild, minified), spawn → verdict',
    `${ms(coldBundle.spawnToVerdict)}  (in process: loaded ${ms(coldBundle.imported!)}, verdict ${ms(coldBundle.verdict!)})`,
  ],
  [
    'cold: bundle + V8 code cache, spawn → verdict',
    `${ms(coldCached.spawnToVerdict)}  (in process: loaded ${ms(coldCached.imported!)}, verdict ${ms(coldCached.verdict!)})`,
  ],
  ['cold: bundle minus bare node (library cost)', ms(coldBundle.spawnToVerdict - bareNode.spawnToVerdict)],
  ['cold: cached bundle minus bare node', ms(coldCached.spawnToVerdict - bareNode.spawnToVerdict)],
  ['warm: bare crypto.verify (Ed25519, same bytes)', us(w.bare)],
  ['warm: LicenseVerifier.verify (shared)', `${us(w.verifier)}  (${(w.verifier / w.bare).toFixed(2)}x bare)`],
  [
    'warm: evaluateLicense (+ product/fingerprint/time)',
    `${us(w.evaluate)}  (${(w.evaluate / w.bare).toFixed(2)}x bare)`,
  ],
  ['warm: LicenseManager.verify()', `${us(w.manager)}  (${(w.manager / w.bare).toFixed(2)}x bare)`],
  [
    'fingerprint: systeminformation on this host',
    `${ms(collected.durationMs)} (${collected.usableComponents} of 6 components readable${collected.virtual.detected ? `; ${collected.virtual.signals.join(', ')}` : ''})`,
  ],
];
const width = Math.max(...rows.map(([k]) => k.length)) + 2;
process.stdout.write(
  `@licensor/client verify benchmark (node ${process.version}, median of ${COLD_RUNS} cold runs, ${WARM_ROUNDS}×${WARM_ITERATIONS} warm calls)\n`,
);
for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}${v}\n`);
const warmOk = w.manager <= 3 * w.bare;
const coldOk = coldCached.spawnToVerdict < 150;
process.stdout.write(
  `\ngoal warm ≤ 3x bare: ${warmOk ? 'met' : 'NOT met'} (${(w.manager / w.bare).toFixed(2)}x)\n` +
    `goal cold < 150 ms: cached plain-JS bundle ${coldOk ? 'met' : 'NOT met'} (${ms(coldCached.spawnToVerdict)}; without cache ${ms(coldBundle.spawnToVerdict)}); ` +
    `under tsx ${coldTsx.spawnToVerdict < 150 ? 'met' : 'not met'}: tsx start-up alone takes ${ms(bareTsx.spawnToVerdict)}\n`,
);
rmSync(work, { recursive: true, force: true });
