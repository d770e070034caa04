import fc from 'fast-check';
import { expect } from 'vitest';

/**
 * Hostile input for the fuzzers: the strings and JSON shapes that break parsers and validators — lone
 * surrogates, NUL, bidi overrides, CR/LF (header injection), path traversal, prototype keys, huge strings,
 * 10 000-level nesting, wrong types — mixed with ordinary random values.
 */

/**
 * Fast-check runs per property. The fuzzers belong to the full tier (`npm run test:full`, LICENSOR_FULL=1: 2000 runs);
 * `npm test` keeps a sample of every property (100 runs, a new seed each run, so the samples add up across runs): the
 * same generators and assertions at a twentieth of the cost.
 */
export const RUNS = process.env.LICENSOR_FULL ? 2000 : 100;

export const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\uD800', // lone high surrogate
  '\uDFFF', // lone low surrogate
  'x\uDBFF\uDBFFy',
  '\u202Eevil\u202C', // right-to-left override
  '\u200F\u061C', // RTL mark, Arabic letter mark
  '\uFEFFBOM',
  '\uFFFF\uFFFE',
  '😀👩‍👩‍👧‍👦',
  'Ω≈ç√∫˜µ≤≥÷',
  '表ポあA鷗ŒéＢ逍Üßªąñ丂㐀𠀀',
  '\r\nX-Injected: 1',
  'a\rb\nc',
  'foo\r\n\r\n<html>',
  '../../../../etc/passwd',
  '..\\..\\..\\windows\\win.ini',
  '%2e%2e%2f%2e%2e%2f',
  '/dev/null',
  'C:\\Windows\\System32',
  'file:///etc/shadow',
  '__proto__',
  'constructor',
  'prototype',
  "' OR '1'='1",
  '"; DROP TABLE entitlements; --',
  '<script>alert(1)</script>',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a Log4Shell-style payload, deliberately literal
  '${jndi:ldap://127.0.0.1/a}',
  '{{7*7}}',
  'NaN',
  'Infinity',
  '-0',
  '1e309',
  '99999999999999999999999999',
  '0x10',
  'null',
  'true',
  '[]',
  '{}',
  '20251301000000', // not a real date
  '2025-02-30 25:61:61 UTC',
  'PL' + 'A'.repeat(62),
  'LSR-00000-00000-00000-00000',
];

/** A long string (up to `max` characters) of one repeated nasty unit. */
const longString = (max: number) =>
  fc
    .tuple(
      fc.constantFrom('A', '\u0000', '\uD800', '😀', '\r\n', '../', '\\'),
      fc.integer({ min: Math.min(64, max), max }),
    )
    .map(([unit, n]) => unit.repeat(Math.ceil(n / unit.length)).slice(0, n));

export const hostileString = (maxLong = 20_000): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
    { weight: 3, arbitrary: fc.string({ maxLength: 80, unit: 'binary' }) },
    { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
    { weight: 1, arbitrary: longString(maxLong) },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.string({ maxLength: 10 }), fc.constantFrom(...NASTY_STRINGS)).map(([a, b]) => a + b),
    },
  );

/** Any JSON-ish value, including wrong types for every field. */
export const hostileValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileString(5000),
    fc.integer(),
    fc.double(),
    fc.constantFrom(0, -1, 1e21, Number.MAX_SAFE_INTEGER + 2, -0, 2 ** 31, true, false, null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(hostileString(200), tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** A copy of a valid object with a few fields replaced by hostile values, removed, or added. */
export function mutated(valid: Record<string, unknown>): fc.Arbitrary<Record<string, unknown>> {
  const keys = Object.keys(valid);
  return fc
    .array(
      fc.oneof(
        fc.record({ op: fc.constant('set' as const), key: fc.constantFrom(...keys), value: hostileValue }),
        fc.record({ op: fc.constant('delete' as const), key: fc.constantFrom(...keys) }),
        fc.record({
          op: fc.constant('add' as const),
          key: fc.oneof(hostileString(100), fc.constantFrom('__proto__', 'constructor', 'activity')),
          value: hostileValue,
        }),
      ),
      { minLength: 1, maxLength: 3 },
    )
    .map((edits) => {
      const out: Record<string, unknown> = JSON.parse(JSON.stringify(valid));
      for (const e of edits) {
        if (e.op === 'delete') delete out[e.key];
        // defineProperty so a "__proto__" key becomes an own property that JSON.stringify sends.
        else
          Object.defineProperty(out, e.key, { value: e.value, enumerable: true, writable: true, configurable: true });
      }
      return out;
    });
}

/** 10 000 levels of nesting, arrays or objects, as JSON text (what JSON.parse must survive). */
export const DEEP_ARRAY = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
export const DEEP_OBJECT = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;

/** Raw request bodies that are not JSON objects, or are JSON objects of the worst kinds. */
export const hostileBodyText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '',
    'null',
    '[]',
    '"string"',
    '42',
    '{',
    '{"a":}',
    '{"activity":"getLicense",}',
    "{'activity':'x'}",
    '\uFEFF{"activity":"newInstance"}',
    '{"__proto__":{"admin":true},"activity":"newInstance"}',
    '{"activity":"newInstance","activity":"releaseInstance"}',
    DEEP_ARRAY,
    DEEP_OBJECT,
    `{"activity":"newInstance","orderId":${DEEP_ARRAY}}`,
    `{"activity":"refreshLicenseCode","license":"${'A'.repeat(200_000)}"}`,
  ),
  fc.string({ maxLength: 300, unit: 'binary' }),
  fc.json({ maxDepth: 5 }),
  hostileValue.map((v) => JSON.stringify(v) ?? 'undefined'),
);

/** Times every hostile request: no answer may take longer than `limitMs`; counts and the slowest are reported. */
export function answerTimer(limitMs = 3000) {
  const stats = { tried: 0, slowest: 0 };
  const timed = async <T>(send: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const answer = await send();
    const ms = performance.now() - started;
    stats.slowest = Math.max(stats.slowest, ms);
    stats.tried++;
    expect(ms, 'answer took too long').toBeLessThan(limitMs);
    return answer;
  };
  return { stats, timed };
}
