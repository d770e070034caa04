// Child process of verify-bench.ts: like cold-verify.mjs, but loads a CommonJS bundle through vm.Script with
// a V8 code cache (argv[3]; written on the first run), as shipped Electron/Node apps can do to skip parsing.
const { existsSync, readFileSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const { dirname } = require('node:path');
const vm = require('node:vm');

const [, , bundlePath, cachePath, configPath] = process.argv;
const cachedData = existsSync(cachePath) ? readFileSync(cachePath) : undefined;
const script = new vm.Script(Module.wrap(readFileSync(bundlePath, 'utf8')), { filename: bundlePath, cachedData });
if (!cachedData || script.cachedDataRejected) writeFileSync(cachePath, script.createCachedData());
const mod = { exports: {} };
script.runInThisContext()(mod.exports, require, mod, bundlePath, dirname(bundlePath));
const lib = mod.exports;
const imported = performance.now();
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const manager = new lib.LicenseManager({
  productId: config.productId,
  roots: [config.rootPem],
  dataDir: config.dataDir,
  fingerprint: () => lib.fingerprintFromReadings(config.readings),
});
manager.verify().then((status) => {
  const verdict = performance.now();
  process.stdout.write(`${JSON.stringify({ code: status.code, imported, verdict })}\n`);
});
