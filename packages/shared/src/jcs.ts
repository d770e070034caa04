import { LicensorError } from './errors';

/**
 * RFC 8785 JSON Canonicalization Scheme: the one byte sequence every signer and verifier derives from a
 * value. Object keys are sorted by UTF-16 code units (JavaScript's default string order), numbers use the
 * ECMAScript serialisation (which `JSON.stringify` implements for finite numbers, -0 included), strings use
 * the minimal JSON escaping (again what `JSON.stringify` emits for well-formed strings).
 *
 * Departures from plain `JSON.stringify` are deliberate: anything that would be silently dropped, coerced or
 * make the output ambiguous (NaN, Infinity, BigInt, functions, symbols, Map/Set, cycles, lone surrogates,
 * `undefined` in arrays) throws INVALID_INPUT instead. `undefined` object members are omitted, so optional
 * properties may be present-but-undefined. `toJSON()` is honoured (e.g. Date → ISO string).
 */
export function canonicalize(value: unknown): string {
  return serialize(value, new Set(), '$');
}

// Matches lone surrogates only: with the `u` flag a valid pair is one code point, not a `Cs` character.
const LONE_SURROGATE = /\p{Cs}/u;

function fail(path: string, reason: string): never {
  throw new LicensorError('INVALID_INPUT', `Cannot canonicalize ${path}: ${reason}`, { path });
}

function serializeString(s: string, path: string): string {
  // I-JSON (which RFC 8785 requires) forbids lone surrogates; they have no UTF-8 encoding.
  if (LONE_SURROGATE.test(s)) fail(path, 'string contains a lone surrogate');
  return JSON.stringify(s);
}

function serialize(value: unknown, ancestors: Set<object>, path: string): string {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON: () => unknown }).toJSON();
  }
  switch (typeof value) {
    case 'string':
      return serializeString(value, path);
    case 'number':
      if (!Number.isFinite(value)) fail(path, `${value} is not a JSON number`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      // undefined here means a top-level or array undefined: JSON has no such value.
      fail(path, `${typeof value} is not JSON`);
  }
  if (value === null) return 'null';
  if (value instanceof Map || value instanceof Set || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    fail(path, `${value.constructor.name} is not JSON`);
  }
  // Only the current path counts as a cycle; a shared sub-object (a DAG) is fine.
  if (ancestors.has(value)) fail(path, 'cyclic structure');
  ancestors.add(value);
  let out: string;
  if (Array.isArray(value)) {
    out = `[${value.map((item, i) => serialize(item, ancestors, `${path}[${i}]`)).join(',')}]`;
  } else {
    const record = value as Record<string, unknown>;
    const parts: string[] = [];
    for (const key of Object.keys(record).sort()) {
      const member = record[key];
      if (member === undefined) continue;
      const memberPath = `${path}.${key}`;
      parts.push(`${serializeString(key, memberPath)}:${serialize(member, ancestors, memberPath)}`);
    }
    out = `{${parts.join(',')}}`;
  }
  ancestors.delete(value);
  return out;
}
