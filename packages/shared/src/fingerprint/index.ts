export {
  formatKooGalleryFingerprint,
  KOOGALLERY_FINGERPRINT_MAX_BYTES,
  kooGalleryFromRaw,
  matchKooGalleryFingerprint,
  parseKooGalleryFingerprint,
} from './kooGallery';
export { DEFAULT_MATCH_RULE, describeMatchRule, matchFingerprint, matchRuleSchema } from './match';
export { hashComponents, JUNK_VALUES, normalizeComponents, normalizeMac, usableComponentCount } from './normalize';
export * from './types';
