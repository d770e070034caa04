export {
  type DecodedLicense,
  decodeLicenseFile,
  LICENSE_ARMOR_BEGIN,
  LICENSE_ARMOR_END,
  LICENSE_FILE_MAX_BYTES,
  type LicenseAlgorithm,
  type LicenseEnvelope,
  type LicenseSigner,
  SUPPORTED_LICENSE_ALGORITHMS,
  signLicense,
  signLicenseAsync,
} from './file';
export { licensePayloadSchema } from './schema';
export { DuplicateKeyError, parseJsonStrict } from './strictJson';
export type * from './types';
export {
  type DecodedVerdict,
  decodeVerdictRecord,
  ENTITLEMENT_VERDICT_CODES,
  LOCKING_VERDICT_CODES,
  type LockingVerdictCode,
  signVerdict,
  signVerdictAsync,
  VERDICT_RECORD_MAX_BYTES,
  type VerdictPayload,
  verdictLocks,
  verdictPayloadSchema,
} from './verdict';
export {
  LicenseVerifier,
  type LicenseVerifierOptions,
  type VerifiedLicenseFile,
  type VerifiedVerdict,
} from './verify';
