#!/usr/bin/env node
// Runs the built CLI (dist/, plain JavaScript: no TypeScript loader). In a checkout of the repository
// (src/ next to dist/) it first installs the workspace and rebuilds when dist/ is missing or older than the
// sources, so `node packages/client/bin/licensor-client.mjs …` always runs the code you see.
import { existsSync } from 'node:fs';

if (existsSync(new URL('../src/cli.ts', import.meta.url))) {
  const { ensureInstalled } = await import('../../../scripts/install.mjs');
  ensureInstalled({ quiet: true });
  const { ensureBuilt } = await import('../../../scripts/build.mjs');
  await ensureBuilt(['client']);
}
const { main } = await import('../dist/cli.js');
process.exitCode = await main(process.argv);
