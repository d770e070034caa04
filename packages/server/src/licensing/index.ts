/**
 * The licensing core: entitlements, policies, device activations (seats), License issuing, and the merchant
 * actions the admin API and CLI call. The `/api/v1` activation API (routes.ts) is a thin HTTP layer over it.
 */
export {
  type ActivateOptions,
  type ActivateResult,
  type ActivationInput,
  activate,
  checkInIntervalSeconds,
  entitlementSummary,
  resolveCode,
} from './activate';
export {
  type ActivationChange,
  type ActivationFilter,
  type ActivationRow,
  type ActivationStatus,
  type ActivationView,
  type ActivationWriter,
  activationView,
  cullLapsedLeases,
  findActivation,
} from './activations';
export {
  type ActionOptions,
  findEntitlementRef,
  freeSeat,
  issueOfflineResponse,
  listActivations,
  moveLicense,
  reinstateEntitlement,
  revokeEntitlement,
  setAuthorizedUsers,
  setEntitlementPolicy,
  suspendEntitlement,
} from './admin';
export type { LicensingContext, LicensingPorts, MarketplaceCodes } from './context';
export { cullNonces } from './device';
export {
  type AuditEntry,
  announceCreated,
  applyMarketplaceStatus,
  audit,
  changeEntitlement,
  derivedSeats,
  type EntitlementChange,
  type EntitlementPatch,
  type EntitlementRow,
  type EntitlementStatus,
  type EntitlementWriter,
  findEntitlement,
  findEntitlementByCode,
  type RegisterCodeInput,
  recordChange,
  rederiveProductSeats,
  registerCode,
  type SeatSource,
} from './entitlements';
export { type Features, featuresSchema } from './features';
export { buildPayload, type IssueOptions, issueLicenseFile, type LicenseModel } from './issue';
export {
  type CreateLicenseInput,
  createDirectLicense,
  createLicenseSchema,
  type UpdateLicenseInput,
  updateLicense,
  updateLicenseSchema,
} from './licenses';
export {
  DEFAULT_POLICY,
  type Policy,
  type PolicyOverrides,
  policyFor,
  policyOverridesSchema,
  productPolicy,
  resolvePolicy,
  seatLimit,
  setProductPolicy,
} from './policy';
export { activationRouter } from './routes';
export { isPastExpiry, type Verdict, verdictOf } from './verdict';
