#!/usr/bin/env node
// Builds the workspace packages to plain JavaScript in each package's dist/ (what `npm start`, the
// `licensor` and `licensor-client` bins and an embedding app load: no TypeScript loader at run time).
//
//   node scripts/build.mjs            JavaScript and type declarations of every package
//   node scripts/build.mjs --js-only  JavaScript only (what running needs; about a second)
//   node scripts/build.mjs client     only the named packages (and the packages they depend on)
//
// JavaScript: esbuild, one ES module per public entry point, code shared between entry points split into
// chunks (one copy of every class, so `instanceof LicensorError` holds across entry points); dependencies
// stay imports. Declarations: tsc --emitDeclarationOnly; for the client (which bundles @licensor/shared), one
// self-contained .d.ts per public entry point by dts-bundle-generator.
// ensureBuilt() rebuilds when any input is newer than the last build (a stale dist silently running old
// code is the trap this guards against); inputs are the package's sources (files and folders, so a deleted
// file counts too), its package.json and this script.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Public entry points per package (mirrors each package.json's "exports" and "bin"), dependencies first.
 * `bundles`: workspace packages compiled into this package's dist/ instead of imported at run time. The client is
 * what a merchant's app installs, and @licensor/shared is not published: the client's dist/ must not import it.
 */
export const PACKAGES = {
  shared: { entries: ['index.ts', 'licenseCode.ts'], deps: [] },
  client: { entries: ['index.ts', 'messages.ts', 'cli.ts', 'codeCache.ts'], deps: [], bundles: ['shared'] },
  simulator: { entries: ['index.ts'], deps: ['shared'] },
  // The merchant console is a browser app: Vite builds it (hashed assets, integrity) and the server serves it.
  console: { vite: true, deps: [] },
  server: { entries: ['index.ts', 'main.ts', 'cli/index.ts'], deps: ['shared', 'simulator', 'console'] },
};

const STAMP = '.build-stamp';
const LOCK = '.build-lock';
const pkgDir = (name) => join(ROOT, 'packages', name);
const distDir = (name) => join(pkgDir(name), 'dist');

/**
 * Newest modification time (ms) among the inputs of one package's build; test files are not inputs. The sources of
 * the workspace packages it bundles are its inputs too.
 */
function newestInput(name) {
  let newest = Math.max(
    statSync(join(pkgDir(name), 'package.json')).mtimeMs,
    statSync(fileURLToPath(import.meta.url)).mtimeMs,
  );
  const walk = (dir) => {
    newest = Math.max(newest, statSync(dir).mtimeMs);
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (!entry.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  walk(join(pkgDir(name), 'src'));
  const viteConfig = join(pkgDir(name), 'vite.config.ts');
  if (existsSync(viteConfig)) newest = Math.max(newest, statSync(viteConfig).mtimeMs);
  for (const bundled of PACKAGES[name].bundles ?? []) newest = Math.max(newest, newestInput(bundled));
  return newest;
}

/** True when dist/ holds a complete build at least as new as every input (JavaScript; `types` too if asked). */
export function isCurrent(name, { types = false } = {}) {
  const stamp = join(distDir(name), STAMP);
  if (!existsSync(stamp)) return false;
  if (types && !readFileSync(stamp, 'utf8').includes('types')) return false;
  return statSync(stamp).mtimeMs >= newestInput(name);
}

const withDeps = (names) => [...new Set(names.flatMap((n) => [...PACKAGES[n].deps, n]))];

/**
 * Several processes may start at once (parallel tests, two terminals): one builds, the others wait for it.
 * mkdir is atomic; a lock left by a killed build is taken over after a minute.
 */
async function withLock(fn) {
  const lock = join(ROOT, 'packages', LOCK);
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      try {
        if (Date.now() - statSync(lock).mtimeMs > 60_000) rmSync(lock, { recursive: true, force: true });
      } catch {}
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * dist/cli.bundle.cjs: the `licensor-client` bin as one minified CommonJS file with every dependency, which
 * the bin loads through a V8 code cache (src/codeCache.ts): one file to read and no module resolution, for a
 * cold start near a bare `node` (see the client README, "Cold start"). It also exports
 * fingerprintFromReadings, so the cold-start benchmark injects readings into the very same copy of the code.
 * systeminformation (≈320 kB, loaded only when the real hardware is read) stays outside, required on first
 * use. zod's `z.locales` namespace would pull in every language (≈260 kB): nothing
 * here uses it, and the English messages zod configures itself with are kept. esbuild writes ASCII only
 * (non-ASCII characters escaped), so the loader reads the file as latin1, the cheapest string V8 builds.
 */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, (args) => ({
      contents: "export { default as en } from './en.js';",
      resolveDir: dirname(args.path),
    }));
  },
};

/** What the client's two bundles (the CLI and `status`) are built with, besides their entry, output and plugins. */
const CLIENT_BUNDLE_OPTIONS = {
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  conditions: ['source'],
  minify: true,
  charset: 'ascii',
  // vm.Script code has no module loader: esbuild turns the import() of an external into a require().
  supported: { 'dynamic-import': false },
  legalComments: 'none',
  logLevel: 'warning',
  write: false,
};

async function buildCliBundle(build) {
  const result = await build({
    absWorkingDir: pkgDir('client'),
    stdin: {
      contents:
        "// One-shot CLI: zod's JIT (new Function per schema) costs more than it saves for a few parses, and is not\n// in the code cache.\nimport { z } from 'zod';\nz.config({ jitless: true });\nexport { main } from './src/cli.ts';\nexport { fingerprintFromReadings } from './src/fingerprint.ts';\n",
      resolveDir: pkgDir('client'),
      loader: 'ts',
      sourcefile: 'cli-bundle-entry.ts',
    },
    outfile: 'dist/cli.bundle.cjs',
    ...CLIENT_BUNDLE_OPTIONS,
    external: ['systeminformation'],
    plugins: [
      {
        // commander requires node:child_process at load (≈ 2 ms of a start) for executable subcommands, which this
        // CLI has none of: required on first use instead. Fails the build if commander changes that line.
        name: 'commander-lazy-child-process',
        setup(b) {
          b.onLoad({ filter: /[\\/]commander[\\/]lib[\\/]command\.js$/ }, (args) => {
            const text = readFileSync(args.path, 'utf8');
            const eager = "const childProcess = require('node:child_process');";
            if (!text.includes(eager)) throw new Error(`commander changed: ${eager} not found in ${args.path}`);
            const lazy = "const childProcess = { spawn: (...a) => require('node:child_process').spawn(...a) };";
            return { contents: text.replace(eager, lazy), loader: 'js' };
          });
        },
      },
      zodEnglishOnly,
    ],
  });
  const [out] = result.outputFiles;
  // The bin is CommonJS (an ES-module entry costs Node's ESM loader on every start): it requires this copy.
  await build({
    absWorkingDir: pkgDir('client'),
    entryPoints: ['src/codeCache.ts'],
    outfile: 'dist/codeCache.cjs',
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
  const status = await buildStatusBundle(build);
  for (const file of [out, status]) {
    const name = `dist/${file.path.split(/[\\/]/).pop()}`;
    // vm.Script has no module loader: an import() left in the bundle would fail at run time, not here.
    if (/\bimport\(/.test(file.text)) throw new Error(`${name} still contains a dynamic import()`);
    if (/[^ -~\t\n\r]/.test(file.text)) throw new Error(`${name} is not ASCII (the loader reads latin1)`);
    writeFileSync(file.path, file.contents);
  }
}

/**
 * dist/status.bundle.cjs: what the bin runs for `licensor-client status` (the command an app's wrapper runs at every
 * start): the same CLI code, with `zod` replaced by src/zodLite.ts, which records the schemas and checks valid inputs
 * itself, and runs the real zod (carried here as text, compiled on first use: STATUS_ENTRY) only when an input is not
 * plainly valid, so that zod decides and words the error (issue 15: zod and building the schemas were ≈ 40 % of the
 * start).
 * Without commander (the bin sends every other command line to cli.bundle.cjs) and systeminformation (as above).
 */
/**
 * The status bundle's entry. zod is carried inside (the very zod files of the full bundle, no lookup in node_modules at
 * run time that could fail or find another version), as text: `real-zod` (buildRealZodModule) compiles it only when a
 * replay needs it, so a valid `status` neither runs zod's top level nor pays for parsing and deserialising its code
 * (statusBundle.test.ts checks both). `main` fails the command (no output) when a replay could not run, whatever a
 * `catch {}` on the way made of it: never fail-open. `realZod` is exported for the tests (the zod a replay runs on).
 */
const STATUS_ENTRY = `
import { replayFailure, useRealZod } from './src/zodLite.ts';
import { main as cliMain, type CliIo } from './src/cli.ts';
import { loadRealZod } from 'real-zod';
let zod: ReturnType<typeof loadRealZod> | undefined;
export function realZod() {
  if (!zod) {
    zod = loadRealZod();
    zod.config({ jitless: true }); // as in the full bundle
  }
  return zod;
}
useRealZod(realZod);
export { statusArgs } from './src/cli.ts';
export { fingerprintFromReadings } from './src/fingerprint.ts';
export async function main(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }) {
  let out = '';
  let err = '';
  const code = await cliMain(argv, {
    ...io,
    stdout: { write: (s: string) => (out += s), isTTY: io.stdout.isTTY },
    stderr: { write: (s: string) => (err += s), isTTY: io.stderr.isTTY },
  });
  const failure = replayFailure();
  if (failure) throw failure;
  if (out) io.stdout.write(out);
  if (err) io.stderr.write(err);
  return code;
}
`;

/**
 * The module `real-zod` of the status bundle: zod (its ES-module files, English only, as in the full bundle) built
 * to one CommonJS text, carried as a string constant and compiled with vm.compileFunction only when loadRealZod() is
 * called. Bundled as code instead, esbuild hoists the function declarations of zod's modules (≈ 500) and their
 * variables to the bundle's top level (its lazy module wrappers only defer the statements), so V8 created, cached
 * and deserialised them at every start: a valid start paid ≈ 28 M instructions (≈ 13 %) for code it never ran, and
 * the code cache was 408 kB instead of 215 kB (bench report, client-cold-start). The string sits in a function of
 * its own, compiled (and the string read from the bundle's source) only when called, so the code cache written
 * after a valid start does not hold it either. A replay compiles zod without a code cache (≈ 20 M instructions
 * more than before, on a path only a malformed or tampered input takes). Constant text built here, never data
 * read at run time.
 */
async function buildRealZodModule(build) {
  const result = await build({
    absWorkingDir: pkgDir('client'),
    stdin: { contents: "export * from 'zod/v4';\n", resolveDir: pkgDir('client'), sourcefile: 'real-zod.js' },
    ...CLIENT_BUNDLE_OPTIONS,
    plugins: [zodEnglishOnly],
  });
  const text = result.outputFiles[0].text;
  if (/\brequire\(/.test(text))
    throw new Error('real-zod: the bundled zod requires a module; it must be self-contained');
  return `import { compileFunction } from 'node:vm';
function zodSource() {
  return ${JSON.stringify(text)};
}
export function loadRealZod() {
  const module = { exports: {} };
  compileFunction(zodSource(), ['module', 'exports'], { filename: 'zod (carried by status.bundle.cjs)' })(module, module.exports);
  return module.exports;
}
`;
}

async function buildStatusBundle(build) {
  const realZod = await buildRealZodModule(build);
  const result = await build({
    absWorkingDir: pkgDir('client'),
    stdin: {
      contents: STATUS_ENTRY,
      resolveDir: pkgDir('client'),
      loader: 'ts',
      sourcefile: 'status-bundle-entry.ts',
    },
    outfile: 'dist/status.bundle.cjs',
    ...CLIENT_BUNDLE_OPTIONS,
    external: ['systeminformation', 'commander'],
    plugins: [
      {
        name: 'zod-lite',
        setup(b) {
          b.onResolve({ filter: /^zod$/ }, () => ({ path: join(pkgDir('client'), 'src', 'zodLite.ts') }));
          b.onResolve({ filter: /^real-zod$/ }, () => ({ path: 'real-zod', namespace: 'real-zod' }));
          b.onLoad({ filter: /.*/, namespace: 'real-zod' }, () => ({ contents: realZod, loader: 'js' }));
        },
      },
    ],
  });
  return result.outputFiles[0];
}

/** A Vite package (the console): its own config says everything; no type declarations to emit. */
function buildVite(name) {
  const started = Date.now();
  rmSync(distDir(name), { recursive: true, force: true });
  const vite = join(pkgDir(name), 'node_modules', '.bin', 'vite');
  const res = spawnSync(vite, ['build', '--logLevel', 'warn'], { cwd: pkgDir(name), stdio: 'inherit' });
  if (res.status !== 0) throw new Error(`@licensor/${name} failed to build (vite exit ${res.status})`);
  writeFileSync(join(distDir(name), STAMP), 'js types\n');
  utimesSync(join(distDir(name), STAMP), started / 1000, started / 1000);
  return started;
}

/**
 * esbuild options that keep every dependency an import except the workspace packages `name` bundles, which are
 * compiled in from their sources (their `source` export condition).
 */
function externals(name) {
  const bundles = PACKAGES[name].bundles ?? [];
  if (bundles.length === 0) return { packages: 'external' };
  const inline = new RegExp(`^@licensor/(${bundles.join('|')})(/|$)`);
  return {
    conditions: ['source'],
    plugins: [
      {
        name: 'external-except-bundled-workspace-packages',
        setup(b) {
          b.onResolve({ filter: /^[^./]/ }, (args) => (inline.test(args.path) ? undefined : { external: true }));
        },
      },
    ],
  };
}

async function buildJs(name) {
  if (PACKAGES[name].vite) return buildVite(name);
  const { build, stop } = await import('esbuild');
  const started = Date.now();
  const dist = distDir(name);
  rmSync(dist, { recursive: true, force: true });
  await build({
    absWorkingDir: pkgDir(name),
    entryPoints: PACKAGES[name].entries.map((e) => join('src', e)),
    outbase: 'src',
    outdir: 'dist',
    bundle: true,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    format: 'esm',
    platform: 'node',
    target: 'node20',
    ...externals(name),
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  if (name === 'client') await buildCliBundle(build);
  await stop(); // esbuild's service process would otherwise live as long as the server started after the build
  // Stamped with the time the build started: a source saved during the build counts as newer.
  writeFileSync(join(dist, STAMP), 'js\n');
  utimesSync(join(dist, STAMP), started / 1000, started / 1000);
  return started;
}

/**
 * dts-bundle-generator asks, for every declaration and every exported symbol, whether the declaration is used by the
 * export: a depth-first search each time, whose negative answers it cannot cache. Three quarters of the client's
 * declaration build (≈ 30 s of CPU, the largest single cost of `npm test` on a fresh clone) went there. Here each
 * symbol's reachable set is computed once and each question is a lookup: the same answers (the same .d.ts, byte for
 * byte), ≈ 10 s. Its usage graph (nodesParentsMap) is complete once the evaluator is constructed, so the sets stay true.
 */
function reachabilityOnce(TypesUsageEvaluator) {
  const proto = TypesUsageEvaluator.prototype;
  if (proto.isSymbolUsedBySymbol.reachabilityOnce) return;
  proto.isSymbolUsedBySymbol = function isSymbolUsedBySymbol(symbol, by) {
    const from = this.getActualSymbol(symbol);
    this.reachableFrom ??= new Map();
    let reachable = this.reachableFrom.get(from);
    if (reachable === undefined) {
      reachable = new Set([from]);
      const pending = [from];
      while (pending.length > 0) {
        for (const user of this.nodesParentsMap.get(pending.pop()) ?? []) {
          if (!reachable.has(user)) {
            reachable.add(user);
            pending.push(user);
          }
        }
      }
      this.reachableFrom.set(from, reachable);
    }
    return reachable.has(this.getActualSymbol(by));
  };
  proto.isSymbolUsedBySymbol.reachabilityOnce = true;
}

/**
 * The declarations of a package that bundles workspace packages: one self-contained .d.ts per public entry point
 * (package.json "exports": its `source` → its `types`), the bundled packages' types inlined, so an app that installs
 * only this package type-checks (no import of an unpublished package, no extensionless relative import that Node's
 * own module resolution refuses). dts-bundle-generator type-checks the sources as it goes (its errors are tsc's).
 */
function bundleTypes(name) {
  const manifest = JSON.parse(readFileSync(join(pkgDir(name), 'package.json'), 'utf8'));
  const entries = Object.values(manifest.exports).map((e) => ({ source: e.source, types: e.types }));
  const require = createRequire(import.meta.url);
  reachabilityOnce(require('dts-bundle-generator/dist/types-usage-evaluator').TypesUsageEvaluator);
  const { generateDtsBundle } = require('dts-bundle-generator');
  const outputs = generateDtsBundle(
    entries.map((e) => ({
      filePath: join(pkgDir(name), e.source),
      // Only what the entry point exports is exported; the types it references are declared, not exported.
      output: { exportReferencedTypes: false },
    })),
    { preferredConfigPath: join(pkgDir(name), 'tsconfig.build.json') },
  );
  const bundled = new RegExp(`from ['"]@licensor/(${PACKAGES[name].bundles.join('|')})(/[^'"]*)?['"]`);
  entries.forEach((e, i) => {
    if (bundled.test(outputs[i])) throw new Error(`${e.types} still imports a bundled workspace package`);
    writeFileSync(join(pkgDir(name), e.types), outputs[i]);
  });
}

function buildTypes(name, started) {
  if (PACKAGES[name].bundles) {
    bundleTypes(name);
  } else {
    // TypeScript 5.9's tsc by path: `.bin/tsc` is also TypeScript 7's (the type check's, scripts/typecheck.mjs), and
    // dts-bundle-generator above reads declarations through 5.9's API.
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const res = spawnSync(process.execPath, [tsc, '-p', join(pkgDir(name), 'tsconfig.build.json')], {
      cwd: ROOT,
      stdio: 'inherit',
    });
    if (res.status !== 0) throw new Error(`type declarations of @licensor/${name} failed (tsc exit ${res.status})`);
  }
  writeFileSync(join(distDir(name), STAMP), 'js types\n');
  utimesSync(join(distDir(name), STAMP), started / 1000, started / 1000);
}

/**
 * Builds the named packages (and the packages they depend on) when missing or older than their sources.
 * `log` receives one line per package built (progress goes to stderr by default: stdout may be JSON).
 */
export async function ensureBuilt(names, { types = false, log = (l) => process.stderr.write(`${l}\n`) } = {}) {
  const stale = withDeps(names).filter((n) => !isCurrent(n, { types }));
  if (stale.length === 0) return [];
  return withLock(async () => {
    const built = [];
    for (const name of withDeps(names)) {
      if (isCurrent(name, { types })) continue; // another process built it while we waited
      log(
        `› Building @licensor/${name} → ${relative(ROOT, distDir(name))}/${types ? ' (JavaScript and type declarations)' : ''}`,
      );
      const started = await buildJs(name);
      if (types && !PACKAGES[name].vite) buildTypes(name, started);
      built.push(name);
    }
    return built;
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const types = !args.includes('--js-only');
  const names = args.filter((a) => !a.startsWith('--'));
  const unknown = names.filter((n) => !(n in PACKAGES));
  if (unknown.length > 0) {
    console.error(`✖ Unknown package ${unknown.join(', ')} (known: ${Object.keys(PACKAGES).join(', ')})`);
    process.exit(2);
  }
  try {
    const built = await ensureBuilt(names.length > 0 ? names : Object.keys(PACKAGES), {
      types,
      log: (l) => console.log(l),
    });
    console.log(built.length ? '✔ Built' : '✔ Every package is up to date');
  } catch (err) {
    console.error(`✖ Build failed: ${err.message}`);
    process.exit(1);
  }
}
