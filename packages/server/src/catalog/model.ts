import { z } from 'zod';
import {
  DEFAULT_POLICY,
  type Features,
  featuresSchema,
  type Policy,
  type PolicyOverrides,
  policyOverridesSchema,
} from '../licensing';

/**
 * The license model of the catalogue: what a license of a product/SKU is entitled to. Pure data and pure
 * functions; storage is in store.ts.
 */

export { type Features, featuresSchema };

const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max, `at most ${max} characters`);
/** `*` is not a product: it names the policy defaults of every product (`licensor policy set '*' …`). */
export const productIdSchema = text(128).refine((id) => id !== '*', '* is not a product id');
export const skuCodeSchema = text(128);
export const editionSchema = text(64);
// A license with 0 seats could activate no device: leave seats out to follow the product (or the order) instead.
const seatsSchema = z
  .number({ error: 'seats are a whole number of devices, at least 1' })
  .int('seats are a whole number of devices, at least 1')
  .min(
    1,
    'seats must be at least 1 (a license with 0 seats could activate no device); leave seats out to use the default',
  )
  .max(1_000_000, 'at most 1000000 seats');

export const skuSchema = z
  .object({
    code: skuCodeSchema,
    edition: editionSchema,
    features: featuresSchema.default({}),
    seats: seatsSchema.optional(),
    policy: policyOverridesSchema.default({}),
  })
  .strict();
export type SkuSpec = z.infer<typeof skuSchema>;

export const productSchema = z
  .object({
    id: productIdSchema,
    name: text(200).optional(),
    /** The edition of a license whose SKU the catalogue does not know. */
    edition: editionSchema.optional(),
    features: featuresSchema.default({}),
    seats: seatsSchema.optional(),
    /** The product's policy defaults (the same as `licensor policy set`). */
    policy: policyOverridesSchema.default({}),
    skus: z.array(skuSchema).default([]),
  })
  .strict()
  .superRefine((p, ctx) => {
    const seen = new Set<string>();
    p.skus.forEach((s, i) => {
      if (seen.has(s.code))
        ctx.addIssue({ code: 'custom', path: ['skus', i, 'code'], message: `duplicate SKU ${s.code}` });
      seen.add(s.code);
    });
  });
export type ProductSpec = z.infer<typeof productSchema>;

/** The declarative catalogue file (`licensor catalog apply catalog.yaml`). */
export const catalogSchema = z
  .object({
    products: z.array(productSchema),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.products.forEach((p, i) => {
      if (seen.has(p.id))
        ctx.addIssue({ code: 'custom', path: ['products', i, 'id'], message: `duplicate product ${p.id}` });
      seen.add(p.id);
    });
  });
export type CatalogSpec = z.infer<typeof catalogSchema>;

/** What a license itself overrides (direct licenses, operator changes); every field optional. */
export interface LicenseOverrides {
  edition?: string | null;
  features?: Features | null;
  seats?: number | null;
  policy?: PolicyOverrides | null;
}

export interface DerivedModel {
  edition: string | null;
  /** Features that are on: `true` or a number; switched-off ones are left out. */
  features: Record<string, true | number>;
  seats: number;
  policy: Policy;
  /** The license names a SKU the catalogue does not know: it got the product's defaults. */
  unknownSku: boolean;
}

export interface DeriveInput {
  /** The catalogue product, if the catalogue has it. */
  product?: Pick<ProductSpec, 'edition' | 'features' | 'seats' | 'policy'> | null;
  /** Policy defaults for every product (`licensor policy set '*'`). */
  globalPolicy?: PolicyOverrides;
  skuCode?: string | null;
  /** The catalogue SKU matching skuCode, if any. */
  sku?: Pick<SkuSpec, 'edition' | 'features' | 'seats' | 'policy'> | null;
  license?: LicenseOverrides;
  /** The quantity the marketplace order carried: wins over the SKU's and product's seats, not the license's own. */
  orderedSeats?: number | null;
}

/**
 * A license's edition, features, seats and policy: the license's own overrides win over its SKU's values,
 * which win over the product's defaults (for seats, the order's quantity comes between the license and the SKU) (and, for the policy, the global and built-in defaults). A SKU the
 * catalogue does not know is never refused: the product's defaults apply and `unknownSku` says so.
 */
export function deriveLicenseModel(input: DeriveInput): DerivedModel {
  const { product, sku, license = {} } = input;
  const features: Features = { ...product?.features, ...sku?.features, ...license.features };
  const on: Record<string, true | number> = {};
  for (const [name, value] of Object.entries(features)) if (value !== false) on[name] = value;
  return {
    edition: license.edition ?? sku?.edition ?? product?.edition ?? null,
    features: on,
    seats: license.seats ?? input.orderedSeats ?? sku?.seats ?? product?.seats ?? 1,
    policy: {
      ...DEFAULT_POLICY,
      ...input.globalPolicy,
      ...product?.policy,
      ...sku?.policy,
      ...license.policy,
    } as Policy,
    unknownSku: Boolean(input.skuCode) && !sku,
  };
}
