import { LicensorError } from '@licensor/shared';
import type { NextFunction, Request, Response } from 'express';

/**
 * U+0000 (NUL) at the edge. PostgreSQL's text cannot hold the character: a request carrying one used to be stored or
 * looked up on SQLite and refused by the database on PostgreSQL (a 400 that names no field, or a Kit 000005). No field
 * of any interface needs it, so every surface refuses it before the database sees it, alike on both backends.
 */

/**
 * The first field (its path) whose text holds U+0000, in a parsed request. `raw`, when given, is the JSON text:
 * without a `\u0000` escape in it (JSON cannot hold the character itself) there is nothing to look for. `root`
 * names the value itself (a string, or an object with such a key).
 */
export function fieldWithNul(value: unknown, raw?: Buffer, root = 'body'): string | undefined {
  if (raw && !raw.includes('\\u0000')) return undefined;
  // Iterative, depth first: JSON.parse accepts nesting far deeper than a recursive walk's stack (a 40 kB body of
  // nested arrays made it throw RangeError, a 500).
  const stack: [unknown, string][] = [[value, '']];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [v, path] = next;
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return path || root;
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    const entries = Object.entries(v);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [k, item] = entries[i]!;
      if (k.includes('\u0000')) return path || root;
      stack.push([item, path ? `${path}.${k}` : k]);
    }
  }
  return undefined;
}

const NUL_ESCAPE = Symbol('licensor.nulEscape');
type Marked = Request & { [NUL_ESCAPE]?: true };

/**
 * Remembers whether a JSON body's text holds a `\u0000` escape: express.json's `verify` hook (or called by a
 * router that reads the bytes itself). Only such a body is walked by refuseNul.
 */
export function markNulEscape(req: object, _res: unknown, raw: Buffer, encoding?: string): void {
  // The bytes before decoding: only in UTF-8 (or without a charset) is the escape these ASCII bytes; a body in
  // another charset body-parser accepts (utf-16le…) is always walked.
  const utf8 = !encoding || /^utf-?8$/i.test(encoding);
  if (!utf8 || raw.includes('\\u0000')) (req as Marked)[NUL_ESCAPE] = true;
}

/** What every surface says of a field holding U+0000. */
export const NUL_REFUSED = 'must not contain the character U+0000';

/** The marketplace interfaces' 000002 message for it (the production interface and the Kit). */
export const nulParameterMessage = (field: string): string => `Invalid parameter ${field}: ${NUL_REFUSED}`;

const refusal = (what: string, field: string) => {
  const message = NUL_REFUSED;
  return new LicensorError('INVALID_INPUT', `Invalid ${what}: ${field}: ${message}`, {
    problems: [{ field, message }],
  });
};

/**
 * Refuses a request whose URL path, query string or JSON body holds U+0000 with 400 INVALID_INPUT naming the field.
 * Mounted after the body parser (with markNulEscape); an ordinary request costs one search of its URL for `%00`
 * (the only spelling of the character in a URL: Node refuses the raw byte) and nothing for its body.
 */
export function refuseNul(req: Request, _res: Response, next: NextFunction): void {
  const url = req.originalUrl;
  if (url.includes('%00')) {
    const q = url.indexOf('?');
    if ((q === -1 ? url : url.slice(0, q)).includes('%00')) {
      next(refusal('URL', 'path'));
      return;
    }
    const field = fieldWithNul(req.query, undefined, 'query');
    if (field !== undefined) {
      next(refusal('query', field));
      return;
    }
  }
  const field = (req as Marked)[NUL_ESCAPE] ? fieldWithNul(req.body) : undefined;
  next(field === undefined ? undefined : refusal('request', field));
}
