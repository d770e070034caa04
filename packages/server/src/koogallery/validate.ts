import { z } from 'zod';
import { type Answer, fail, RESULT } from './resultCodes';
import { parseCompactTime, parseSpacedTime } from './time';

/** Validates a request's parameters; on failure returns the `000002` answer naming the first bad field. */
export function validate<T extends z.ZodTypeAny>(schema: T, input: unknown): { data: z.infer<T> } | { answer: Answer } {
  const r = schema.safeParse(input);
  if (r.success) return { data: r.data };
  const issue = r.error.issues[0]!;
  const field = issue.path.join('.') || 'body';
  const missing = issue.code === 'invalid_type' && (issue as { input?: unknown }).input === undefined;
  return {
    answer: fail(
      RESULT.invalidParam,
      missing ? `Missing parameter: ${field}` : `Invalid parameter ${field}: ${issue.message}`,
    ),
  };
}

export const str = (max: number) => z.string().trim().min(1, 'must not be empty').max(max, `at most ${max} characters`);
export const optStr = (max: number) => z.string().max(max, `at most ${max} characters`).optional();

/** `yyyyMMddHHmmss` (or with milliseconds), a real calendar time. */
export const compactTime = z
  .string()
  .refine((v) => parseCompactTime(v) !== null, 'expected a UTC time as yyyyMMddHHmmss')
  .transform((v) => parseCompactTime(v)!);

/** `yyyy-MM-dd HH:mm:ss z` (getLicenseAsync), or the compact form. */
export const spacedTime = z
  .string()
  .refine((v) => parseSpacedTime(v) !== null, 'expected a UTC time as yyyy-MM-dd HH:mm:ss z')
  .transform((v) => parseSpacedTime(v)!);

/** testFlag arrives as "1"/"0" strings, numbers, or not at all. */
export const testFlag = z
  .union([z.string().max(2), z.number()])
  .optional()
  .transform((v) => v !== undefined && String(v) === '1');

/** Integers that arrive as query-string text (family A) or as JSON numbers. */
export const intLike = z
  .union([z.number().int(), z.string().regex(/^\d{1,9}$/, 'expected an integer')])
  .transform(Number);
