import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LenientJsonError, parseLenientJson } from './lenientJson';

describe('parseLenientJson', () => {
  it('reads the published allOrgSync list: a JSON string whose keys are not quoted', () => {
    // The string value of orgInfoList in the v2 example (zh-cn_topic_0070649437), after JSON decoding.
    const inner =
      '[{orgCode:"00000001", orgName:"产品部", parentCode:"265789314" },{orgCode:"00000002", orgName:"测试部", parentCode:"265789314" }]';
    expect(parseLenientJson(inner)).toEqual([
      { orgCode: '00000001', orgName: '产品部', parentCode: '265789314' },
      { orgCode: '00000002', orgName: '测试部', parentCode: '265789314' },
    ]);
  });

  it('accepts a trailing comma, single quotes and bare keys with $, _ and -', () => {
    expect(parseLenientJson('{ "a": 1, "b": [1, 2,], }')).toEqual({ a: 1, b: [1, 2] });
    expect(parseLenientJson("{name:'O\\'Brien', $x_y-z: true, n: -1.5e2, z: null}")).toEqual({
      name: "O'Brien",
      '$x_y-z': true,
      n: -150,
      z: null,
    });
    expect(parseLenientJson('{"s":"\\u4e2d\\n\\t\\"\\\\\\/"}')).toEqual({ s: '中\n\t"\\/' });
  });

  it('keeps the last duplicate key, like JSON.parse, and never touches the prototype', () => {
    const v = parseLenientJson('{instanceId:"a", instanceId:"b", __proto__: {polluted: true},}') as Record<
      string,
      unknown
    >;
    expect(v.instanceId).toBe('b');
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.hasOwn(v, '__proto__')).toBe(true);
  });

  it('refuses what is really malformed, with a position', () => {
    for (const bad of [
      '',
      '{',
      '[1,,2]',
      '{,}',
      '{a:1 b:2}',
      '{"a":01}',
      '{a:NaN}',
      '{a:1} x',
      "{'a':'unterminated}",
      '{a:"bad \\x escape"}',
      '// comment\n{}',
      '{a:"line\nbreak"}',
      '[1,]]',
      '{1:2}',
    ]) {
      expect(() => parseLenientJson(bad), bad).toThrow(LenientJsonError);
    }
    expect(() => parseLenientJson('{a:}')).toThrow(/position 3/);
  });

  it('bounds nesting depth instead of overflowing the stack', () => {
    expect(() => parseLenientJson(`${'['.repeat(100)}1${']'.repeat(99)},]`)).toThrow(/deeper than 64/);
    expect(parseLenientJson(`${'['.repeat(60)}1${']'.repeat(59)},]`)).toBeDefined();
  });

  it('agrees with JSON.parse on every JSON document (lenient path forced by a trailing comma)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const text = JSON.stringify(v);
        expect(parseLenientJson(text)).toEqual(JSON.parse(text));
        if (text.endsWith('}') && text !== '{}') {
          // Force the slow path and compare again.
          expect(parseLenientJson(`${text.slice(0, -1)},}`)).toEqual(JSON.parse(text));
        }
      }),
      { numRuns: 300 },
    );
  });
});
