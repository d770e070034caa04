import type { Migration } from '../types';

/**
 * An explicit creation-order column, `seq`, for the tables the console lists newest first (licenses and codes,
 * devices, webhook deliveries): those lists sorted and paged by SQLite's hidden rowid, which PostgreSQL does not
 * have. On SQLite `seq` is always the rowid's value, so existing cursors stay valid: copied from the rowid for
 * existing rows, and set to the new row's rowid by a trigger after every insert (the column's DEFAULT 0 lives
 * only until the trigger runs, within the same statement: a DEFAULT cannot name the rowid, and a generated
 * column cannot either). PostgreSQL's twin numbers rows with an identity column.
 *
 * The filtered lists' indexes gain `seq` as their last column: a single-column index keeps its entries in rowid
 * order within each value, which is what let a filtered page be read off it in list order; now the order has
 * to be spelled out. The indexes keep their names.
 */
const orderColumn = (table: string) => `
ALTER TABLE ${table} ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE ${table} SET seq = rowid;
CREATE UNIQUE INDEX ${table}_seq ON ${table}(seq);
CREATE TRIGGER ${table}_seq AFTER INSERT ON ${table}
BEGIN
  UPDATE ${table} SET seq = NEW.rowid WHERE rowid = NEW.rowid;
END;
`;

/** The filtered lists' indexes rebuilt to end in `seq`: the same on both backends (the PostgreSQL twin uses it). */
export const LIST_ORDER_INDEXES = `
DROP INDEX entitlements_status;
CREATE INDEX entitlements_status ON entitlements(status, seq);
DROP INDEX entitlements_product;
CREATE INDEX entitlements_product ON entitlements(product_id, seq);
DROP INDEX webhook_deliveries_by_endpoint;
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries(endpoint_id, seq);
DROP INDEX webhook_deliveries_by_status;
CREATE INDEX webhook_deliveries_by_status ON webhook_deliveries(status, seq);
`;

export const m020_list_order: Migration = {
  version: 20,
  name: 'list order',
  sql: `
${orderColumn('entitlements')}
${orderColumn('activations')}
${orderColumn('webhook_deliveries')}
${LIST_ORDER_INDEXES}`,
};
