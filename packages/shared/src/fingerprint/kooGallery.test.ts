import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LicensorError } from '../errors';
import {
  formatKooGalleryFingerprint,
  type KooGalleryFingerprint,
  kooGalleryFromRaw,
  matchKooGalleryFingerprint,
  parseKooGalleryFingerprint,
} from './index';

const SPEC_EXAMPLE = '04:7C:16:5E:E3:5D|001B_444A_488B_5CEC.||BFEBFBFF00090672';

function invalid(fn: () => unknown): void {
  expect(fn).toThrow(LicensorError);
  try {
    fn();
  } catch (e) {
    expect((e as LicensorError).code).toBe('INVALID_INPUT');
  }
}

describe('KooGallery fingerprint format (spec 8.3)', () => {
  it('parses the spec example (board empty) and formats it back byte-identical', () => {
    const fp = parseKooGalleryFingerprint(SPEC_EXAMPLE);
    expect(fp).toEqual({
      macs: ['04:7C:16:5E:E3:5D'],
      disks: ['001B_444A_488B_5CEC.'],
      board: '',
      cpu: 'BFEBFBFF00090672',
    });
    expect(formatKooGalleryFingerprint(fp)).toBe(SPEC_EXAMPLE);
  });

  it('upper-cases, trims, splits lists and drops empty list entries', () => {
    expect(
      parseKooGalleryFingerprint(' 04:7c:16:5e:e3:5d , ,3c:7c:3f:aa:01:02 | disk1,disk2 | board | bfebfbff '),
    ).toEqual({
      macs: ['04:7C:16:5E:E3:5D', '3C:7C:3F:AA:01:02'],
      disks: ['DISK1', 'DISK2'],
      board: 'BOARD',
      cpu: 'BFEBFBFF',
    });
    expect(parseKooGalleryFingerprint('|||')).toEqual({ macs: [], disks: [], board: '', cpu: '' });
    expect(
      formatKooGalleryFingerprint({ macs: ['aa:bb:cc:dd:ee:01', 'aa:bb:cc:dd:ee:02'], disks: [], board: 'b', cpu: '' }),
    ).toBe('AA:BB:CC:DD:EE:01,AA:BB:CC:DD:EE:02||B|');
  });

  it('rejects fewer or more than four fields, oversized input and separators inside values', () => {
    for (const s of ['', 'a|b|c', 'a|b|c|d|e', 'no separators at all']) invalid(() => parseKooGalleryFingerprint(s));
    invalid(() => parseKooGalleryFingerprint(`${'A'.repeat(5118)}|||`));
    expect(parseKooGalleryFingerprint(`${'A'.repeat(5117)}|||`).macs[0]).toHaveLength(5117); // 5120 bytes
    invalid(() => parseKooGalleryFingerprint(`${'中'.repeat(1706)}|||`)); // 5121 bytes, 1709 characters
    invalid(() => formatKooGalleryFingerprint({ macs: ['a|b'], disks: [], board: '', cpu: '' }));
    invalid(() => formatKooGalleryFingerprint({ macs: [], disks: ['a,b'], board: '', cpu: '' }));
  });

  it('round-trips generated fingerprints', () => {
    const value = fc.string({ minLength: 1, maxLength: 20 }).map((s) => s.replace(/[|,\s]/g, 'X').toUpperCase());
    const fingerprint: fc.Arbitrary<KooGalleryFingerprint> = fc.record({
      macs: fc.array(value, { maxLength: 4 }),
      disks: fc.array(value, { maxLength: 4 }),
      board: fc.oneof(fc.constant(''), value),
      cpu: fc.oneof(fc.constant(''), value),
    });
    fc.assert(
      fc.property(fingerprint, (fp) => {
        const s = formatKooGalleryFingerprint(fp);
        expect(parseKooGalleryFingerprint(s)).toEqual(fp);
        expect(formatKooGalleryFingerprint(parseKooGalleryFingerprint(s))).toBe(s);
      }),
      { numRuns: 500 },
    );
  });
});

describe('kooGalleryFromRaw', () => {
  it('builds the fingerprint from normalised readings', () => {
    const fp = kooGalleryFromRaw({
      macs: ['04-7c-16-5e-e3-5d'],
      diskSerials: ['001b_444a_488b_5cec.'],
      baseboardSerial: 'To be filled by O.E.M.',
      cpu: 'bfebfbff00090672',
      machineId: 'ignored',
    });
    expect(formatKooGalleryFingerprint(fp)).toBe(SPEC_EXAMPLE);
    expect(kooGalleryFromRaw({ diskSerials: ['A|B,C'] }).disks).toEqual(['ABC']);
  });
});

describe('matchKooGalleryFingerprint', () => {
  const bound = 'AA:BB:CC:00:00:01,AA:BB:CC:00:00:02|DISK1|BOARD1|CPU1';

  it('matches itself, tolerates one changed component, refuses two', () => {
    expect(matchKooGalleryFingerprint(bound, bound).match).toBe(true);
    const one = matchKooGalleryFingerprint(bound, 'AA:BB:CC:00:00:01|DISK1|BOARD2|CPU1');
    expect(one).toMatchObject({ match: true, changed: ['baseboardSerial'] });
    expect(one.compared).toEqual(['baseboardSerial', 'cpu', 'diskSerials', 'macs']);
    expect(matchKooGalleryFingerprint(bound, 'AA:BB:CC:00:00:09|DISK1|BOARD2|CPU1').match).toBe(false);
  });

  it('a new extra disk keeps the match, even under the strict rule', () => {
    expect(matchKooGalleryFingerprint(bound, 'AA:BB:CC:00:00:02|DISK1,DISK2|BOARD1|CPU1', { type: 'all' }).match).toBe(
      true,
    );
  });

  it('compares case- and MAC-separator-insensitively and accepts parsed objects', () => {
    const current = parseKooGalleryFingerprint('aa-bb-cc-00-00-02|disk1|board1|cpu1');
    expect(matchKooGalleryFingerprint(bound, current, { type: 'all' }).match).toBe(true);
  });

  it('ignores empty and junk fields; nothing comparable is no match', () => {
    const r = matchKooGalleryFingerprint(
      SPEC_EXAMPLE,
      '04:7C:16:5E:E3:5D|001B_444A_488B_5CEC.|Default string|BFEBFBFF00090672',
    );
    expect(r.compared).toEqual(['cpu', 'diskSerials', 'macs']);
    expect(r.match).toBe(true);
    expect(matchKooGalleryFingerprint('|||', '|||').match).toBe(false);
  });

  it('rejects malformed strings', () => {
    invalid(() => matchKooGalleryFingerprint('a|b', bound));
  });
});
