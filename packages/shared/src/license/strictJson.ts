/**
 * JSON.parse keeps the last of two equal keys, so `{"seats":1,"seats":999}` means different things to
 * different parsers (and to a person reading it). Signed artifacts must mean one thing: this parser refuses
 * any object, at any depth, that names a key twice — compared after unescaping, so `"a"` and `"\u0061"` are
 * the same key. JSON.parse checks the syntax first; the scan below then only has to track strings and nesting.
 */

export class DuplicateKeyError extends Error {
  constructor(
    readonly key: string,
    readonly path: string,
  ) {
    super(`The key "${key.slice(0, 64)}" appears twice in ${path || 'the top-level object'}`);
    this.name = 'DuplicateKeyError';
  }
}

/** JSON.parse, but throws DuplicateKeyError when an object repeats a key (SyntaxError for invalid JSON). */
export function parseJsonStrict(text: string): unknown {
  const value = JSON.parse(text);
  assertNoDuplicateKeys(text);
  return value;
}

interface Frame {
  keys: Set<string> | undefined; // undefined for arrays
  parent: Frame | undefined;
  /** How the parent reaches this value: its key, or undefined for an array element. */
  via: string | undefined;
  /** The next string in this object is a key (true after '{' and ','). */
  expectKey: boolean;
  lastKey: string;
}

/** ".a.b[]"-style path of a frame; built only for an error message, so the scan stays linear in depth. */
function pathOf(frame: Frame | undefined): string {
  const parts: string[] = [];
  for (let f = frame; f?.parent; f = f.parent) parts.push(f.via === undefined ? '[]' : `.${f.via}`);
  return parts.reverse().join('');
}

/** Scans syntactically valid JSON text and throws DuplicateKeyError at the first repeated key. */
function assertNoDuplicateKeys(text: string): void {
  let top: Frame | undefined;
  const open = (keys: Set<string> | undefined): Frame => ({
    keys,
    parent: top,
    via: top?.keys ? top.lastKey : undefined,
    expectKey: keys !== undefined,
    lastKey: '',
  });
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      for (i++; text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c /* \ */) i++;
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        if (top.keys.has(key)) throw new DuplicateKeyError(key, pathOf(top));
        top.keys.add(key);
        top.lastKey = key;
        top.expectKey = false;
      }
    } else if (c === 0x7b /* { */) {
      top = open(new Set());
    } else if (c === 0x5b /* [ */) {
      top = open(undefined);
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      top = top?.parent;
    } else if (c === 0x2c /* , */ && top?.keys) {
      top.expectKey = true;
    }
  }
}
