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
export const bit = (v: unknown) => v === 1 || v === true;
export const parseJson = (v: unknown): unknown => {
  if (typeof v !== 'string') return v ?? null;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
};
