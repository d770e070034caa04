import { LicensorError } from '@licensor/shared';

/**
 * The opaque keyset cursor of every paged list (admin listings, webhook deliveries): the sort-key values of a
 * page's last row, as base64url JSON. Here, below the features, so any of them can page the same way.
 */
export const encodeCursor = (values: unknown[]): string => Buffer.from(JSON.stringify(values)).toString('base64url');

export function decodeCursor(cursor: string, arity: number): (string | number)[] {
  try {
    const values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (
      Array.isArray(values) &&
      values.length === arity &&
      // A U+0000 is in no value PostgreSQL can hold: only a forged cursor has one (refused alike on SQLite).
      values.every((v) => (typeof v === 'string' && !v.includes('\u0000')) || typeof v === 'number')
    ) {
      return values as (string | number)[];
    }
  } catch {
    // falls through to the error below
  }
  throw new LicensorError('INVALID_INPUT', 'Invalid cursor: pass the nextCursor value of the previous page unchanged', {
    problems: [{ field: 'cursor', message: 'not a cursor issued by this API' }],
  });
}
