import { clock, FakeServer, machine, PRODUCT, pki, tempDir } from '@licensor/testkit/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LicenseManager, type LicenseManagerOptions } from './manager';

const CODE = 'PLLABELTEST01';

let server: FakeServer;
let c: ReturnType<typeof clock>;
const cleanups: (() => void)[] = [];

beforeEach(async () => {
  c = clock(Date.now());
  server = await new FakeServer().start();
  server.now = c;
  server.codes.set(CODE, { status: 'active', seats: 2, expiresAt: null });
});

afterEach(async () => {
  await server.close();
  for (const fn of cleanups.splice(0)) fn();
});

function folder() {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const fp = machine();
  return (device: LicenseManagerOptions['device']) =>
    new LicenseManager({
      productId: PRODUCT,
      roots: [pki().rootPem],
      serverUrl: server.url,
      dataDir: dir,
      fingerprint: () => fp,
      now: c,
      ...(device ? { device } : {}),
    });
}

describe('status.detail.deviceLabel (the name this device is registered under)', () => {
  it('is the label given at activation, and survives a restart with other options', async () => {
    const make = folder();
    const activated = await make({ hostname: 'host-1' }).activate(CODE, { label: 'Studio PC' });
    expect(activated.detail.deviceLabel).toBe('Studio PC');
    // A later process (e.g. the CLI's `status`) does not know the label: the state remembers it.
    const later = make({ hostname: 'host-1' });
    expect((await later.verify()).detail.deviceLabel).toBe('Studio PC');
    expect((await later.checkIn()).status.detail.deviceLabel).toBe('Studio PC');
  });

  it('falls back to the host name sent at activation, and is absent before any activation', async () => {
    const make = folder();
    expect((await make({ hostname: 'desk-7' }).verify()).detail.deviceLabel).toBeUndefined();
    expect((await make({ hostname: 'desk-7' }).activate(CODE)).detail.deviceLabel).toBe('desk-7');
  });
});
