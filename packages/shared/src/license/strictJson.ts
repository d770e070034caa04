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
  path: string;
  /** The next string in this object is a key (true after '{' and ','). */
  expectKey: boolean;
  lastKey: string;
}

/** Scans syntactically valid JSON text and throws DuplicateKeyError at the first repeated key. */
function assertNoDuplicateKeys(text: string): void {
  const stack: Frame[] = [];
  const childPath = () => {
    const top = stack[stack.length - 1];
    if (!top) return '';
    return top.keys ? `${top.path}.${top.lastKey}` : `${top.path}[]`;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      for (i++; text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c /* \ */) i++;
      const top = stack[stack.length - 1];
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        if (top.keys.has(key)) throw new DuplicateKeyError(key, top.path);
        top.keys.add(key);
        top.lastKey = key;
        top.expectKey = false;
      }
    } else if (c === 0x7b /* { */) {
      stack.push({ keys: new Set(), path: childPath(), expectKey: true, lastKey: '' });
    } else if (c === 0x5b /* [ */) {
      stack.push({ keys: undefined, path: childPath(), expectKey: false, lastKey: '' });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top?.keys) top.expectKey = true;
    }
  }
}
