// Child process of verify-bench.ts: loads the client library (argv[2]: TypeScript sources under tsx, or a
// plain-JS bundle), verifies the stored License offline and prints the verdict with in-process timings
// (performance.now() counts from this process's time origin, i.e. its start).
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [, , libPath, configPath] = process.argv;
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const lib = await import(pathToFileURL(libPath).href);
const imported = performance.now();
const manager = new lib.LicenseManager({
  productId: config.productId,
  roots: [config.rootPem],
  dataDir: config.dataDir,
  // Injected readings: this measures verification; hardware collection is measured separately.
  fingerprint: () => lib.fingerprintFromReadings(config.readings),
});
const status = await manager.verify();
const verdict = performance.now();
process.stdout.write(`${JSON.stringify({ code: status.code, imported, verdict })}\n`);
