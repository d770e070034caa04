import type { Migration } from '../types';

/**
 * Seats follow the catalogue. `seats` stays the one number every seat check reads, but it is now derived:
 * the license's own `seats_override` (an operator's or a direct license's choice), else its SKU's seats, else
 * its product's, else `ordered_seats` (the quantity the marketplace order carried). Existing licenses keep the
 * quantity they were created with as their ordered seats and are re-derived once here.
 */
export const m013_license_seats: Migration = {
  version: 13,
  name: 'license_seats',
  sql: `
ALTER TABLE entitlements ADD COLUMN seats_override INTEGER CHECK (seats_override IS NULL OR seats_override >= 0);
ALTER TABLE entitlements ADD COLUMN ordered_seats INTEGER CHECK (ordered_seats IS NULL OR ordered_seats >= 0);
UPDATE entitlements SET ordered_seats = seats;
UPDATE entitlements SET seats = COALESCE(
  (SELECT s.seats FROM catalog_skus s WHERE s.product_id = entitlements.product_id AND s.sku_code = entitlements.sku_code),
  (SELECT p.seats FROM catalog_products p WHERE p.product_id = entitlements.product_id),
  seats);
`,
};
