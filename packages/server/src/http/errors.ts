import { LicensorError, toLicensorError } from '@licensor/shared';
import type { NextFunction, Request, Response } from 'express';
import type { z } from 'zod';
import type { Logger } from '../logger';

/** Parses input with a zod schema or throws INVALID_INPUT naming every bad field. */
export function parseInput<T extends z.ZodTypeAny>(schema: T, input: unknown, what = 'request'): z.infer<T> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => ({ field: i.path.join('.') || what, message: i.message }));
  throw new LicensorError(
    'INVALID_INPUT',
    `Invalid ${what}: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`,
    { problems },
  );
}

/** SQLite failures that mean "cannot write now" (disk full, read-only, I/O, locked): a retryable 503, not a 500. */
const STORAGE_FAILURE = /^SQLITE_(FULL|READONLY|IOERR|BUSY|LOCKED|CANTOPEN)/;

/** Maps anything a handler threw to the typed error the client sees (logging what the client must not see). */
export function toApiError(err: unknown, log: Logger): LicensorError {
  const status = (err as { status?: number; type?: string })?.status;
  if (err instanceof LicensorError) return err;
  if (status === 413) return new LicensorError('PAYLOAD_TOO_LARGE', 'Request body too large');
  // express.raw({ inflate: false }): signatures cover the bytes as sent, so compressed bodies are refused.
  if ((err as { type?: string }).type === 'encoding.unsupported') {
    const encoding = String((err as { encoding?: unknown }).encoding ?? 'unknown');
    return new LicensorError(
      'INVALID_INPUT',
      `Content-Encoding ${encoding} is not accepted; send the body uncompressed`,
    );
  }
  // Express's router fails to decode a route parameter such as `:id` with a URIError (status 400).
  if (err instanceof URIError && status === 400) {
    return new LicensorError('INVALID_INPUT', 'The id in the URL is not valid percent-encoding');
  }
  if (status === 400 && (err as { type?: string }).type === 'entity.parse.failed') {
    return new LicensorError('INVALID_INPUT', 'Request body is not valid JSON');
  }
  if (status && status >= 400 && status < 500) return new LicensorError('INVALID_INPUT', 'Unreadable request');
  if (STORAGE_FAILURE.test(String((err as { code?: unknown })?.code ?? ''))) {
    log.error({ err }, 'storage unavailable');
    return new LicensorError(
      'STORAGE_UNAVAILABLE',
      'The server cannot write to its database right now; nothing was changed, retry in a minute. ' +
        'Operators: check free disk space and permissions of the data folder.',
    );
  }
  log.error({ err }, 'unhandled error');
  return toLicensorError(err);
}

/** The JSON error shape of every API except the production interface: `{ error: { code, message, detail? } }`. */
export function errorHandler(log: Logger) {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = toApiError(err, log);
    if (res.headersSent) return;
    res.status(e.httpStatus).json({ error: e.toJSON() });
  };
}

/** Wraps an async route so rejections reach the error handler. */
export const route =
  (fn: (req: Request, res: Response) => unknown | Promise<unknown>) =>
  (req: Request, res: Response, next: NextFunction) => {
    Promise.resolve()
      .then(() => fn(req, res))
      .catch(next);
  };
