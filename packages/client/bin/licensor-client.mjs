#!/usr/bin/env node
// Runs the built CLI (dist/cli.bundle.cjs, plain JavaScript: no TypeScript loader). In a checkout of the
// repository (src/ next to dist/) it first installs the workspace and rebuilds when dist/ is missing or older than the
// sources, so `node packages/client/bin/licensor-client.mjs …` always runs the code you see.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// LICENSOR_TRACE_TIMING=1: the phases of this start on stderr (src/timing.ts keeps the marks on this symbol).
const trace = process.env.LICENSOR_TRACE_TIMING === '1' ? { marks: [], spans: [] } : undefined;
if (trace) {
  globalThis[Symbol.for('licensor.timing')] = trace;
  trace.marks.push(['process start → bin (node itself)', performance.now()]);
}

if (existsSync(new URL('../src/cli.ts', import.meta.url))) {
  const { ensureInstalled } = await import('../../../scripts/install.mjs');
  ensureInstalled({ quiet: true });
  const { ensureBuilt } = await import('../../../scripts/build.mjs');
  await ensureBuilt(['client']);
  trace?.marks.push(['checkout: install and build up to date?', performance.now()]);
}
// One bundled file through a per-user V8 code cache (dist/codeCache.js): a cold start close to a bare `node`.
const { loadCachedBundle } = await import('../dist/codeCache.js');
const { main } = loadCachedBundle(fileURLToPath(new URL('../dist/cli.bundle.cjs', import.meta.url))).exports;
trace?.marks.push(['module load (bundle through the code cache)', performance.now()]);
process.exitCode = await main(process.argv);
