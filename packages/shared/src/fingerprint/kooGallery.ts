import { LicensorError } from '../errors';
import { DEFAULT_MATCH_RULE, matchFingerprint } from './match';
import { componentLists, normalizeComponents } from './normalize';
import type { KooGalleryFingerprint, MatchResult, MatchRule, RawComponents } from './types';

/** The client guide's limit (spec 8.3); `getLicenseAsync`'s field allows only 1024 characters, checked by callers. */
export const KOOGALLERY_FINGERPRINT_MAX_BYTES = 5120;

/** `MAC|disk|board|CPU`, several MACs/disks joined with `,`, unreadable fields left empty, all upper case. */
export function formatKooGalleryFingerprint(fp: KooGalleryFingerprint): string {
  const fields = [fp.macs, fp.disks, [fp.board], [fp.cpu]];
  fields.forEach((values, i) => {
    for (const v of values) {
      // A separator inside a value would silently produce a different fingerprint when parsed back.
      if (v.includes('|') || (i < 2 && v.includes(','))) {
        throw new LicensorError('INVALID_INPUT', 'A fingerprint value contains a separator ("|" or ",")');
      }
    }
  });
  return fields
    .map((values) => values.join(','))
    .join('|')
    .toUpperCase();
}

/** Parses `MAC|disk|board|CPU` (spec 8.3); throws INVALID_INPUT unless there are exactly four fields. */
export function parseKooGalleryFingerprint(s: string): KooGalleryFingerprint {
  if (typeof s !== 'string') throw new LicensorError('INVALID_INPUT', 'The device fingerprint must be a string');
  if (Buffer.byteLength(s, 'utf8') > KOOGALLERY_FINGERPRINT_MAX_BYTES) {
    throw new LicensorError('INVALID_INPUT', 'The device fingerprint is too long', {
      maxBytes: KOOGALLERY_FINGERPRINT_MAX_BYTES,
    });
  }
  const fields = s.split('|').map((f) => f.trim().toUpperCase());
  if (fields.length !== 4) {
    throw new LicensorError('INVALID_INPUT', 'The device fingerprint must have four "|"-separated fields', {
      fields: fields.length,
    });
  }
  const [macs, disks, board, cpu] = fields as [string, string, string, string];
  const list = (f: string) =>
    f
      .split(',')
      .map((v) => v.trim())
      .filter((v) => v !== '');
  return { macs: list(macs), disks: list(disks), board, cpu };
}

/** The KooGallery fingerprint of this device's readings (normalised; separators inside values are removed). */
export function kooGalleryFromRaw(raw: RawComponents): KooGalleryFingerprint {
  const n = normalizeComponents(raw);
  const strip = (v: string) => v.replace(/[|,]/g, '');
  return {
    macs: n.macs ?? [],
    disks: (n.diskSerials ?? []).map(strip).filter((v) => v !== ''),
    board: strip(n.baseboardSerial ?? ''),
    cpu: strip(n.cpu ?? ''),
  };
}

function toComponents(fp: KooGalleryFingerprint | string) {
  const { macs, disks, board, cpu } = typeof fp === 'string' ? parseKooGalleryFingerprint(fp) : fp;
  // Normalising both sides makes `04-7c-…` and `04:7C:…` equal and drops placeholders before comparing.
  return componentLists(normalizeComponents({ macs, diskSerials: disks, baseboardSerial: board, cpu }));
}

/**
 * Compares two KooGallery fingerprints with the rules of `matchFingerprint` over the components `macs`,
 * `diskSerials`, `baseboardSerial` and `cpu` (MAC and disk lists match when they intersect). Strings are parsed
 * first and throw INVALID_INPUT when malformed.
 */
export function matchKooGalleryFingerprint(
  bound: KooGalleryFingerprint | string,
  current: KooGalleryFingerprint | string,
  rule: MatchRule = DEFAULT_MATCH_RULE,
): MatchResult {
  return matchFingerprint(toComponents(bound), toComponents(current), rule);
}
