// Child process of cold-start.ts: `licensor-client status` as the bin runs it (argv[2]: the CLI module —
// the built dist/cli.js, or src/cli.ts under tsx), with the fingerprint readings injected as the client
// bench does, so the figure is the start-up and verification cost, not this host's hardware probes.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [, , cliPath, configPath] = process.argv;
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const cli = await import(pathToFileURL(cliPath).href);
const { fingerprintFromReadings } = await import(pathToFileURL(config.libPath).href);
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
