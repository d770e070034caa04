#!/usr/bin/env node
// Runs the built CLI (dist/cli.bundle.cjs, plain JavaScript: no TypeScript loader). In a checkout of the
// repository (src/ next to dist/) it first installs the workspace and rebuilds when dist/ is missing or older than the
// sources, so `node packages/client/bin/licensor-client.mjs …` always runs the code you see.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

if (existsSync(new URL('../src/cli.ts', import.meta.url))) {
  const { ensureInstalled } = await import('../../../scripts/install.mjs');
  ensureInstalled({ quiet: true });
  const { ensureBuilt } = await import('../../../scripts/build.mjs');
  await ensureBuilt(['client']);
}
// One bundled file through a per-user V8 code cache (dist/codeCache.js): a cold start close to a bare `node`.
const { loadCachedBundle } = await import('../dist/codeCache.js');
const { main } = loadCachedBundle(fileURLToPath(new URL('../dist/cli.bundle.cjs', import.meta.url))).exports;
process.exitCode = await main(process.argv);
