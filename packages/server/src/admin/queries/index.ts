/**
 * The operators' read side: one filter schema, one dataset and one view per listing. The admin API and
 * the CLI both go through these, so a filter means the same thing everywhere. Marketplace debug traffic
 * (`test = 1`) is left out of every listing, count and export unless `includeTest=true`.
 * One module per resource; this index is what the admin API and the CLI import.
 */
export * from './activations';
export * from './audit';
export * from './codes';
export * from './entitlements';
export * from './messages';
export * from './orders';
export * from './outbox';
export * from './summary';
