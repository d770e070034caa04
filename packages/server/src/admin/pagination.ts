import { LicensorError } from '@licensor/shared';
import { z } from 'zod';
import type { Storage } from '../db/storage';
import type { Row } from '../db/types';
import { decodeCursor, encodeCursor } from '../http/cursor';

/**
 * Listing over any table with filters, counts and two ways to page: an opaque keyset cursor (stable while
 * rows are being added, constant cost per page) and page numbers (what people type). Every dataset sorts
 * newest first on a unique key, so a cursor names exactly one position.
 */

export const MAX_LIMIT = 200;

/**
 * Lists count their matches up to this many and then say "10,000+" (totalCapped): an exact COUNT(*) per page
 * would walk a million-row table on every click. Page numbers reach only as far (OFFSET stays bounded);
 * beyond, the keyset cursor goes on at constant cost.
 */
export const COUNT_CAP = 10_000;

export interface Dataset<T> {
  /** Table name or parenthesised subquery with an alias. */
  from: string;
  /** Columns to select; must include every sort key. */
  select: string;
  /** Keyset columns, most significant first, all NOT NULL; the last one is unique. Sorted descending. */
  sort: string[];
  map(row: Row): T;
}

export interface Where {
  sql: string[];
  params: unknown[];
}

export const where = (): Where => ({ sql: [], params: [] });

export function add(w: Where, sql: string, ...params: unknown[]): Where {
  w.sql.push(sql);
  w.params.push(...params);
  return w;
}

export { likeAnywhere, textSearch } from '../db/textSearch';

const whereSql = (w: Where) => (w.sql.length ? `WHERE ${w.sql.map((s) => `(${s})`).join(' AND ')}` : '');

export const pageSchema = {
  limit: z.coerce.number().int().min(1).max(MAX_LIMIT).default(50),
  page: z.coerce.number().int().min(1).max(1_000_000).optional(),
  cursor: z.string().min(1).max(1000).optional(),
};

export interface PageInput {
  limit: number;
  page?: number | undefined;
  cursor?: string | undefined;
}

export interface Page<T> {
  items: T[];
  /** Rows matching the filters (test data excluded unless asked for), at most COUNT_CAP. */
  total: number;
  /** True when more than COUNT_CAP rows match: `total` is then a lower bound ("10,000+"). */
  totalCapped: boolean;
  limit: number;
  /** Pass as `cursor` to get the next page; null on the last page. */
  nextCursor: string | null;
  page?: number;
  pages?: number;
}

export { decodeCursor, encodeCursor } from '../http/cursor';

const keysetSql = (sort: string[]) => `(${sort.join(', ')}) < (${sort.map(() => '?').join(', ')})`;
const orderSql = (sort: string[]) => sort.map((c) => `${c} DESC`).join(', ');

export async function count(db: Storage, ds: Pick<Dataset<unknown>, 'from'>, w: Where): Promise<number> {
  return (await db.first<{ n: number }>(`SELECT COUNT(*) AS n FROM ${ds.from} ${whereSql(w)}`, w.params))?.n ?? 0;
}

/** The matches counted up to COUNT_CAP (+1 to know there are more): bounded work whatever the table's size. */
export async function cappedCount(
  db: Storage,
  ds: Pick<Dataset<unknown>, 'from'>,
  w: Where,
): Promise<{ total: number; capped: boolean }> {
  const n =
    (
      await db.first<{ n: number }>(
        `SELECT COUNT(*) AS n FROM (SELECT 1 FROM ${ds.from} ${whereSql(w)} LIMIT ?) AS c`,
        [...w.params, COUNT_CAP + 1],
      )
    )?.n ?? 0;
  return n > COUNT_CAP ? { total: COUNT_CAP, capped: true } : { total: n, capped: false };
}

export async function paginate<T>(db: Storage, ds: Dataset<T>, filters: Where, input: PageInput): Promise<Page<T>> {
  if (input.page !== undefined && input.cursor !== undefined) {
    throw new LicensorError('INVALID_INPUT', 'Use either page or cursor, not both', {
      problems: [{ field: 'cursor', message: 'cannot be combined with page' }],
    });
  }
  if (input.page !== undefined && (input.page - 1) * input.limit >= COUNT_CAP) {
    throw new LicensorError(
      'INVALID_INPUT',
      `Page numbers reach the first ${COUNT_CAP} rows; follow nextCursor (keyset paging) to go further, or narrow the filters`,
      {
        problems: [
          { field: 'page', message: `at most ${Math.ceil(COUNT_CAP / input.limit)} with limit ${input.limit}` },
        ],
      },
    );
  }
  const w: Where = { sql: [...filters.sql], params: [...filters.params] };
  if (input.cursor !== undefined) add(w, keysetSql(ds.sort), ...decodeCursor(input.cursor, ds.sort.length));
  const offset = input.page !== undefined ? (input.page - 1) * input.limit : 0;
  // One extra row tells whether another page exists without a second query.
  const rows = await db.all<Row>(
    `SELECT ${ds.select} FROM ${ds.from} ${whereSql(w)} ORDER BY ${orderSql(ds.sort)} LIMIT ? OFFSET ?`,
    [...w.params, input.limit + 1, offset],
  );
  const more = rows.length > input.limit;
  // A first page that holds every match is its own count (a rare search then scans its table once, not twice).
  const { total, capped } =
    input.cursor === undefined && offset === 0 && !more
      ? { total: rows.length, capped: false }
      : await cappedCount(db, ds, filters);
  const pageRows = more ? rows.slice(0, input.limit) : rows;
  const last = pageRows[pageRows.length - 1];
  const page: Page<T> = {
    items: pageRows.map((r) => ds.map(r)),
    total,
    totalCapped: capped,
    limit: input.limit,
    nextCursor: more && last ? encodeCursor(ds.sort.map((c) => last[sortKey(c)])) : null,
  };
  if (input.page !== undefined) {
    page.page = input.page;
    page.pages = Math.max(1, Math.ceil(total / input.limit));
  }
  return page;
}

/** `e.created_at` → `created_at`: the property name of a sort column in a result row. */
const sortKey = (column: string) => column.slice(column.lastIndexOf('.') + 1);

/**
 * Every matching row in chunks, newest first, by keyset: each chunk is its own short query, so a slow
 * reader of an export never holds the database (better-sqlite3 cannot run other statements while an
 * iterator is open on the same connection).
 */
export async function* chunks<T>(db: Storage, ds: Dataset<T>, filters: Where, chunkSize = 500): AsyncGenerator<T[]> {
  let after: unknown[] | undefined;
  for (;;) {
    const w: Where = { sql: [...filters.sql], params: [...filters.params] };
    if (after) add(w, keysetSql(ds.sort), ...after);
    const rows = await db.all<Row>(
      `SELECT ${ds.select} FROM ${ds.from} ${whereSql(w)} ORDER BY ${orderSql(ds.sort)} LIMIT ?`,
      [...w.params, chunkSize],
    );
    if (rows.length === 0) return;
    yield rows.map((r) => ds.map(r));
    if (rows.length < chunkSize) return;
    const last = rows[rows.length - 1]!;
    after = ds.sort.map((c) => last[sortKey(c)]);
  }
}
