/**
 * src/zodLite.ts against zod, on the very schema definitions: each module is imported twice, once with `zod` and once
 * with zodLite in its place (as dist/status.bundle.cjs builds it), and every exported schema must answer every input
 * the same way — success, output (key order included) and, for an invalid input, zod's own issues — on the valid
 * inputs of `status` and on random and mutated ones. The fast path alone must never accept what zod refuses, and must
 * accept the valid inputs of `status` (or `status` would silently load zod again).
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { decodeLicenseFile } from '@licensor/shared';
import { licenseFor, machine, PRODUCT, payloadFor, tempDir } from '@licensor/testkit/client';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as realZod from 'zod/v4';
import { loadCachedBundle } from './codeCache';
import * as zodLite from './zodLite';

type Parser = { safeParse(input: unknown): { success: boolean; data?: unknown; error?: { issues: unknown[] } } };
type Modules = Record<string, Record<string, unknown>>;

const MODULES = {
  shared: () => import('@licensor/shared'),
  store: () => import('./store'),
  fingerprint: () => import('../../shared/src/fingerprint/match'),
  license: () => import('../../shared/src/license/schema'),
  verdict: () => import('../../shared/src/license/verdict'),
  anchor: () => import('./anchor'),
  device: () => import('./fingerprint'), // the boot cache's schemas
};

async function load(withLite: boolean): Promise<Modules> {
  vi.resetModules();
  if (withLite) vi.doMock('zod', () => zodLite);
  else vi.doUnmock('zod');
  const out: Modules = {};
  for (const [name, importer] of Object.entries(MODULES)) out[name] = (await importer()) as Record<string, unknown>;
  return out;
}

const isSchema = (v: unknown): v is Parser =>
  v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as Parser).safeParse === 'function';

let lite: Modules;
let real: Modules;
type Pair = { name: string; lite: Parser; real: Parser };
const pairs: Pair[] = [];

beforeAll(async () => {
  zodLite.useRealZod(() => realZod);
  lite = await load(true);
  real = await load(false);
  vi.doUnmock('zod');
  for (const [mod, exports] of Object.entries(real)) {
    for (const [name, value] of Object.entries(exports)) {
      const twin = lite[mod]![name];
      if (isSchema(value) && name.endsWith('Schema')) {
        expect(isSchema(twin), `${mod}.${name} is recorded`).toBe(true);
        pairs.push({ name: `${mod}.${name}`, lite: twin as Parser, real: value });
      }
    }
  }
});
afterAll(() => vi.resetModules());

/**
 * Same answer from both: success, output (deep and in key order), or zod's issues. Called some 15,000 times: each
 * check is done first with plain comparisons (node's isDeepStrictEqual is at least as strict as toStrictEqual on
 * these plain values), and `expect` — about 50 µs a call, its message built each time — runs only on a difference,
 * to report it (and to decide it, where toStrictEqual is the looser of the two).
 */
function same(pair: Pair, input: unknown): boolean {
  const a = pair.lite.safeParse(input);
  const b = pair.real.safeParse(input);
  if (a.success !== b.success) expect(a.success, `${pair.name} on ${JSON.stringify(input)}`).toBe(b.success);
  if (b.success) {
    if (!isDeepStrictEqual(a.data, b.data)) expect(a.data).toStrictEqual(b.data);
    const output = JSON.stringify(b.data);
    if (JSON.stringify(a.data) !== output) expect(JSON.stringify(a.data)).toBe(output); // key order
    // The fast path alone: valid, with the same output.
    const fast = zodLite.fastPath(pair.lite);
    const answer = fast?.(input);
    if (answer?.valid && JSON.stringify(answer.output) !== output) expect(JSON.stringify(answer.output)).toBe(output);
  } else {
    if (!isDeepStrictEqual(a.error?.issues, b.error?.issues)) expect(a.error?.issues).toStrictEqual(b.error?.issues);
    if (zodLite.fastPath(pair.lite)?.(input).valid)
      expect.fail(`${pair.name}: fast path accepted what zod refuses: ${JSON.stringify(input)}`);
  }
  return b.success;
}

/** The valid inputs `status` parses: a License file's envelope and payload, a state body, their parts. */
function statusInputs(): Record<string, unknown[]> {
  const now = Date.UTC(2026, 0, 15, 12);
  const fp = machine();
  const hashed = Object.fromEntries(
    Object.entries(fp.components).map(([k, v]) => [k, Array.isArray(v) ? v : [v]]),
  ) as Record<string, string[]>;
  const texts = [licenseFor(hashed, { now }), licenseFor(undefined, { now, family: 'C', expiresAt: null })];
  const envelopes: unknown[] = texts.map((t) => decodeLicenseFile(t).envelope);
  const payloads: unknown[] = envelopes.map((e) =>
    JSON.parse(Buffer.from((e as { payload: string }).payload, 'base64url').toString('utf8')),
  );
  payloads.push({
    ...payloadFor({ now }),
    sku: 'pro',
    edition: 'Pro',
    entitlements: ['a', 'b'],
    features: { export: true, maxProjects: 20 },
    deviceKey: 'A'.repeat(43),
    test: true,
    fingerprint: { rule: { type: 'atLeast', count: 2 }, koogallery: 'K|G' },
  });
  const body = {
    v: 1,
    productId: PRODUCT,
    highWater: now,
    serverUrl: 'https://licensor.example',
    activationId: 'act-1',
    deviceLabel: 'laptop',
    codeHash: 'h',
    license: texts[0],
    device: { publicKey: 'M'.repeat(60), sealed: 'xyz', createdAt: now },
    checkInIntervalSeconds: 3600,
    lastCheckInAt: now,
    lastCheckInAttemptAt: now,
    verdict: { code: 'REVOKED', message: 'no', at: now },
    generation: 3,
    wrappedUnder: ['machineId', 'cpu'],
  };
  return {
    'license.licenseEnvelopeSchema': envelopes,
    'license.licensePayloadSchema': payloads,
    'store.stateBodySchema': [body, { v: 1, productId: PRODUCT, highWater: now }],
    'fingerprint.matchRuleSchema': [{ type: 'all' }, { type: 'atLeast', count: 3 }, { type: 'most' }],
    'store.envelopeSchema': [
      { v: 1, format: 'licensor-client-state', product: PRODUCT, keys: { machineId: 'k1', cpu: 'k2' }, body, mac: 'm' },
      { v: 1, format: 'licensor-client-state', product: PRODUCT, keys: {}, body: 'sealed', mac: 'm' },
    ],
    'anchor.anchorSchema': [
      { v: 1, generation: 3, highWater: now },
      { v: 1, generation: 0, highWater: 0 },
    ],
    'device.cacheFileSchema': [{ v: 2, payload: 'p'.repeat(100), mac: 'm' }],
    'device.cachePayloadSchema': [
      {
        boot: { id: 'b-1', bootTime: now },
        readings: {
          machineId: 'mid',
          hardwareUuid: 'uuid',
          baseboardSerial: 'bs',
          cpu: 'cpu',
          diskSerials: ['d1', 'd2'],
          macs: ['aa:bb'],
          virtualSignals: [],
        },
      },
      { boot: {}, readings: {} },
    ],
  };
}

/** Values at the edges of the schemas' checks (lengths, signs, integers, types, patterns). */
const EDGES: unknown[] = [
  ...[-1, -0.5, -0, 0, 0.5, 1, 1.5, 2, 4, 5, 2 ** 53, Number.MAX_SAFE_INTEGER, Number.NaN, Number.POSITIVE_INFINITY],
  ...[
    '',
    'x',
    'A'.repeat(22),
    'A'.repeat(43),
    'A'.repeat(44),
    'a+b/',
    'a_b-',
    'all',
    'atLeast',
    'active',
    'C',
    'EdDSA',
  ],
  ...['2025-01-01T00:00:00Z', '2025-01-01T00:00:00.5Z', '2025-13-01T00:00:00Z', '2025-01-01', '2025-01-01T00:00Z'],
  ...[null, true, false, [], [''], ['x', 'y'], Array(5).fill('QUJD'), {}, { type: 'all' }, undefined],
];

/** Every place of `value` (object key or array index), for the exhaustive edge replacements. */
function places(value: unknown, at: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => {
    const path = [...at, Array.isArray(value) ? Number(k) : k];
    return [path, ...places(v, path)];
  });
}

function replaced(value: unknown, path: (string | number)[], by: unknown, drop = false): unknown {
  const copy = structuredClone(value) as Record<string | number, unknown>;
  let holder = copy;
  for (const key of path.slice(0, -1)) holder = holder[key] as Record<string | number, unknown>;
  if (drop) delete holder[path.at(-1)!];
  else holder[path.at(-1)!] = by;
  return copy;
}

/** Edge values, and any JSON. */
const replacements = fc.oneof(
  fc.jsonValue(),
  fc.constantFrom(...EDGES),
  fc.double(),
  fc.integer(),
  fc.string({ maxLength: 3 }),
  fc.array(fc.string({ maxLength: 2 }), { maxLength: 5 }),
);

/** A copy of `value` with one change at a random place: a key dropped, added or retyped, a value replaced. */
const mutation = (value: unknown) =>
  fc
    .tuple(fc.nat(), fc.nat(), fc.constantFrom('drop', 'add', 'replace', 'undefined'), replacements, fc.string())
    .map(([at, which, kind, replacement, key]) => {
      const copy = structuredClone(value);
      const holders: Record<string, unknown>[] = [];
      const walk = (v: unknown) => {
        if (v !== null && typeof v === 'object') {
          holders.push(v as Record<string, unknown>);
          for (const child of Object.values(v)) walk(child);
        }
      };
      walk(copy);
      if (holders.length === 0) return replacement;
      const target = holders[at % holders.length]!;
      const keys = Object.keys(target);
      const k = keys.length > 0 ? keys[which % keys.length]! : key;
      // An array's `length` set to a random value throws (RangeError) or truncates: not an input, a test artefact.
      // The random key reaches an array through 'add', and through the other kinds when the array is empty.
      const arrayLength = (name: string) => Array.isArray(target) && name === 'length';
      if (kind === 'add') {
        if (!arrayLength(key)) target[key] = replacement;
      } else if (arrayLength(k)) return copy;
      else if (kind === 'drop') delete target[k];
      else if (kind === 'undefined') target[k] = undefined;
      else target[k] = replacement;
      return copy;
    });

/** Every place of every valid input of `status`, dropped and replaced by each edge value: how many, how many refused. */
function agreeOnEdges(among: Pair[]): { checked: number; refused: number } {
  let checked = 0;
  let refused = 0;
  for (const [name, inputs] of Object.entries(statusInputs())) {
    const pair = among.find((p) => p.name === name)!;
    for (const input of inputs) {
      for (const path of places(input)) {
        for (const changed of [replaced(input, path, undefined, true), ...EDGES.map((e) => replaced(input, path, e))]) {
          checked++;
          if (!same(pair, changed)) refused++;
        }
      }
    }
  }
  return { checked, refused };
}

/** `numRuns` random one-place mutations of each valid input of `status`. */
function agreeOnMutations(among: Pair[], numRuns: number): void {
  for (const [name, inputs] of Object.entries(statusInputs())) {
    const pair = among.find((p) => p.name === name)!;
    for (const input of inputs) {
      fc.assert(
        fc.property(mutation(input), (mutated) => {
          same(pair, mutated);
        }),
        { numRuns },
      );
    }
  }
}

/** `numRuns` random JSON values for every schema. */
function agreeOnRandomJson(among: Pair[], numRuns: number): void {
  for (const pair of among) {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        same(pair, value);
      }),
      { numRuns },
    );
  }
}

describe('zodLite (the status bundle’s zod) answers as zod does', () => {
  it('records every exported schema of the modules `status` loads', () => {
    expect(pairs.length).toBeGreaterThan(15);
    for (const name of Object.keys(statusInputs())) expect(pairs.map((p) => p.name)).toContain(name);
  });

  it('takes the fast path on the valid inputs of `status`, with zod’s output', () => {
    for (const [name, inputs] of Object.entries(statusInputs())) {
      const pair = pairs.find((p) => p.name === name)!;
      const fast = zodLite.fastPath(pair.lite);
      expect(fast, `${name} has a fast path`).not.toBeNull();
      for (const input of inputs) {
        expect(same(pair, input)).toBe(true);
        expect(fast!(input).valid, `${name} fast path on ${JSON.stringify(input)}`).toBe(true);
      }
    }
  });

  it('agrees with zod on mutated inputs of `status` (accept, refuse, output, issues)', () => {
    agreeOnMutations(pairs, 300);
  });

  it('agrees with zod on every place of the inputs of `status` replaced by an edge value, or dropped', () => {
    expect(agreeOnEdges(pairs).checked).toBeGreaterThan(4000);
  });

  it('agrees with zod on random JSON for every exported schema', () => {
    agreeOnRandomJson(pairs, 60);
  });

  it('leaves the edge cases to zod: surrogates, an own __proto__, a symbol key, a class instance, a throwing refine', () => {
    const payload = statusInputs()['license.licensePayloadSchema']![2] as Record<string, unknown>;
    const pair = pairs.find((p) => p.name === 'license.licensePayloadSchema')!;
    const cases: unknown[] = [
      { ...payload, lid: '\u{1F600}' },
      { ...payload, lid: '\uD800' },
      { ...payload, features: JSON.parse('{"__proto__": true, "a": 1}') },
      { ...payload, features: { [Symbol('s')]: true } },
      { ...payload, features: Object.assign(Object.create({ inherited: 1 }), { a: true }) },
      { ...payload, features: new (class Features {})() },
      { ...payload, issuedAt: '2024-02-29T00:00:00Z' },
      { ...payload, issuedAt: '2023-02-29T00:00:00Z' },
      { ...payload, issuedAt: '2024-01-01T00:00:00.123456Z' },
      { ...payload, issuedAt: '2024-01-01T00:00:00+01:00' },
      { ...payload, seats: 2 ** 53 },
      { ...payload, seats: -0 },
      Object.assign(Object.create({ v: 1 }), { ...payload, v: undefined }),
    ];
    for (const input of cases) same(pair, input);
  });

  it('uses the very pattern zod builds for z.iso.datetime()', () => {
    const schema = realZod.z.iso.datetime() as unknown as { _zod: { def: { pattern?: RegExp }; pattern?: RegExp } };
    const pattern = schema._zod.def.pattern ?? schema._zod.pattern;
    expect(pattern?.source).toBe(zodLite.ISO_DATETIME.source);
    expect(pattern?.flags).toBe(zodLite.ISO_DATETIME.flags);
  });

  it('loads zod only when an input leaves the fast path', () => {
    let loads = 0;
    zodLite.useRealZod(() => {
      loads++;
      return realZod;
    });
    try {
      const z = zodLite.z as unknown as typeof realZod.z; // what the schema modules see in the status bundle
      const fresh = z.object({ a: z.string().min(1) });
      expect(fresh.safeParse({ a: 'x', b: 2 })).toStrictEqual({ success: true, data: { a: 'x' } });
      expect(loads).toBe(0);
      expect(fresh.safeParse({ a: '' }).success).toBe(false);
      expect(loads).toBe(1);
    } finally {
      zodLite.useRealZod(() => realZod);
    }
  });

  it('a replay that cannot run is a ZodReplayError, remembered for `main`, never an answer', () => {
    const z = zodLite.z as unknown as typeof realZod.z;
    const schema = z.string().min(3);
    zodLite.useRealZod(() => {
      throw new Error('zod is gone');
    });
    try {
      expect(schema.safeParse('abcd')).toStrictEqual({ success: true, data: 'abcd' }); // fast path: zod not needed
      expect(zodLite.replayFailure()).toBeUndefined();
      expect(() => schema.safeParse('\u{1F600}')).toThrow(zodLite.ZodReplayError); // a surrogate pair: zod's call
      expect(zodLite.replayFailure()).toBeInstanceOf(zodLite.ZodReplayError);
    } finally {
      zodLite.useRealZod(() => realZod);
    }
  });

  it('a replay whose zod returns something that is not a schema is a ZodReplayError too, never a TypeError', () => {
    const z = zodLite.z as unknown as typeof realZod.z;
    const schema = z.string().min(3);
    // A zod whose builders answer, but whose last one returns an object without safeParse.
    zodLite.useRealZod(() => ({ string: () => ({ min: () => ({}) }) }));
    try {
      expect(() => schema.safeParse('\u{1F600}')).toThrow(zodLite.ZodReplayError);
      expect(zodLite.replayFailure()).toBeInstanceOf(zodLite.ZodReplayError);
    } finally {
      zodLite.useRealZod(() => realZod);
    }
  });

  it('refuses, at build, a zod property or method it does not record, and params that are not only words', () => {
    const z = zodLite.z as unknown as typeof realZod.z;
    const object = z.object({ a: z.string() });
    expect(() => object.shape).toThrow(/schema\.shape is not recorded/);
    expect(() => (z.union([z.string(), z.number()]) as unknown as { options: unknown }).options).toThrow(
      /schema\.options is not recorded/,
    );
    expect(() => (object as unknown as { nope(): unknown }).nope()).toThrow(/schema\.nope is not recorded/);
    expect(() => (z as unknown as { NEVER: unknown }).NEVER).toThrow(/z\.NEVER is not recorded/);
    expect(String(object)).toBe('[object Object]'); // Object.prototype still answers
    // Params that only word the error keep the fast path; anything else leaves it (zod decides).
    expect(zodLite.fastPath(z.string('words'))).not.toBeNull();
    expect(zodLite.fastPath(z.string().min(1, { message: 'm' }))).not.toBeNull();
    expect(zodLite.fastPath(z.object({ a: z.string() }, { error: 'e' }))).not.toBeNull();
    const params = { catchall: z.string() } as unknown as { error: string };
    expect(zodLite.fastPath(z.object({ a: z.string() }, params))).toBeNull();
    expect(zodLite.fastPath(z.string().min(1, { abort: true }))).toBeNull();
    expect(zodLite.fastPath(z.array(z.string(), { message: 'm' }).max(2, 'x'))).not.toBeNull();
    expect(zodLite.fastPath(z.number({ coerce: true } as unknown as string))).toBeNull();
  });

  it('reads a record as zod does: non-enumerable own keys neither checked nor output', () => {
    const z = zodLite.z as unknown as typeof realZod.z;
    const lite = z.record(z.string(), z.number());
    const real = realZod.z.record(realZod.z.string(), realZod.z.number());
    const input = Object.defineProperty({ a: 1 }, 'hidden', { value: 'not a number', enumerable: false });
    expect(zodLite.fastPath(lite)?.(input)).toStrictEqual({ valid: true, output: { a: 1 } });
    expect(lite.safeParse(input)).toStrictEqual(real.safeParse(input));
  });
});

/**
 * In dist/status.bundle.cjs the zod a replay runs on is carried as text and compiled only then (scripts/build.mjs,
 * buildRealZodModule): the schema modules, with zodLite, replayed on *that* zod must still answer exactly as the
 * zod of node_modules (the zod of the full bundle and of the tests above) on the inputs that leave the fast path.
 */
describe('zodLite replayed on the zod the status bundle carries as text', () => {
  const work = tempDir('licensor-zodlite-carried-');
  let carried: typeof realZod;
  const carriedPairs: Pair[] = [];

  beforeAll(async () => {
    const build = pathToFileURL(join(import.meta.dirname, '..', '..', '..', 'scripts', 'build.mjs')).href;
    const { ensureBuilt } = (await import(build)) as { ensureBuilt: (names: string[]) => Promise<string[]> };
    await ensureBuilt(['client']);
    const bundle = loadCachedBundle(join(import.meta.dirname, '..', 'dist', 'status.bundle.cjs'), {
      cacheDir: join(work.dir, 'code-cache'),
    }).exports as { realZod: () => typeof realZod };
    carried = bundle.realZod();
    // Fresh recordings (new schema nodes, nothing replayed yet), replayed on the carried zod.
    zodLite.useRealZod(() => carried);
    const liteOnCarried = await load(true);
    vi.doUnmock('zod');
    for (const { name, real: value } of pairs) {
      const [mod, exported] = name.split('.') as [string, string];
      carriedPairs.push({ name, lite: liteOnCarried[mod]![exported] as Parser, real: value });
    }
  }, 120_000);
  afterAll(() => {
    zodLite.useRealZod(() => realZod);
    work.cleanup();
  });

  it('is zod compiled from the bundle’s own text (not the zod of node_modules), configured as the full bundle', () => {
    expect(carried).not.toBe(realZod);
    expect(carried.z.string).not.toBe(realZod.z.string);
    expect(carried.config().jitless).toBe(true);
    const pattern = (carried.z.iso.datetime() as unknown as { _zod: { def: { pattern?: RegExp } } })._zod.def.pattern;
    expect(pattern?.source).toBe(zodLite.ISO_DATETIME.source);
  });

  it('gives zod’s exact answers and issues on every place of the inputs of `status` replaced or dropped', () => {
    // Most of them replayed, and refused with zod's issues.
    expect(agreeOnEdges(carriedPairs).refused).toBeGreaterThan(1000);
  });

  it('gives zod’s exact answers and issues on mutated inputs of `status` and on random JSON', () => {
    agreeOnMutations(carriedPairs, 100);
    agreeOnRandomJson(carriedPairs, 20);
  });
});
