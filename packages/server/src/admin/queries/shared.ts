import { LicensorError } from '@licensor/shared';
import { z } from 'zod';
import { pageSchema } from '../pagination';

// Filter inputs and row helpers shared by the listings of every resource.

export const bool = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])])
  .transform((v) => v === true || v === 'true' || v === '1' || v === 'yes');

/** An ISO date (`2025-01-31`, UTC midnight) or date-time; normalised to the stored ISO form. */
export const instant = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()], { error: 'expected an ISO date or date-time' })
  .transform((s) => new Date(s).toISOString());

/** `a,b` or repeated `?x=a&x=b` → ['a','b'], each checked against the allowed values. */
export const listOf = <T extends readonly [string, ...string[]]>(values: T) =>
  z
    .union([z.string(), z.array(z.string())])
    .transform((v) =>
      (Array.isArray(v) ? v : [v])
        .flatMap((s) => s.split(','))
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(values)).min(1).max(values.length));

export const text = (max: number) => z.string().trim().min(1).max(max);

/** Paging and the test-data switch every listing takes. */
export const common = { ...pageSchema, includeTest: bool.default(false) };

/** Export = the listing's filters without paging, plus the output format. */
export const exportOptions = {
  format: z.enum(['csv', 'json']).default('json'),
  bom: bool.default(false),
};
/** A JSON column as stored text, parsed; text that is not JSON comes back as it is. */
export const parseJson = (v: unknown): unknown => {
  if (typeof v !== 'string') return v ?? null;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
};

const isOneOf = <T extends string>(values: readonly T[], v: unknown): v is T =>
  (values as readonly unknown[]).includes(v);

const describe = (v: unknown) =>
  v === null ? 'null' : v === undefined ? 'missing' : `${typeof v} ${JSON.stringify(v)?.slice(0, 40)}`;

/**
 * Typed access to the columns of one database row, checked instead of cast: a column of an unexpected type
 * (a schema drift, a hand-edited database) is an INTERNAL error naming the resource and column, never a
 * silently wrong value in an operator's listing or export.
 */
export function columns(resource: string, row: object) {
  const r = row as Record<string, unknown>;
  const malformed = (column: string, expected: string): never => {
    throw new LicensorError(
      'INTERNAL',
      `Malformed ${resource} row in the database: column ${column} is ${describe(r[column])}, expected ${expected}`,
    );
  };
  const absent = (column: string) => r[column] === null || r[column] === undefined;
  const string = (column: string): string => {
    const v = r[column];
    return typeof v === 'string' ? v : malformed(column, 'text');
  };
  const number = (column: string): number => {
    const v = r[column];
    return typeof v === 'number' && Number.isFinite(v) ? v : malformed(column, 'a number');
  };
  const flag = (column: string): boolean => {
    const v = r[column];
    if (v === 1 || v === true) return true;
    if (v === 0 || v === false) return false;
    return malformed(column, '0 or 1');
  };
  return {
    string,
    number,
    flag,
    stringOrNull: (column: string): string | null => (absent(column) ? null : string(column)),
    numberOrNull: (column: string): number | null => (absent(column) ? null : number(column)),
    /** For computed flags that SQL's three-valued logic can leave NULL (NULL means "no"). */
    flagOrFalse: (column: string): boolean => (absent(column) ? false : flag(column)),
    oneOf: <T extends string>(column: string, values: readonly T[]): T => {
      const v = r[column];
      return isOneOf(values, v) ? v : malformed(column, `one of ${values.join(', ')}`);
    },
    /** A JSON text column (see parseJson); empty or NULL is null. */
    json: (column: string): unknown => (r[column] ? parseJson(r[column]) : null),
    /** A JSON text column whose NULL is kept as null (audit before/after/detail). */
    jsonOrNull: (column: string): unknown => parseJson(r[column]),
  };
}
