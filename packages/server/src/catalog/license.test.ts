import { decodeLicenseFile, LicenseVerifier } from '@licensor/shared';
import { activationBody, deviceHeaders, newDevice, seedEntitlement } from '@licensor/testkit/licensing';
import { createTestApp, type TestApp } from '@licensor/testkit/server';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const ADMIN = '/api/admin/v1';
const BOOT = 'Bearer admin-test-token';

let t: TestApp;
beforeEach(async () => {
  t = await createTestApp();
});
afterEach(async () => {
  await t.destroy();
});

const catalog = {
  products: [
    {
      id: 'com.example.app',
      edition: 'Standard',
      features: { export: true },
      skus: [
        { code: 'sku-basic', edition: 'Basic' },
        {
          code: 'sku-pro',
          edition: 'Pro',
          features: { maxProjects: 20, sync: true },
          policy: { mode: 'floating', leaseMinutes: 12 },
        },
      ],
    },
  ],
};

describe('License files carry the catalogue', () => {
  it("sign the SKU's edition and features, and a SKU change reaches the device at its next check-in", async () => {
    const app = request(t.licensor.app);
    expect((await app.post(`${ADMIN}/catalog/apply`).set('Authorization', BOOT).send({ catalog })).status).toBe(200);
    const ent = await seedEntitlement(t.db, { productId: 'com.example.app' });
    await t.db.run(`UPDATE entitlements SET sku_code = 'sku-basic' WHERE id = ?`, [ent.id]);

    const device = newDevice();
    const activated = await app.post('/api/v1/activations').send(activationBody(device, ent.code!));
    expect(activated.status, activated.text).toBe(200);
    const first = new LicenseVerifier({ roots: [t.keys.rootCertificatePem] }).verify(activated.body.license);
    expect(first.payload).toMatchObject({ sku: 'sku-basic', edition: 'Basic', features: { export: true } });

    // The marketplace moves the customer to another SKU (upgrade); the next check-in carries the new model.
    await t.db.run(`UPDATE entitlements SET sku_code = 'sku-pro' WHERE id = ?`, [ent.id]);
    const path = `/api/v1/activations/${activated.body.activationId}/check-in`;
    const checkIn = await app
      .post(path)
      .set(deviceHeaders(device, activated.body.activationId, 'POST', path, '{}'))
      .send('{}');
    expect(checkIn.status, checkIn.text).toBe(200);
    const after = decodeLicenseFile(checkIn.body.license).payload;
    expect(after).toMatchObject({ edition: 'Pro', features: { export: true, maxProjects: 20, sync: true } });
    // The SKU's policy applies too: a floating seat checks in within a third of its 12-minute lease.
    expect(checkIn.body.checkInIntervalSeconds).toBe(4 * 60);

    // An unknown SKU is never refused: the product's edition and features.
    await t.db.run(`UPDATE entitlements SET sku_code = 'sku-future' WHERE id = ?`, [ent.id]);
    const later = await app
      .post(path)
      .set(deviceHeaders(device, activated.body.activationId, 'POST', path, '{}'))
      .send('{}');
    expect(decodeLicenseFile(later.body.license).payload).toMatchObject({
      edition: 'Standard',
      features: { export: true },
    });
  });
});
