export type { CertificateOptions, CertifiedKey, CertifiedPublicKey, SigningCertificateOptions } from './certificates';
export {
  createRootCertificate,
  decryptPrivateKey,
  encryptPrivateKey,
  issueSigningCertificate,
  keyIdOf,
} from './certificates';
export { verifyCertificateChain } from './chain';
export {
  domainSign,
  domainSignAsync,
  domainVerify,
  domainVerifyAsync,
  SIGNATURE_DOMAINS,
  type SignatureDomain,
} from './domain';
export { signRevocationList, verifyRevocationList } from './revocations';
