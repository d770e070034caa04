import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FakeServer, machine, PRODUCT, pki, tempDir } from '@licensor/testkit/client';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { startLicensing } from '../examples/embed';
import { featureGates, mayCreateProject } from '../examples/feature-gate';
import { LicenseManager } from './index';

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

it('the README feature-gating example is the tested file, and it gates features offline from the License', async () => {
  const readme = readFileSync(join(here, '..', 'README.md'), 'utf8');
  const example = readFileSync(join(here, '..', 'examples', 'feature-gate.ts'), 'utf8');
  expect(readme).toContain(example.trim());

  server.codes.set('PLEXAMPLE0002', {
    status: 'active',
    seats: 1,
    expiresAt: null,
    edition: 'Pro',
    features: { export: true, maxProjects: 20 },
  });
  const rootFile = join(dir, 'licensor-root.pem');
  writeFileSync(rootFile, pki().rootPem);
  vi.stubEnv('LICENSOR_ROOT_CERT', rootFile);
  vi.stubEnv('LICENSOR_PRODUCT_ID', PRODUCT);
  const overrides = { dataDir: join(dir, 'gated'), fingerprint: () => machine() };

  // Before activation nothing is unlocked.
  expect(await featureGates(overrides)).toEqual({
    edition: 'Unlicensed',
    canExport: false,
    canSync: false,
    maxProjects: 3,
  });

  const activator = new LicenseManager({
    productId: PRODUCT,
    roots: [pki().rootPem],
    serverUrl: server.url,
    ...overrides,
  });
  expect((await activator.activate('PLEXAMPLE0002')).code).toBe('VALID');
  await activator.stop();
  await server.close(); // the example itself never goes online

  const gates = await featureGates(overrides);
  expect(gates).toEqual({ edition: 'Pro', canExport: true, canSync: false, maxProjects: 20 });
  expect(mayCreateProject(gates, 19)).toBe(true);
  expect(mayCreateProject(gates, 20)).toBe(false);
});
