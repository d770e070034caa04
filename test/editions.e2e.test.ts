import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fingerprintFromReadings, LicenseManager } from '@licensor/client';
import { type RunningServer, startServer, testConfig } from '@licensor/server';
import { schemeAAuthToken } from '@licensor/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatCompactTime, formatCompactTimeMs } from '../packages/server/src/koogallery/time';

/**
 * Editions and features end to end: the real server (127.0.0.1, port 0), a catalogue applied through the admin
 * API, a family-A purchase of a SKU, and the real client gating features on the signed License — offline after
 * activation, and with the new features after a check-in once the merchant changed the SKU.
 */

const PRODUCT = 'e2e-editions';
const ADMIN = { authorization: 'Bearer admin-test-token', 'content-type': 'application/json' };

let running: RunningServer;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'licensor-e2e-editions-'));
  running = await startServer(testConfig({ dataDir: join(dir, 'server'), port: 0, host: '127.0.0.1' }));
});
afterAll(async () => {
  await running?.close();
  rmSync(dir, { recursive: true, force: true });
});

const catalog = (proFeatures: Record<string, boolean | number>) => ({
  products: [
    {
      id: PRODUCT,
      edition: 'Standard',
      features: { export: true },
      skus: [{ code: 'sku-pro', edition: 'Pro', features: proFeatures }],
    },
  ],
});

async function applyCatalog(body: object): Promise<void> {
  const res = await fetch(`${running.url}/api/admin/v1/catalog/apply`, {
    method: 'POST',
    headers: ADMIN,
    body: JSON.stringify({ catalog: body }),
  });
  expect(res.status).toBe(200);
}

async function buy(skuCode: string): Promise<string> {
  const params: Record<string, string> = {
    activity: 'getLicense',
    businessId: 'biz-editions',
    customerId: 'customer-editions',
    orderId: `CS-editions-${skuCode}`,
    productId: PRODUCT,
    skuCode,
    amount: '1',
    expireTime: formatCompactTime(new Date(Date.now() + 365 * 86_400_000)),
    timeStamp: formatCompactTimeMs(new Date()),
  };
  const query = new URLSearchParams({ ...params, authToken: schemeAAuthToken('KEY', params) });
  const body = (await (await fetch(`${running.url}/api/koogallery/produce?${query}`)).json()) as {
    resultCode: string;
    license: string;
  };
  expect(body.resultCode).toBe('000000');
  return body.license;
}

describe('editions and features', () => {
  it('a purchased SKU gates features offline, and a changed SKU reaches the client at its next check-in', async () => {
    await applyCatalog(catalog({ maxProjects: 20 }));
    const code = await buy('sku-pro');
    const manager = new LicenseManager({
      productId: PRODUCT,
      roots: [running.keys.rootCertificatePem],
      serverUrl: running.url,
      dataDir: join(dir, 'client'),
      fingerprint: () =>
        fingerprintFromReadings({
          machineId: '33333333333333333333333333333333',
          baseboardSerial: 'BOARD-E-0001',
          diskSerials: ['DISK-E-0001'],
          macs: ['04:7C:16:5E:E3:5E'],
        }),
    });
    const activated = await manager.activate(code);
    expect(activated.license).toMatchObject({ sku: 'sku-pro', edition: 'Pro' });
    expect(manager.hasFeature('export')).toBe(true);
    expect(manager.featureValue('maxProjects')).toBe(20);
    expect(manager.hasFeature('sync')).toBe(false);

    // Offline, in a new process: the signed file alone decides.
    const offline = new LicenseManager({
      productId: PRODUCT,
      roots: [running.keys.rootCertificatePem],
      dataDir: join(dir, 'client'),
      fingerprint: () =>
        fingerprintFromReadings({
          machineId: '33333333333333333333333333333333',
          baseboardSerial: 'BOARD-E-0001',
          diskSerials: ['DISK-E-0001'],
          macs: ['04:7C:16:5E:E3:5E'],
        }),
    });
    expect((await offline.verify()).valid).toBe(true);
    expect(offline.featureValue('maxProjects')).toBe(20);

    await applyCatalog(catalog({ maxProjects: 50, sync: true }));
    const result = await manager.checkIn();
    expect(result.online).toBe(true);
    expect(manager.hasFeature('sync')).toBe(true);
    expect(manager.featureValue('maxProjects')).toBe(50);
  });
});
