import { describe, expect, it } from 'vitest';
import { LicensorError } from './errors';
import { canonicalize } from './jcs';

function fromHex(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

function expectInvalid(value: unknown): void {
  try {
    canonicalize(value);
  } catch (err) {
    expect(err).toBeInstanceOf(LicensorError);
    expect((err as LicensorError).code).toBe('INVALID_INPUT');
    return;
  }
  expect.unreachable('canonicalize should have thrown');
}

describe('canonicalize (RFC 8785)', () => {
  it('serialises the RFC 8785 §3.2.2 example', () => {
    const input = JSON.parse(
      '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],' +
        '"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}',
    );
    expect(canonicalize(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('sorts keys by UTF-16 code units (RFC 8785 §3.2.3 example)', () => {
    const input = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    // Compared as text: JSON.parse would re-order the integer-like key "1" first.
    expect(canonicalize(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it('serialises numbers as ECMAScript does (RFC 8785 Appendix B)', () => {
    const cases: [string, string][] = [
      ['0000000000000000', '0'],
      ['8000000000000000', '0'],
      ['0000000000000001', '5e-324'],
      ['8000000000000001', '-5e-324'],
      ['7fefffffffffffff', '1.7976931348623157e+308'],
      ['ffefffffffffffff', '-1.7976931348623157e+308'],
      ['4340000000000000', '9007199254740992'],
      ['c340000000000000', '-9007199254740992'],
      ['4430000000000000', '295147905179352830000'],
      ['44b52d02c7e14af5', '9.999999999999997e+22'],
      ['44b52d02c7e14af6', '1e+23'],
      ['44b52d02c7e14af7', '1.0000000000000001e+23'],
      ['444b1ae4d6e2ef4e', '999999999999999700000'],
      ['444b1ae4d6e2ef4f', '999999999999999900000'],
      ['444b1ae4d6e2ef50', '1e+21'],
      ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
      ['3eb0c6f7a0b5ed8d', '0.000001'],
      ['41b3de4355555553', '333333333.3333332'],
      ['41b3de4355555554', '333333333.33333325'],
      ['41b3de4355555555', '333333333.3333333'],
      ['41b3de4355555556', '333333333.3333334'],
      ['41b3de4355555557', '333333333.33333343'],
      ['becbf647612f3696', '-0.0000033333333333333333'],
      ['43143ff3c1cb0959', '1424953923781206.2'],
    ];
    for (const [hex, expected] of cases) expect(canonicalize(fromHex(hex))).toBe(expected);
    expect(canonicalize([1e21, 1e-7, -0, 1e-6, 100])).toBe('[1e+21,1e-7,0,0.000001,100]');
  });

  it('rejects non-finite numbers, as Appendix B requires', () => {
    expectInvalid(fromHex('7fffffffffffffff'));
    expectInvalid(fromHex('7ff0000000000000'));
    expectInvalid({ a: [Number.NEGATIVE_INFINITY] });
  });

  it('emits no whitespace, omits undefined members and nests deterministically', () => {
    expect(canonicalize({ b: [1, { d: true, c: null }], a: 'x', u: undefined })).toBe(
      '{"a":"x","b":[1,{"c":null,"d":true}]}',
    );
    expect(canonicalize({})).toBe('{}');
    expect(canonicalize([])).toBe('[]');
    expect(canonicalize('x')).toBe('"x"');
    expect(canonicalize(new Date(Date.UTC(2025, 0, 2)))).toBe('"2025-01-02T00:00:00.000Z"');
  });

  it('allows shared sub-objects but rejects cycles', () => {
    const shared = { k: 1 };
    expect(canonicalize({ a: shared, b: shared })).toBe('{"a":{"k":1},"b":{"k":1}}');
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = { back: cyclic };
    expectInvalid(cyclic);
    const arr: unknown[] = [];
    arr.push(arr);
    expectInvalid(arr);
  });

  it('rejects values JSON cannot represent faithfully', () => {
    expectInvalid(10n);
    expectInvalid({ f: () => 1 });
    expectInvalid({ s: Symbol('x') });
    expectInvalid(undefined);
    expectInvalid([1, undefined]);
    expectInvalid(new Map([['a', 1]]));
    expectInvalid(new Set([1]));
    expectInvalid(new Uint8Array(2));
    expectInvalid('\ud800');
    expectInvalid({ '\udc00x': 1 });
  });
});
