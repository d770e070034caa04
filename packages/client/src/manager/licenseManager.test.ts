import { machine, PRODUCT, pki, tempDir } from '@licensor/testkit/client';
import { afterEach, describe, expect, it } from 'vitest';
import * as client from '../index';

/** The split into workflow modules is internal: the documented surface (README.md) is all an app can reach. */
describe('LicenseManager public surface', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const fn of cleanups.splice(0)) fn();
  });

  it('exposes the documented methods and fields, and none of the shared state', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const fp = machine();
    const manager = new client.LicenseManager({
      productId: PRODUCT,
      roots: [pki().rootPem],
      dataDir: dir,
      fingerprint: () => fp,
    });
    expect(Object.keys(manager).sort()).toEqual(['dataDir', 'productId']);
    expect(Object.getOwnPropertyNames(client.LicenseManager.prototype).sort()).toEqual(
      [
        'activate',
        'checkIn',
        'constructor',
        'createOfflineRequest',
        'deactivate',
        'featureValue',
        'fingerprint',
        'hasFeature',
        'importLicenseFile',
        'listSeatDevices',
        'off',
        'on',
        'releaseSeatDevice',
        'reset',
        'startAutoCheckIn',
        'status',
        'stop',
        'verify',
      ].sort(),
    );
    // The workflow modules and the state they share are not part of the package's entry point.
    expect(Object.keys(client)).not.toContain('ManagerState');
    expect(manager.status).toBeUndefined();
    expect((await manager.verify()).code).toBe('NO_LICENSE');
    expect(manager.status?.code).toBe('NO_LICENSE');
  });
});
