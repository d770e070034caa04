import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '../licensing';
import { catalogSchema, deriveLicenseModel } from './model';

const product = {
  edition: 'Standard',
  features: { export: true, maxProjects: 5 },
  seats: 1,
  policy: { fileTtlDays: 10, offlineGraceDays: 3 },
};
const pro = {
  edition: 'Pro',
  features: { maxProjects: 20, sync: true },
  seats: 5,
  policy: { mode: 'floating' as const },
};

describe('deriveLicenseModel: license overrides > SKU > product defaults', () => {
  it('takes the SKU over the product, field by field', () => {
    const m = deriveLicenseModel({ product, skuCode: 'sku-pro', sku: pro });
    expect(m).toEqual({
      edition: 'Pro',
      features: { export: true, maxProjects: 20, sync: true },
      seats: 5,
      policy: { ...DEFAULT_POLICY, fileTtlDays: 10, offlineGraceDays: 3, mode: 'floating' },
      unknownSku: false,
    });
  });

  it('lets the license override edition, features (false switches one off), seats and policy', () => {
    const m = deriveLicenseModel({
      product,
      skuCode: 'sku-pro',
      sku: pro,
      license: { edition: 'Pro Plus', features: { sync: false, audit: true }, seats: 9, policy: { leaseMinutes: 5 } },
    });
    expect(m.edition).toBe('Pro Plus');
    expect(m.features).toEqual({ export: true, maxProjects: 20, audit: true });
    expect(m.seats).toBe(9);
    expect(m.policy).toMatchObject({ mode: 'floating', leaseMinutes: 5, fileTtlDays: 10 });
  });

  it("accepts an unknown SKU with the product's defaults and flags it", () => {
    const m = deriveLicenseModel({ product, skuCode: 'sku-new', sku: undefined, globalPolicy: { leaseMinutes: 7 } });
    expect(m.unknownSku).toBe(true);
    expect(m.edition).toBe('Standard');
    expect(m.features).toEqual({ export: true, maxProjects: 5 });
    expect(m.policy).toMatchObject({ fileTtlDays: 10, leaseMinutes: 7, mode: 'node-locked' });
  });

  it('seats: the license override, then the ordered quantity, then the SKU, then the product, then 1', () => {
    expect(deriveLicenseModel({ product, sku: pro, orderedSeats: 3, license: { seats: 9 } }).seats).toBe(9);
    expect(deriveLicenseModel({ product, sku: pro, orderedSeats: 3 }).seats).toBe(3);
    expect(deriveLicenseModel({ product, sku: pro, orderedSeats: null }).seats).toBe(pro.seats);
    expect(deriveLicenseModel({ product, orderedSeats: null }).seats).toBe(product.seats);
    expect(deriveLicenseModel({ orderedSeats: 3 }).seats).toBe(3);
  });

  it('falls back to 1 seat and to the built-in policy without a catalogue', () => {
    const bare = deriveLicenseModel({});
    expect(bare).toEqual({ edition: null, features: {}, seats: 1, policy: DEFAULT_POLICY, unknownSku: false });
    expect(deriveLicenseModel({ skuCode: 'x' }).unknownSku).toBe(true);
  });
});

describe('catalogSchema', () => {
  it('names every mistake with its path', () => {
    const r = catalogSchema.safeParse({
      products: [
        {
          id: 'p',
          skus: [
            { code: 'a', edition: 'A', features: { '9bad': true } },
            { code: 'a', edition: 'B', policy: { mode: 'roaming' } },
          ],
        },
        { id: 'p', colour: 'red' },
      ],
    });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(
      expect.arrayContaining(['products.0.skus.0.features.9bad', 'products.0.skus.1.policy.mode', 'products.1']),
    );
    const dup = catalogSchema.safeParse({
      products: [
        {
          id: 'p',
          skus: [
            { code: 'a', edition: 'A' },
            { code: 'a', edition: 'B' },
          ],
        },
        { id: 'p' },
      ],
    });
    expect(dup.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual(
      expect.arrayContaining(['products.0.skus.1.code: duplicate SKU a', 'products.1.id: duplicate product p']),
    );
  });
});
