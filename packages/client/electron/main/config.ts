/**
 * Validation of licensor.config.ts: run by the build step (so a wrong value fails the build, not a user's
 * start-up) and again at start-up (so a hand-edited bundle fails closed with a clear message).
 */
import { z } from 'zod';

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

const serverUrl = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a URL; use e.g. https://license.example.com` });
    return;
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    ctx.addIssue({
      code: 'custom',
      message: `must use https:// (plain http is accepted only for localhost while developing); got ${url.protocol}//${url.host}`,
    });
  }
  if (url.username || url.password || url.search || url.hash) {
    ctx.addIssue({ code: 'custom', message: 'must not contain credentials, a query or a fragment' });
  }
});

export const shellConfigSchema = z
  .object({
    productId: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,64}$/, 'must be 1–64 letters, digits, dots, dashes, colons or underscores'),
    rootCertificatePath: z.string().min(1, 'must name your root certificate PEM file'),
    serverUrl,
    appName: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$/, 'must be 1–100 letters, digits, spaces, dots, dashes or underscores')
      .refine((s) => !s.includes('..'), 'must not contain ".."'),
    appEntry: z
      .string()
      .regex(/^app\/[A-Za-z0-9._/-]+\.html$/, 'must be an .html file inside the app/ folder, e.g. app/index.html')
      .refine((s) => !s.split('/').includes('..'), 'must not leave the app/ folder')
      .default('app/index.html'),
  })
  .strict();

export type ShellConfigInput = z.input<typeof shellConfigSchema>;
export type ShellConfig = z.output<typeof shellConfigSchema>;

/** Parses the config or throws one Error listing every problem with the field it concerns. */
export function parseShellConfig(input: unknown): ShellConfig {
  const parsed = shellConfigSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `  - ${i.path.join('.') || '(config)'}: ${i.message}`);
  throw new Error(`electron/licensor.config.ts is not valid:\n${problems.join('\n')}`);
}
