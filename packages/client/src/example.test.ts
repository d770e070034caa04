import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FakeServer, machine, PRODUCT, pki, tempDir } from '@licensor/testkit/client';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { startLicensing } from '../examples/embed';

const here = dirname(fileURLToPath(import.meta.url));
let server: FakeServer;
let cleanup: () => void;
let dir: string;

beforeEach(async () => {
  server = await new FakeServer().start();
  server.codes.set('PLEXAMPLE0001', { status: 'active', seats: 1, expiresAt: null });
  ({ dir, cleanup } = tempDir());
});
afterEach(async () => {
  await server.close();
  cleanup();
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

it('the README embedding example is the tested file, and it activates then verifies offline', async () => {
  const readme = readFileSync(join(here, '..', 'README.md'), 'utf8');
  const example = readFileSync(join(here, '..', 'examples', 'embed.ts'), 'utf8');
  expect(readme).toContain(example.trim());

  vi.spyOn(console, 'log').mockImplementation(() => {});
  const rootFile = join(dir, 'licensor-root.pem');
  writeFileSync(rootFile, pki().rootPem);
  vi.stubEnv('LICENSOR_ROOT_CERT', rootFile);
  vi.stubEnv('LICENSOR_PRODUCT_ID', PRODUCT);
  vi.stubEnv('LICENSOR_SERVER_URL', server.url);
  // Only the data folder and the hardware are substituted (the test must not depend on this host).
  const overrides = { dataDir: join(dir, 'data'), fingerprint: () => machine() };
  const first = await startLicensing('PLEXAMPLE0001', overrides);
  expect(first.status.code).toBe('VALID');
  await first.manager.stop();

  await server.close(); // the next start is offline
  const second = await startLicensing(undefined, overrides);
  expect(second.status.code).toBe('VALID');
  await second.manager.stop();
});
