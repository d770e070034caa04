// Child process of cold-start.ts: `licensor-client status` as the bin runs it (argv[2]: the CLI — the built
// dist/cli.bundle.cjs loaded through the code cache exactly as bin/licensor-client.cjs does, from a CommonJS entry
// like the bin; the split ESM build dist/cli.js; or src/cli.ts under tsx), with the fingerprint readings injected
// as the client bench does, so the figure is the start-up and verification cost, not this host's hardware probes.
'use strict';
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');

async function run() {
  const [, , cliPath, configPath] = process.argv;
  const config = JSON.parse(readFileSync(configPath, 'utf8'));
  let cli;
  if (cliPath.endsWith('.cjs')) {
    const { loadCachedBundle } = require(join(__dirname, '..', 'dist', 'codeCache.cjs'));
    // COLD_START_STOP: end the start early, for the per-step instruction counts of cold-start.ts --instructions.
    if (process.env.COLD_START_STOP === 'loader') return;
    cli = loadCachedBundle(cliPath, { cacheDir: config.cacheDir }).exports;
    if (process.env.COLD_START_STOP === 'bundle') return;
  } else {
    cli = await import(pathToFileURL(cliPath).href);
  }
  // The bundle exports its own fingerprintFromReadings (one copy of the code); the other variants take the library's.
  const { fingerprintFromReadings } = cli.fingerprintFromReadings
    ? cli
    : await import(pathToFileURL(config.libPath).href);
  process.exitCode = await cli.main(
    [
      process.execPath,
      'licensor-client',
      '--json',
      '--product',
      config.productId,
      '--root',
      config.rootPem,
      '--data-dir',
      config.dataDir,
      'status',
    ],
    {
      stdout: process.stdout,
      stderr: process.stderr,
      env: {},
      fingerprint: () => fingerprintFromReadings(config.readings),
    },
  );
}

run();
