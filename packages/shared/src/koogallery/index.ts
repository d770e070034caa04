export {
  type AkSkSigned,
  type AkSkSignRequest,
  type AkSkVerifyRequest,
  akskSignatureFromStringToSign,
  formatSdkDate,
  rfc3986Encode,
  signAkSk,
  verifyAkSk,
} from './aksk';
export { bodySignHeader, parseBodySignHeader, verifyBodySign } from './bodySign';
export {
  parseFormQuery,
  schemeAAuthToken,
  schemeABodyAuthToken,
  schemeABodyParams,
  verifySchemeA,
  verifySchemeABody,
} from './schemeA';
export {
  KOOGALLERY_SIGNATURE_WINDOW_MS,
  parseMarketplaceTimestamp,
  schemeBInnerHex,
  schemeBSignature,
  type TimedSignatureResult,
  verifySchemeB,
  verifyXSign,
  xSign,
} from './schemeB';
