import type { Migration } from '../types';

/**
 * A license's own features (`features`, JSON {name: true | false | number} over its SKU's and product's; NULL
 * follows the catalogue), set like its own edition by `licenses update --feature` / PATCH.
 *
 * Seats: the quantity the marketplace order carried wins over the catalogue. Migration 013 kept every existing
 * license's seat count as its `ordered_seats` but then replaced `seats` with its SKU's or product's, so a
 * customer who had paid for 10 seats of a SKU listed with 1 was cut to 1. The precedence is now the license's
 * own override, else the ordered quantity, else the SKU's seats, else the product's, else 1 (derivedSeats);
 * every license is re-derived once with it, which gives pre-013 licenses their seat count back.
 */
export const m015_license_seats_and_features: Migration = {
  version: 15,
  name: 'license_seats_and_features',
  sql: `
ALTER TABLE entitlements ADD COLUMN features TEXT;
UPDATE entitlements SET seats = COALESCE(
  seats_override,
  ordered_seats,
  (SELECT s.seats FROM catalog_skus s WHERE s.product_id = entitlements.product_id AND s.sku_code = entitlements.sku_code),
  (SELECT p.seats FROM catalog_products p WHERE p.product_id = entitlements.product_id),
  1);
`,
};
