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
  const walk = (v: unknown, path: string): string | undefined => {
    if (typeof v === 'string') return v.includes('\u0000') ? path || root : undefined;
    if (v === null || typeof v !== 'object') return undefined;
    for (const [k, item] of Object.entries(v)) {
      const found = k.includes('\u0000') ? path || root : walk(item, path ? `${path}.${k}` : k);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return walk(value, '');
}

const NUL_ESCAPE = Symbol('licensor.nulEscape');
type Marked = Request & { [NUL_ESCAPE]?: true };

/**
 * Remembers whether a JSON body's text holds a `\u0000` escape: express.json's `verify` hook (or called by a
 * router that reads the bytes itself). Only such a body is walked by refuseNul.
 */
export function markNulEscape(req: object, _res: unknown, raw: Buffer): void {
  if (raw.includes('\\u0000')) (req as Marked)[NUL_ESCAPE] = true;
}

const refusal = (what: string, field: string) => {
  const message = 'must not contain the character U+0000';
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
