/**
 * Family-A license codes that people type: `LSR-XXXXX-XXXXX-XXXXX-XXXXC`, 19 random Crockford base32 symbols
 * (95 bits) and one check symbol C.
 *
 * Check symbol: the 20 symbols, as elements of GF(32) (polynomial basis, modulus x^5 + x^2 + 1), must satisfy
 * Σ s_i · 2^(19−i) = 0, i.e. Horner evaluation `acc = 2·acc ⊕ s` over the code ends at 0. This is the Damm
 * algorithm with the totally anti-symmetric quasigroup a∗b = 2a ⊕ b. A substitution adds e·2^k ≠ 0; swapping
 * symbols a ≠ b at distance d adds (a ⊕ b)·2^k·(2^d ⊕ 1), non-zero because 2 has order 31 in GF(32)*. So every
 * single substitution and every transposition (adjacent or not) is detected, check symbol included. (Luhn mod 32
 * would miss swapping 0 and Z, as Luhn mod 10 misses 09 ↔ 90.)
 */
export const LICENSE_CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

const PREFIX = 'LSR';
const SYMBOLS = 20;
const LSR_FORMAT = /^LSR(-[0-9A-HJKMNP-TV-Z]{5}){4}$/;
const MARKETPLACE_FORMAT = /^PL[A-Z0-9]{1,62}$/; // the marketplace's `license` fields are at most 64 characters

const SYMBOL_VALUE = new Map([...LICENSE_CODE_ALPHABET].map((c, i) => [c, i]));

/** Multiplication by 2 (x) in GF(32) modulo x^5 + x^2 + 1. */
const double = (a: number): number => (a & 0x10 ? ((a << 1) ^ 0x25) & 0x1f : a << 1);

/** Horner accumulator over the symbols; 0 for a whole valid code. */
function checkAccumulator(symbols: string): number {
  let acc = 0;
  for (const c of symbols) acc = double(acc) ^ SYMBOL_VALUE.get(c)!;
  return acc;
}

function group(symbols: string): string {
  return `${PREFIX}-${symbols.match(/.{5}/g)!.join('-')}`;
}

export function generateLicenseCode(): string {
  // The low 5 bits of a uniform byte are uniform: 19 bytes → 95 random bits.
  // Web Crypto (global in Node ≥ 19 and browsers) keeps this module free of node: imports for renderers.
  const payload = [...globalThis.crypto.getRandomValues(new Uint8Array(SYMBOLS - 1))]
    .map((b) => LICENSE_CODE_ALPHABET[b & 0x1f])
    .join('');
  // Appending c gives 2·acc ⊕ c, which is 0 for c = 2·acc.
  return group(payload + LICENSE_CODE_ALPHABET[double(checkAccumulator(payload))]);
}

/**
 * Canonical form of what a person typed. LSR codes: trimmed, upper-cased, spaces/underscores/dashes dropped,
 * O → 0 and I/L → 1 (Crockford's reading of look-alikes), dashes re-inserted. Anything else (marketplace `PL…`
 * codes included) is only trimmed and upper-cased.
 */
export function normalizeLicenseCode(input: string): string {
  const trimmed = input.trim();
  const upper = trimmed.toUpperCase();
  const compact = upper.replace(/[\s_-]/g, '');
  if (!compact.startsWith(PREFIX)) {
    // Marketplace codes are upper case; anything else (e.g. a family-C instance id) is an identifier whose
    // case matters, so it is only trimmed.
    const marketplace = upper.replace(/\s/g, '');
    return MARKETPLACE_FORMAT.test(marketplace) ? marketplace : trimmed;
  }
  const symbols = compact.slice(PREFIX.length).replace(/O/g, '0').replace(/[IL]/g, '1');
  return symbols.length === SYMBOLS && [...symbols].every((c) => SYMBOL_VALUE.has(c)) ? group(symbols) : upper;
}

export type LicenseCodeKind = 'lsr' | 'marketplace' | 'unknown';

/** Kind by shape after normalisation: `lsr` does not imply a correct check symbol (see `isValidLicenseCode`). */
export function licenseCodeKind(code: string): LicenseCodeKind {
  const n = normalizeLicenseCode(code);
  if (LSR_FORMAT.test(n)) return 'lsr';
  return MARKETPLACE_FORMAT.test(n) ? 'marketplace' : 'unknown';
}

/**
 * True for an LSR code (after normalisation) with a correct check symbol, and for a well-formed marketplace code
 * (`PL` + letters and digits; the marketplace owns those and they carry no check symbol). False otherwise.
 */
export function isValidLicenseCode(code: string): boolean {
  const n = normalizeLicenseCode(code);
  if (LSR_FORMAT.test(n)) return checkAccumulator(n.slice(PREFIX.length).replace(/-/g, '')) === 0;
  return MARKETPLACE_FORMAT.test(n);
}
