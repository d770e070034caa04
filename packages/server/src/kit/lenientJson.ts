/**
 * A JSON reader for what the marketplace's Kit interfaces really send. The published examples carry lists
 * as JSON strings whose keys are not quoted (`"[{orgCode:\"00000001\", orgName:\"产品部\"}]"`) and bodies
 * with a trailing comma (`… "timeStamp": "20220413093539534" , }`). Strict JSON is tried first; only when
 * it fails does this small recursive-descent parser accept exactly three extensions:
 *   - object keys written as bare words (`[A-Za-z_$][A-Za-z0-9_$-]*`),
 *   - single-quoted strings,
 *   - one trailing comma before `}` or `]`.
 * Everything else (comments, NaN, hex numbers, unbalanced brackets, garbage after the value) is refused, so
 * a truly malformed payload still gets `000002`.
 */

export class LenientJsonError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} at position ${position}`);
    this.name = 'LenientJsonError';
  }
}

/** Nesting deeper than this is not organisation data; refusing it keeps the recursion bounded. */
const MAX_DEPTH = 64;

export function parseLenientJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return new Reader(text).document();
  }
}

const isWs = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\uFEFF';
const BARE_START = /[A-Za-z_$]/;
const BARE_PART = /[A-Za-z0-9_$-]/;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const ESCAPES: Record<string, string> = {
  '"': '"',
  "'": "'",
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

class Reader {
  private i = 0;

  constructor(private readonly s: string) {}

  document(): unknown {
    const v = this.value(0);
    this.ws();
    if (this.i !== this.s.length) this.fail('Unexpected text after the JSON value');
    return v;
  }

  private fail(message: string): never {
    throw new LenientJsonError(message, this.i);
  }

  private ws(): void {
    while (this.i < this.s.length && isWs(this.s[this.i]!)) this.i++;
  }

  private value(depth: number): unknown {
    if (depth > MAX_DEPTH) this.fail(`Nested deeper than ${MAX_DEPTH} levels`);
    this.ws();
    const c = this.s[this.i];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"' || c === "'") return this.string();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (this.s.startsWith(word, this.i)) {
        this.i += word.length;
        return v;
      }
    }
    return this.fail(c === undefined ? 'Unexpected end of input' : `Unexpected character ${JSON.stringify(c)}`);
  }

  private object(depth: number): Record<string, unknown> {
    this.i++; // {
    // Entries, then fromEntries: own data properties only, so a key named __proto__ cannot touch the prototype.
    const entries: [string, unknown][] = [];
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return {};
    }
    for (;;) {
      this.ws();
      const key = this.key();
      this.ws();
      if (this.s[this.i] !== ':') this.fail('Expected ":" after an object key');
      this.i++;
      entries.push([key, this.value(depth + 1)]);
      this.ws();
      const c = this.s[this.i];
      if (c === '}') {
        this.i++;
        return Object.fromEntries(entries);
      }
      if (c !== ',') this.fail('Expected "," or "}" in an object');
      this.i++;
      this.ws();
      if (this.s[this.i] === '}') {
        this.i++;
        return Object.fromEntries(entries);
      }
    }
  }

  private key(): string {
    const c = this.s[this.i];
    if (c === '"' || c === "'") return this.string();
    if (c === undefined || !BARE_START.test(c)) this.fail('Expected an object key');
    const start = this.i;
    while (this.i < this.s.length && BARE_PART.test(this.s[this.i]!)) this.i++;
    return this.s.slice(start, this.i);
  }

  private array(depth: number): unknown[] {
    this.i++; // [
    const out: unknown[] = [];
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.i];
      if (c === ']') {
        this.i++;
        return out;
      }
      if (c !== ',') this.fail('Expected "," or "]" in an array');
      this.i++;
      this.ws();
      if (this.s[this.i] === ']') {
        this.i++;
        return out;
      }
    }
  }

  private string(): string {
    const quote = this.s[this.i]!;
    this.i++;
    let out = '';
    let start = this.i;
    while (this.i < this.s.length) {
      const c = this.s[this.i]!;
      if (c === quote) {
        out += this.s.slice(start, this.i);
        this.i++;
        return out;
      }
      if (c < ' ') this.fail('Control character inside a string');
      if (c === '\\') {
        out += this.s.slice(start, this.i);
        const e = this.s[this.i + 1];
        if (e === 'u') {
          const hex = this.s.slice(this.i + 2, this.i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('Invalid \\u escape');
          out += String.fromCharCode(Number.parseInt(hex, 16));
          this.i += 6;
        } else if (e !== undefined && ESCAPES[e] !== undefined) {
          out += ESCAPES[e];
          this.i += 2;
        } else {
          this.fail('Invalid escape sequence');
        }
        start = this.i;
        continue;
      }
      this.i++;
    }
    return this.fail('Unterminated string');
  }

  private number(): number {
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(this.s);
    if (!m) return this.fail('Invalid number');
    const next = this.s[this.i + m[0].length];
    if (next !== undefined && next >= '0' && next <= '9') {
      this.fail('Invalid number: leading zeros are not allowed (quote codes such as "00000001")');
    }
    this.i += m[0].length;
    return Number(m[0]);
  }
}
