import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  generateLicenseCode,
  isValidLicenseCode,
  LICENSE_CODE_ALPHABET,
  licenseCodeKind,
  normalizeLicenseCode,
} from './licenseCode';

const FORMAT = /^LSR-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/;

/** Symbol positions (in the dashed string) of an LSR code. */
const POSITIONS = [...'LSR-XXXXX-XXXXX-XXXXX-XXXXX'].flatMap((c, i) => (c === 'X' ? [i] : []));
/**
 * Each run checks every substitution and adjacent transposition of one random code: 300 codes in the full tier
 * (`npm run test:full`, LICENSOR_FULL=1), 30 in `npm test` (the same property, a tenth of the samples).
 */
const SUBSTITUTION_RUNS = process.env.LICENSOR_FULL ? 300 : 30;
const replaceAt = (s: string, i: number, c: string) => s.slice(0, i) + c + s.slice(i + 1);

describe('license codes', () => {
  it('generates well-formed, valid, distinct codes', () => {
    expect(LICENSE_CODE_ALPHABET).toHaveLength(32);
    const codes = new Set<string>();
    // Collected and asserted once: an `expect` per check cost more than the check.
    const wrong: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const code = generateLicenseCode();
      if (!FORMAT.test(code)) wrong.push(`${code}: format`);
      if (!isValidLicenseCode(code)) wrong.push(`${code}: not valid`);
      if (licenseCodeKind(code) !== 'lsr') wrong.push(`${code}: kind ${licenseCodeKind(code)}`);
      if (normalizeLicenseCode(code) !== code) wrong.push(`${code}: normalized to ${normalizeLicenseCode(code)}`);
      codes.add(code);
    }
    expect(wrong).toEqual([]);
    expect(codes.size).toBe(2000);
  });

  it('detects every single-symbol substitution and every adjacent transposition', () => {
    fc.assert(
      fc.property(
        fc.constant(null).map(() => generateLicenseCode()),
        (code) => {
          // The changed codes that still validate (none may), asserted once per code.
          const accepted: string[] = [];
          for (const i of POSITIONS) {
            for (const c of LICENSE_CODE_ALPHABET) {
              if (c !== code[i] && isValidLicenseCode(replaceAt(code, i, c))) accepted.push(replaceAt(code, i, c));
            }
          }
          for (let k = 0; k + 1 < POSITIONS.length; k++) {
            const [i, j] = [POSITIONS[k]!, POSITIONS[k + 1]!];
            if (code[i] === code[j]) continue;
            const swapped = replaceAt(replaceAt(code, i, code[j]!), j, code[i]!);
            if (isValidLicenseCode(swapped)) accepted.push(swapped);
          }
          expect(accepted, code).toEqual([]);
        },
      ),
      { numRuns: SUBSTITUTION_RUNS },
    );
  });

  it('detects transpositions of the check symbol with every neighbour value (exhaustive over 0/Z-style pairs)', () => {
    // Luhn mod 32 would miss swapping 0 and Z; make sure every pair of symbols is caught in the last two places.
    const code = generateLicenseCode();
    const last = POSITIONS.at(-1)!;
    for (const a of LICENSE_CODE_ALPHABET) {
      const candidate = replaceAt(code, last - 1, a);
      // Recompute a valid check symbol for this payload, then swap it with its neighbour.
      const check = [...LICENSE_CODE_ALPHABET].find((c) => isValidLicenseCode(replaceAt(candidate, last, c)))!;
      const valid = replaceAt(candidate, last, check);
      expect(isValidLicenseCode(valid)).toBe(true);
      if (a !== check) expect(isValidLicenseCode(replaceAt(replaceAt(valid, last - 1, check), last, a))).toBe(false);
    }
  });

  it('normalises what people type', () => {
    const code = generateLicenseCode();
    const typed = code.toLowerCase().replaceAll('-', ' ').replaceAll('0', 'o').replaceAll('1', 'l');
    expect(normalizeLicenseCode(`  ${typed}  `)).toBe(code);
    expect(normalizeLicenseCode(code.replaceAll('-', '').replaceAll('1', 'I'))).toBe(code);
    expect(normalizeLicenseCode(`lsr_${code.slice(4).replaceAll('-', '_')}`)).toBe(code);
    expect(isValidLicenseCode(typed)).toBe(true);
    expect(normalizeLicenseCode('LSR-7K3QD-9XW2M-4TRHB-P8NV')).toBe('LSR-7K3QD-9XW2M-4TRHB-P8NV');
    expect(normalizeLicenseCode('LSR-7K3QD-9XW2M-4TRHB-P8NVU')).toBe('LSR-7K3QD-9XW2M-4TRHB-P8NVU');
  });

  it('upper-cases marketplace codes and leaves other identifiers as typed, trimmed', () => {
    expect(normalizeLicenseCode('  pl0000000001 ')).toBe('PL0000000001');
    expect(normalizeLicenseCode(' pl 00o ')).toBe('PL00O');
    // Family-C instance ids are case-sensitive identifiers.
    expect(normalizeLicenseCode(' 0d9f107b-4410-42c7-b341-fa43d82ded1a ')).toBe('0d9f107b-4410-42c7-b341-fa43d82ded1a');
    expect(licenseCodeKind('pl0000000001')).toBe('marketplace');
    expect(isValidLicenseCode('PL0000000001')).toBe(true);
    expect(licenseCodeKind('PL-0001')).toBe('unknown');
    expect(licenseCodeKind(`PL${'1'.repeat(63)}`)).toBe('unknown');
    expect(licenseCodeKind('hello')).toBe('unknown');
    expect(isValidLicenseCode('hello')).toBe(false);
    expect(isValidLicenseCode('')).toBe(false);
  });

  it('treats a well-shaped LSR code with a wrong check symbol as lsr but invalid', () => {
    const code = generateLicenseCode();
    const last = code.length - 1;
    const wrong = replaceAt(code, last, code[last] === '0' ? '1' : '0');
    expect(licenseCodeKind(wrong)).toBe('lsr');
    expect(isValidLicenseCode(wrong)).toBe(false);
  });
});
