/**
 * What `zod` is in dist/status.bundle.cjs, the bundle `licensor-client status` starts with (scripts/build.mjs):
 * the same schema definitions, without loading zod. Loading zod and building the schemas of every module of the
 * CLI costs ≈ 80 M instructions of a ≈ 90 M bare `node` start, and parsing with them ≈ 40 M more (issue 15);
 * `status` reads two inputs (the state file, authenticated by this client, and the License file, signed by the
 * server), both nearly always valid.
 *
 * `z` here records how each schema is built (`z.object({…}).optional()` is a chain of property reads and calls)
 * and does nothing else until a schema parses. Then it answers in one of two ways:
 * - the fast path: a small interpreter of the part of zod these schemas use (types, lengths, patterns, optional,
 *   nullable, unions, refine); it only ever answers "valid, and this is the output", built as zod builds it (key
 *   order, unknown keys dropped, optional keys present only when given);
 * - otherwise — the input is invalid, the schema uses anything the interpreter does not know, or anything is in
 *   doubt (a string with surrogates, an object with an own `__proto__`…) — the recorded chain is replayed on the
 *   real zod (loaded then, `useRealZod`), which answers: the same result and the same error messages as before.
 * So a malformed or tampered input is refused by zod itself, exactly as in the full bundle, and a valid one gets
 * zod's output: zodLite.test.ts checks both on valid and mutated inputs of every schema `status` parses, and that
 * the valid inputs of `status` take the fast path. Everything other than `status` runs the full bundle with zod.
 */

const INVALID: unique symbol = Symbol('invalid');
type Checker = (value: unknown) => unknown;

/** What the fast path knows of a schema: how to check a value, and how an object treats its key. */
interface Lite {
  kind: 'string' | 'number' | 'array' | 'object' | 'literal' | 'other';
  run: Checker;
  /** A key an object may omit (`.optional()` outermost): absent keys stay absent in the output. */
  optional?: boolean;
  shape?: Record<string, Lite>;
  strict?: boolean;
  literal?: unknown;
}

interface Node {
  parent: Node | undefined;
  /** A property read on the parent (`z.string`, `schema.optional`), or … */
  prop?: string;
  /** … a call of the parent with these arguments. */
  args?: unknown[];
  real?: unknown;
  lite?: Lite | null;
}

type RealZod = object;
let loadReal: (() => RealZod) | undefined;

/**
 * A replay on the real zod that could not run. It says nothing about the input, so it must never be read as
 * "invalid input" by a catch-all `catch {}` (that would drop a signed FROZEN verdict and answer VALID): the status
 * bundle's `main` checks `replayFailure()` after the command and fails the start whatever the catches did.
 */
export class ZodReplayError extends Error {
  override name = 'ZodReplayError';
}
let failure: ZodReplayError | undefined;
/** The first replay that could not run in this process, if any. */
export const replayFailure = (): ZodReplayError | undefined => failure;

/** How to load the real zod when an input leaves the fast path (the status bundle: compiles the zod it carries). */
export function useRealZod(load: () => RealZod): void {
  loadReal = load;
  ROOT.real = undefined;
  ISO.real = undefined;
}

/**
 * A recorded schema. Plain objects with the builder methods on their prototype, not a Proxy: recording every
 * schema of the bundle's modules is on the start's path (a Proxy per property read cost ≈ 5 % of it).
 */
class Recorded {
  readonly node: Node;
  constructor(node: Node) {
    this.node = node;
  }
  safeParse(input: unknown): unknown {
    return parse(this.node, 'safeParse', input);
  }
  parse(input: unknown): unknown {
    return parse(this.node, 'parse', input);
  }
}

const call = (parent: Node, prop: string, args: unknown[]) => new Recorded({ parent: { parent, prop }, args });

/**
 * zod's schema methods (what `schema.<name>(…)` records). A name missing here fails when the bundle loads
 * (zodLite.test.ts loads it); one the fast path does not know only sends that schema's inputs to zod.
 */
const METHODS = `optional nullable nullish min max length regex int positive nonnegative negative nonpositive gt gte lt
  lte finite multipleOf refine superRefine check overwrite transform pipe default prefault catch strict strip passthrough
  loose catchall extend merge pick omit partial required keyof describe meta brand readonly array or and nonempty trim
  toLowerCase toUpperCase startsWith endsWith includes uuid url email`.split(/\s+/);
for (const name of METHODS) {
  Object.defineProperty(Recorded.prototype, name, {
    value(this: Recorded, ...args: unknown[]) {
      return call(this.node, name, args);
    },
  });
}

/**
 * The end of the prototype chain of a recorded schema and of `z`: reading anything zod has and the recorder does not
 * (`schema.shape`, `schema.options`, `z.NEVER`, a method missing from METHODS…) throws when the module builds its
 * schemas, instead of answering undefined and silently building another schema. Only reads that miss every own and
 * recorded property get here, so the builder calls on the start's path never meet the Proxy.
 */
function refuseUnknown(what: string): object {
  return new Proxy(Object.prototype, {
    get(target, prop, receiver) {
      // Symbols and Object.prototype's own (toString, constructor…) as usual; `then` absent: not a promise.
      if (typeof prop === 'symbol' || prop in target || prop === 'then') return Reflect.get(target, prop, receiver);
      throw new Error(`zodLite: ${what}.${prop} is not recorded (src/zodLite.ts knows no such zod property or method)`);
    },
  });
}
Object.setPrototypeOf(Recorded.prototype, refuseUnknown('schema'));

/** zod's builders (`z.<name>(…)`, `z.iso.<name>(…)`), recorded the same way. */
const BUILDERS = `string number boolean bigint date symbol undefined null any unknown never void literal enum nativeEnum
  object strictObject looseObject array tuple record partialRecord map set union discriminatedUnion intersection lazy
  custom instanceof preprocess int email url uuid config`.split(/\s+/);
const ROOT: Node = { parent: undefined };
const ISO: Node = { parent: ROOT, prop: 'iso' };
const namespace = (owner: Node, names: string[]) =>
  Object.fromEntries(names.map((name) => [name, (...args: unknown[]) => call(owner, name, args)]));

/** The recording `z`: every schema module of the status bundle builds its schemas with it. */
export const z = Object.setPrototypeOf(
  {
    ...namespace(ROOT, BUILDERS),
    iso: Object.setPrototypeOf(namespace(ISO, ['datetime', 'date', 'time', 'duration']), refuseUnknown('z.iso')),
  },
  refuseUnknown('z'),
) as Record<(typeof BUILDERS)[number], (...args: unknown[]) => Recorded> & {
  iso: Record<string, (...args: unknown[]) => Recorded>;
};

const isPlain = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;

/** The recorded chain, replayed on the real zod (once per node, so shared children stay shared). */
function real(node: Node): unknown {
  if (node.real !== undefined) return node.real;
  let value: unknown;
  if (!node.parent) {
    if (!loadReal) throw new Error('zodLite: the real zod was never provided (useRealZod)');
    value = loadReal();
  } else if (node.prop !== undefined) {
    const owner = real(node.parent) as Record<string, unknown>;
    const v = owner[node.prop];
    value = typeof v === 'function' ? v.bind(owner) : v;
  } else {
    value = (real(node.parent) as (...a: unknown[]) => unknown)(...(node.args ?? []).map(toReal));
  }
  node.real = value;
  return value;
}

function toReal(arg: unknown): unknown {
  if (arg instanceof Recorded) return real(arg.node);
  if (Array.isArray(arg)) return arg.map(toReal);
  if (isPlain(arg)) return Object.fromEntries(Object.entries(arg).map(([k, v]) => [k, toReal(v)]));
  return arg;
}

function parse(node: Node, method: 'safeParse' | 'parse', input: unknown): unknown {
  const lite = liteOf(node);
  if (lite) {
    try {
      const out = lite.run(input);
      if (out !== INVALID) return method === 'parse' ? out : { success: true, data: out };
    } catch {
      // A refine that threw, or anything unexpected: zod decides, and throws again if that is the answer.
    }
  }
  let check: (i: unknown) => unknown;
  try {
    const schema = real(node) as Partial<Record<typeof method, (i: unknown) => unknown>> | null | undefined;
    const fn = schema?.[method];
    // Anything but a zod schema here would throw a TypeError outside this try, which a caller could take for
    // "invalid input": it is a replay that cannot run, like any other.
    if (typeof fn !== 'function') throw new TypeError(`the replayed schema has no ${method}()`);
    check = fn.bind(schema);
  } catch (cause) {
    failure ??= new ZodReplayError(`zodLite: the real zod could not check an input (${String(cause)})`, { cause });
    throw failure;
  }
  return check(input);
}

function liteOf(node: Node): Lite | null {
  if (node.lite === undefined) node.lite = build(node);
  return node.lite;
}

const childOf = (arg: unknown): Lite | null => (arg instanceof Recorded ? liteOf(arg.node) : null);

/** zod counts a string's length in code points; the fast path leaves strings with surrogates to zod. */
const SURROGATE = /[\uD800-\uDFFF]/;
const lengthOf = (v: string | unknown[]) => (typeof v === 'string' && SURROGATE.test(v) ? undefined : v.length);

/**
 * zod's `z.iso.datetime()` pattern (zod/v4/core/regexes.js, `datetime({})`: no offset, not local, any precision);
 * zodLite.test.ts checks it is the very pattern zod builds.
 */
export const ISO_DATETIME =
  /^(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|(?:02)-(?:0[1-9]|1\d|2[0-8])))T(?:(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z))$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** An object of this shape: zod's output (shape order, unknown keys dropped; strict: unknown keys refused). */
function objectLite(shape: Record<string, Lite>, strict: boolean): Lite {
  const entries = Object.entries(shape);
  return {
    kind: 'object',
    shape,
    strict,
    run: (v) => {
      if (!isObject(v)) return INVALID;
      if (strict) for (const k in v) if (!Object.hasOwn(shape, k)) return INVALID;
      const out: Record<string, unknown> = {};
      for (const [key, child] of entries) {
        if (!(key in v)) {
          if (child.optional) continue;
          return INVALID; // required and absent (zod refuses, or knows better: z.unknown())
        }
        const r = child.run(v[key]);
        if (r === INVALID) return INVALID;
        out[key] = r;
      }
      return out;
    },
  };
}

function shapeOf(arg: unknown): Record<string, Lite> | null {
  if (!isPlain(arg)) return null;
  const shape: Record<string, Lite> = {};
  for (const [k, v] of Object.entries(arg)) {
    const child = childOf(v);
    if (!child) return null;
    shape[k] = child;
  }
  return shape;
}

/**
 * Whether the arguments past the schema's own `arity` are at most one params object that only words the error
 * (`'…'`, `{ message }`, `{ error }`; `path` too for a refine). Anything else (`{ catchall }`, `{ coerce }`, a
 * `when`…) could change what zod accepts or outputs: that schema leaves the fast path.
 */
function wordsOnly(args: unknown[], arity: number, extra?: string): boolean {
  if (args.length > arity + 1) return false;
  const p = args[arity];
  return (
    p === undefined ||
    typeof p === 'string' ||
    (isPlain(p) && Object.keys(p).every((k) => k === 'message' || k === 'error' || k === extra))
  );
}

/** How many schema arguments each builder the fast path knows takes before its params. */
const BUILDER_ARITY: Record<string, number> = {
  string: 0,
  number: 0,
  boolean: 0,
  unknown: 0,
  literal: 1,
  enum: 1,
  object: 1,
  strictObject: 1,
  array: 1,
  record: 2,
  union: 1,
  discriminatedUnion: 2,
};
/** The same for the methods. */
const METHOD_ARITY: Record<string, number> = {
  min: 1,
  max: 1,
  length: 1,
  regex: 1,
  int: 0,
  positive: 0,
  nonnegative: 0,
  optional: 0,
  nullable: 0,
  strict: 0,
  refine: 1,
};

/** `z.<name>(…args)`. */
function base(name: string, args: unknown[]): Lite | null {
  const [a, b] = args;
  const arity = BUILDER_ARITY[name];
  if (arity === undefined || !wordsOnly(args, arity)) return null;
  switch (name) {
    case 'string':
      return args.length <= 1 ? { kind: 'string', run: (v) => (typeof v === 'string' ? v : INVALID) } : null;
    case 'number':
      return args.length <= 1
        ? { kind: 'number', run: (v) => (typeof v === 'number' && Number.isFinite(v) ? v : INVALID) }
        : null;
    case 'boolean':
      return args.length <= 1 ? { kind: 'other', run: (v) => (typeof v === 'boolean' ? v : INVALID) } : null;
    case 'unknown':
      return args.length === 0 ? { kind: 'other', run: (v) => v } : null;
    case 'literal':
      if (!['string', 'number', 'boolean'].includes(typeof a) && a !== null) return null;
      return { kind: 'literal', literal: a, run: (v) => (v === a ? v : INVALID) };
    case 'enum': {
      if (!Array.isArray(a) || !a.every((x) => typeof x === 'string')) return null;
      const values = new Set<unknown>(a);
      return { kind: 'other', run: (v) => (values.has(v) ? v : INVALID) };
    }
    case 'object':
    case 'strictObject': {
      const shape = shapeOf(a);
      return shape ? objectLite(shape, name === 'strictObject') : null;
    }
    case 'array': {
      const item = childOf(a);
      if (!item || args.length > 2) return null;
      return {
        kind: 'array',
        run: (v) => {
          if (!Array.isArray(v)) return INVALID;
          const out = new Array(v.length);
          for (let i = 0; i < v.length; i++) {
            const r = item.run(v[i]);
            if (r === INVALID) return INVALID;
            out[i] = r;
          }
          return out;
        },
      };
    }
    case 'record': {
      const key = childOf(a);
      const value = childOf(b);
      if (!key || !value || key.kind !== 'string' || args.length > 3) return null;
      return {
        kind: 'other',
        run: (v) => {
          // Plain JSON objects only; anything zod might see differently (own __proto__ or constructor, symbols,
          // another prototype) is left to zod.
          if (!isPlain(v) || Object.hasOwn(v, '__proto__') || Object.hasOwn(v, 'constructor')) return INVALID;
          if (Object.getOwnPropertySymbols(v).length > 0) return INVALID;
          const out: Record<string, unknown> = {};
          // Enumerable keys only, as zod reads a record (a non-enumerable own key is neither checked nor output).
          for (const k of Object.keys(v)) {
            if (key.run(k) === INVALID) return INVALID;
            const r = value.run(v[k]);
            if (r === INVALID) return INVALID;
            out[k] = r;
          }
          return out;
        },
      };
    }
    case 'union': {
      if (!Array.isArray(a) || args.length > 2) return null;
      const options = a.map(childOf);
      if (options.some((o) => !o)) return null;
      return {
        kind: 'other',
        run: (v) => {
          for (const o of options as Lite[]) {
            const r = o.run(v);
            if (r !== INVALID) return r;
          }
          return INVALID;
        },
      };
    }
    case 'discriminatedUnion': {
      if (typeof a !== 'string' || !Array.isArray(b) || args.length > 3) return null;
      const options = b.map(childOf);
      const byTag = new Map<unknown, Lite>();
      for (const o of options) {
        const tag = o?.kind === 'object' ? o.shape?.[a] : undefined;
        if (!o || tag?.kind !== 'literal' || tag.optional || byTag.has(tag.literal)) return null;
        byTag.set(tag.literal, o);
      }
      return {
        kind: 'other',
        run: (v) => {
          if (!isObject(v)) return INVALID;
          const option = byTag.get(v[a]);
          return option ? option.run(v) : INVALID;
        },
      };
    }
    default:
      return null;
  }
}

/** `schema.<name>(…args)`: a check or a wrapper on a schema the fast path knows. */
function method(inner: Lite, name: string, args: unknown[]): Lite | null {
  const [a] = args;
  const arity = METHOD_ARITY[name];
  if (arity === undefined || !wordsOnly(args, arity, name === 'refine' ? 'path' : undefined)) return null;
  const check = (kinds: Lite['kind'][], ok: (v: never) => boolean): Lite | null =>
    kinds.includes(inner.kind)
      ? {
          kind: inner.kind,
          run: (v) => {
            const r = inner.run(v);
            return r === INVALID || !ok(r as never) ? INVALID : r;
          },
        }
      : null;
  const n = typeof a === 'number' ? a : undefined;
  switch (name) {
    case 'min':
      if (n === undefined) return null;
      return inner.kind === 'number'
        ? check(['number'], (v: number) => v >= n)
        : check(['string', 'array'], (v: string) => (lengthOf(v) ?? -1) >= n);
    case 'max':
      if (n === undefined) return null;
      return inner.kind === 'number'
        ? check(['number'], (v: number) => v <= n)
        : check(['string', 'array'], (v: string) => (lengthOf(v) ?? Number.POSITIVE_INFINITY) <= n);
    case 'length':
      return n === undefined ? null : check(['string', 'array'], (v: string) => lengthOf(v) === n);
    case 'regex':
      if (!(a instanceof RegExp)) return null;
      return check(['string'], (v: string) => {
        a.lastIndex = 0;
        return a.test(v);
      });
    case 'int':
      return check(['number'], (v: number) => Number.isSafeInteger(v));
    case 'positive':
      return check(['number'], (v: number) => v > 0);
    case 'nonnegative':
      return check(['number'], (v: number) => v >= 0);
    case 'optional':
      return args.length === 0
        ? { kind: 'other', optional: true, run: (v) => (v === undefined ? undefined : inner.run(v)) }
        : null;
    case 'nullable':
      return args.length === 0 ? { kind: 'other', run: (v) => (v === null ? null : inner.run(v)) } : null;
    case 'strict':
      return inner.kind === 'object' && args.length === 0 ? objectLite(inner.shape!, true) : null;
    case 'refine': {
      if (typeof a !== 'function') return null;
      return {
        kind: 'other',
        run: (v) => {
          const r = inner.run(v);
          if (r === INVALID) return INVALID;
          const ok = a(r);
          if (ok instanceof Promise) throw new Error('async refine'); // zod's business
          return ok ? r : INVALID;
        },
      };
    }
    default:
      return null;
  }
}

/** The fast path of a recorded schema, or null when it uses anything the interpreter does not know. */
function build(node: Node): Lite | null {
  const callee = node.parent;
  if (node.args === undefined || callee?.prop === undefined || !callee.parent) return null;
  const owner = callee.parent;
  if (!owner.parent) return base(callee.prop, node.args);
  if (owner.prop === 'iso' && owner.parent.parent === undefined && owner.args === undefined) {
    if (callee.prop !== 'datetime' || node.args.length > 0) return null;
    return { kind: 'string', run: (v) => (typeof v === 'string' && ISO_DATETIME.test(v) ? v : INVALID) };
  }
  const inner = liteOf(owner);
  return inner ? method(inner, callee.prop, node.args) : null;
}

/** For zodLite.test.ts: whether a (recorded) schema has a fast path, and what it answers alone. */
export function fastPath(schema: unknown): ((input: unknown) => { valid: boolean; output?: unknown }) | null {
  const lite = schema instanceof Recorded ? liteOf(schema.node) : null;
  if (!lite) return null;
  return (input) => {
    try {
      const out = lite.run(input);
      return out === INVALID ? { valid: false } : { valid: true, output: out };
    } catch {
      return { valid: false };
    }
  };
}
