#!/usr/bin/env node
// Runs the built CLI (dist/cli.bundle.cjs, plain JavaScript: no TypeScript loader). In a checkout of the
// repository (src/ next to dist/) it first installs the workspace and rebuilds when dist/ is missing or older than the
// sources, so `node packages/client/bin/licensor-client.cjs …` always runs the code you see.
// CommonJS on purpose: an ES-module entry starts Node's ESM loader, ≈ 8 ms of a 90 ms start (issue 15).
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

// LICENSOR_TRACE_TIMING=1: the phases of this start on stderr (src/timing.ts keeps the marks on this symbol).
const trace = process.env.LICENSOR_TRACE_TIMING === '1' ? { marks: [], spans: [] } : undefined;
if (trace) {
  globalThis[Symbol.for('licensor.timing')] = trace;
  trace.marks.push(['process start → bin (node itself)', performance.now()]);
}

async function start() {
  if (existsSync(join(__dirname, '..', 'src', 'cli.ts'))) {
    const { ensureInstalled } = await import('../../../scripts/install.mjs');
    ensureInstalled({ quiet: true });
    const { ensureBuilt } = await import('../../../scripts/build.mjs');
    await ensureBuilt(['client']);
    trace?.marks.push(['checkout: install and build up to date?', performance.now()]);
  }
  // One bundled file through a per-user V8 code cache (dist/codeCache.cjs): a cold start close to a bare `node`.
  // `status` (what an app's wrapper runs at every start) has its own, smaller bundle that loads zod only for an input
  // that is not plainly valid (src/zodLite.ts); every other command line runs the full CLI.
  const { loadCachedBundle } = require('../dist/codeCache.cjs');
  const dist = join(__dirname, '..', 'dist');
  const args = process.argv.slice(2);
  let main;
  // The status bundle only for a command line naming `status`, and never as a point of failure: missing or broken,
  // the full bundle (which runs `status` too) takes over, so --help, activate… never depend on it.
  if (args.includes('status')) {
    try {
      const status = loadCachedBundle(join(dist, 'status.bundle.cjs')).exports;
      if (status.statusArgs(args)) main = status.main;
    } catch (err) {
      trace?.marks.push([`status bundle unusable (${err}), full bundle instead`, performance.now()]);
    }
  }
  main ??= loadCachedBundle(join(dist, 'cli.bundle.cjs')).exports.main;
  trace?.marks.push(['module load (bundle through the code cache)', performance.now()]);
  process.exitCode = await main(process.argv);
}

start().catch((err) => {
  console.error(err);
  process.exitCode = 1; // what an uncaught error at start-up gave before: the CLI itself could not start
});
