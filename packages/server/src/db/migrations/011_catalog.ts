import type { Migration } from '../types';

/**
 * The merchant's catalogue: products and their SKUs (what KooGallery sends as skuCode). A SKU names an
 * edition, features (JSON object: name → true or a number), a seat count and policy overrides; a product has
 * the defaults a license of an unknown SKU gets. A product's policy defaults stay in product_policies (002),
 * so `licensor policy …` and the catalogue edit the same row.
 */
export const m011_catalog: Migration = {
  version: 11,
  name: 'catalog',
  sql: `
CREATE TABLE catalog_products (
  product_id      TEXT PRIMARY KEY,
  name            TEXT,
  edition         TEXT,                        -- edition of a license whose SKU is unknown
  features        TEXT NOT NULL DEFAULT '{}',  -- JSON {name: true | number}
  seats           INTEGER CHECK (seats IS NULL OR seats >= 0),
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL
);

CREATE TABLE catalog_skus (
  product_id      TEXT NOT NULL REFERENCES catalog_products(product_id) ON DELETE CASCADE,
  sku_code        TEXT NOT NULL,
  edition         TEXT NOT NULL,
  features        TEXT NOT NULL DEFAULT '{}',
  seats           INTEGER CHECK (seats IS NULL OR seats >= 0),
  policy          TEXT NOT NULL DEFAULT '{}',  -- JSON PolicyOverrides over the product's defaults
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL,
  PRIMARY KEY (product_id, sku_code)
);
CREATE INDEX entitlements_product_sku ON entitlements(product_id, sku_code);
`,
};
