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
export type * from './types';
export { LicenseVerifier, type LicenseVerifierOptions, type VerifiedLicenseFile } from './verify';
