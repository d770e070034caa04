import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MATCH_RULE,
  describeMatchRule,
  hashComponents,
  type MatchRule,
  matchFingerprint,
  matchRuleSchema,
  normalizeComponents,
  normalizeMac,
  type RawComponents,
  usableComponentCount,
} from './index';

const device: RawComponents = {
  machineId: '4c4c4544-0042-3510-8052-b4c04f4e3232-machine',
  hardwareUuid: '4C4C4544-0042-3510-8052-B4C04F4E3232',
  baseboardSerial: '  /7XK2Q42/CNWS20098M01AE/  ',
  cpu: 'BFEBFBFF000906EA',
  diskSerials: ['S4EWNX0R123456', 'WD-WX21A9876543'],
  macs: ['04-7c-16-5e-e3-5d', '3C7C.3FAA.0102'],
};

describe('normalizeComponents', () => {
  it('trims, collapses whitespace, upper-cases and canonicalises MACs', () => {
    expect(
      normalizeComponents({
        cpu: '  intel(r)   core(tm)\ti7 ',
        macs: ['04-7c-16-5e-e3-5d', '047C165EE35E', '3c7c.3faa.0102', '04:7C:16:5E:E3:5D'],
        diskSerials: [' wd-2 ', 'wd-1', 'WD-2'],
      }),
    ).toEqual({
      cpu: 'INTEL(R) CORE(TM) I7',
      macs: ['04:7C:16:5E:E3:5D', '04:7C:16:5E:E3:5E', '3C:7C:3F:AA:01:02'],
      diskSerials: ['WD-1', 'WD-2'],
    });
  });

  it('drops junk placeholders and omits components left empty', () => {
    const junk = [
      'To be filled by O.E.M.',
      'Default string',
      'None',
      'N/A',
      'Not Specified',
      'System Serial Number',
      '0',
      '00000000',
      '00000000-0000-0000-0000-000000000000',
      'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
      ' ',
      '...',
    ];
    for (const v of junk) {
      expect(
        normalizeComponents({ machineId: v, hardwareUuid: v, baseboardSerial: v, cpu: v, diskSerials: [v] }),
        v,
      ).toEqual({});
    }
    expect(normalizeComponents({ diskSerials: ['Default string', 'S4EW'], macs: [] })).toEqual({
      diskSerials: ['S4EW'],
    });
  });

  it('drops zero, broadcast, multicast and malformed MACs', () => {
    for (const m of [
      '00:00:00:00:00:00',
      'FF:FF:FF:FF:FF:FF',
      '01:00:5E:00:00:FB',
      '33:33:00:00:00:01',
      'zz',
      '',
      'N/A',
    ]) {
      expect(normalizeMac(m), m).toBeNull();
    }
    expect(normalizeMac('047c.165e.e35d')).toBe('04:7C:16:5E:E3:5D');
  });

  it('drops locally administered MACs unless they are the only ones', () => {
    expect(normalizeComponents({ macs: ['02:42:ac:11:00:02', '04:7C:16:5E:E3:5D'] }).macs).toEqual([
      '04:7C:16:5E:E3:5D',
    ]);
    expect(normalizeComponents({ macs: ['52:54:00:12:34:56'] }).macs).toEqual(['52:54:00:12:34:56']);
  });

  it('keeps a real serial with a trailing dot (NVMe serials on Windows)', () => {
    expect(normalizeComponents({ diskSerials: ['001b_444a_488b_5cec.'] }).diskSerials).toEqual([
      '001B_444A_488B_5CEC.',
    ]);
  });
});

describe('hashComponents', () => {
  it('hashes every value, keeps lists, turns single values into one-element lists', () => {
    const h = hashComponents(device, 'prod-1');
    expect(Object.keys(h).sort()).toEqual([
      'baseboardSerial',
      'cpu',
      'diskSerials',
      'hardwareUuid',
      'machineId',
      'macs',
    ]);
    expect(h.cpu).toHaveLength(1);
    expect(h.diskSerials).toHaveLength(2);
    expect(h.macs).toEqual([...h.macs!].sort());
    for (const list of Object.values(h)) for (const v of list) expect(v).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(usableComponentCount(h)).toBe(6);
  });

  it('never contains raw or normalised values', () => {
    const text = JSON.stringify(hashComponents(device, 'prod-1'));
    for (const v of Object.values(normalizeComponents(device)).flat()) expect(text).not.toContain(v);
    for (const v of Object.values(device).flat()) expect(text).not.toContain(v.trim());
  });

  it('is stable under formatting noise and differs per product and per component', () => {
    const a = hashComponents(device, 'prod-1');
    const b = hashComponents({ ...device, cpu: ' bfebfbff000906ea ', macs: [...device.macs!].reverse() }, 'prod-1');
    expect(b).toEqual(a);
    const other = hashComponents(device, 'prod-2');
    for (const name of Object.keys(a) as (keyof typeof a)[]) {
      expect(other[name]!.some((v) => a[name]!.includes(v))).toBe(false);
    }
    const same = hashComponents({ machineId: 'X1', baseboardSerial: 'X1' }, 'p');
    expect(same.machineId).not.toEqual(same.baseboardSerial);
  });

  it('omits junk components instead of hashing them', () => {
    const h = hashComponents(
      { baseboardSerial: 'Default string', cpu: 'BFEBFBFF000906EA', macs: ['00:00:00:00:00:00'] },
      'p',
    );
    expect(Object.keys(h)).toEqual(['cpu']);
    expect(usableComponentCount(h)).toBe(1);
    expect(usableComponentCount({ cpu: [] })).toBe(0);
  });
});

describe('matchFingerprint', () => {
  const bound = hashComponents(device, 'p');
  const variant = (patch: Partial<RawComponents>) => hashComponents({ ...device, ...patch }, 'p');

  it('matches itself under every rule', () => {
    const rules: MatchRule[] = [
      { type: 'all' },
      { type: 'allButOne' },
      { type: 'atLeast', count: 6 },
      { type: 'most' },
    ];
    for (const rule of rules) expect(matchFingerprint(bound, bound, rule).match, rule.type).toBe(true);
  });

  it('default rule: one changed component matches, two do not', () => {
    const one = matchFingerprint(bound, variant({ baseboardSerial: 'NEWBOARD123' }));
    expect(one).toMatchObject({ match: true, changed: ['baseboardSerial'] });
    expect(one.compared).toHaveLength(6);
    const two = matchFingerprint(bound, variant({ baseboardSerial: 'NEWBOARD123', cpu: 'AFEBFBFF000906EA' }));
    expect(two.match).toBe(false);
    expect(two.changed.sort()).toEqual(['baseboardSerial', 'cpu']);
    expect(DEFAULT_MATCH_RULE).toEqual({ type: 'allButOne' });
  });

  it('a new extra disk or NIC changes nothing; a replaced one is one change', () => {
    const extra = variant({
      diskSerials: [...device.diskSerials!, 'NEWDISK999'],
      macs: [...device.macs!, '00:11:22:33:44:55'],
    });
    expect(matchFingerprint(bound, extra, { type: 'all' }).match).toBe(true);
    const replaced = variant({ diskSerials: ['NEWDISK999'] });
    expect(matchFingerprint(bound, replaced)).toMatchObject({ match: true, changed: ['diskSerials'] });
  });

  it('compares only components present on both sides', () => {
    const { machineId, hardwareUuid, ...rest } = device;
    const r = matchFingerprint(bound, hashComponents({ ...rest, cpu: 'OTHERCPU' }, 'p'));
    expect(r.compared).toEqual(['baseboardSerial', 'cpu', 'diskSerials', 'macs']);
    expect(r.match).toBe(true);
  });

  it('allButOne with fewer than two compared components requires them all to match', () => {
    const onlyCpu = hashComponents({ cpu: device.cpu! }, 'p');
    expect(matchFingerprint(bound, onlyCpu).match).toBe(true);
    expect(matchFingerprint(bound, hashComponents({ cpu: 'OTHER' }, 'p')).match).toBe(false);
    const two = hashComponents({ cpu: device.cpu!, baseboardSerial: 'OTHER' }, 'p');
    expect(matchFingerprint(bound, two).match).toBe(false);
  });

  it('nothing compared is no match, whatever the rule', () => {
    for (const rule of [{ type: 'all' }, { type: 'most' }, { type: 'atLeast', count: 1 }] as MatchRule[]) {
      expect(matchFingerprint(bound, {}, rule)).toEqual({ match: false, compared: [], matched: [], changed: [] });
    }
  });

  it('atLeast and most count matched components', () => {
    const current = variant({ baseboardSerial: 'B2', cpu: 'C2', machineId: 'M2' });
    expect(matchFingerprint(bound, current, { type: 'atLeast', count: 3 }).match).toBe(true);
    expect(matchFingerprint(bound, current, { type: 'atLeast', count: 4 }).match).toBe(false);
    expect(matchFingerprint(bound, current, { type: 'most' }).match).toBe(false); // 3 of 6
    expect(matchFingerprint(bound, variant({ cpu: 'C2', machineId: 'M2' }), { type: 'most' }).match).toBe(true);
    expect(matchFingerprint(bound, variant({ cpu: 'C2' }), { type: 'all' }).match).toBe(false);
  });

  it('refuses a rule it does not know', () => {
    expect(matchFingerprint(bound, bound, { type: 'fuzzy' } as unknown as MatchRule).match).toBe(false);
  });
});

describe('matchRuleSchema / describeMatchRule', () => {
  it('accepts the four rules and rejects anything else', () => {
    for (const rule of [{ type: 'all' }, { type: 'allButOne' }, { type: 'atLeast', count: 2 }, { type: 'most' }]) {
      expect(matchRuleSchema.parse(rule)).toEqual(rule);
    }
    for (const bad of [
      { type: 'atLeast' },
      { type: 'atLeast', count: 0 },
      { type: 'atLeast', count: 1.5 },
      { type: 'x' },
      null,
    ]) {
      expect(matchRuleSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });

  it('describes rules for people', () => {
    expect(describeMatchRule({ type: 'atLeast', count: 1 })).toBe('at least 1 hardware component must match');
    expect(describeMatchRule({ type: 'atLeast', count: 3 })).toBe('at least 3 hardware components must match');
    expect(describeMatchRule(DEFAULT_MATCH_RULE)).toMatch(/all .* but one/);
  });
});
