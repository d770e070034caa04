import type { Migration } from '../types';

/**
 * Indexes that let the console's lists read a page straight off an index in key order (newest first by rowid),
 * instead of sorting every match first: a product's licenses, outbox items of one status, an endpoint's or a
 * status's webhook deliveries. A single-column index keeps its entries in rowid order within each value, which is
 * exactly the lists' keyset order. (The composite indexes beside them serve the worker's and the catalogue's
 * lookups and do not give that order.)
 */
export const m016_list_indexes: Migration = {
  version: 16,
  name: 'list indexes',
  sql: `
CREATE INDEX entitlements_product ON entitlements(product_id);
CREATE INDEX outbox_status ON outbox(status);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries(endpoint_id);
CREATE INDEX webhook_deliveries_by_status ON webhook_deliveries(status);
`,
};
