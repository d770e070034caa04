/** Enterprise sync (KooGallery Kit interfaces): what the rest of the server uses. */
export { kitAdminRouter } from './admin';
export {
  isKitUserAuthorized,
  type KitOrgNode,
  type KitTenantDetail,
  type KitTenantSummary,
  listTenants,
  showTenant,
} from './queries';
export { KIT_BODY_LIMIT, kitPath, kitRouter } from './router';
export { SecretBox } from './secretBox';
export { readClientSecret } from './secrets';
