import type { IncomingMessage, ServerResponse } from 'node:http';
import { LicensorError } from '@licensor/shared';
import helmet, { type HelmetOptions } from 'helmet';
import getRawBody from 'raw-body';

/**
 * Plain-Node building blocks for the activation API, which runs without Express: Express 5 spends about
 * 90 µs per request on this project's hardware before the first middleware runs — more than the SQLite work
 * of a check-in — and the activation API is the one endpoint family that serves every installed copy.
 */

/**
 * Helmet's headers as a fixed list, computed once by running helmet against a recording response: the
 * activation API sends exactly what the Express routes send, without running twelve middlewares per request.
 */
export function helmetHeaders(options: Readonly<HelmetOptions>): readonly (readonly [string, string])[] {
  const headers = new Map<string, string>();
  const recorder = {
    setHeader: (name: string, value: unknown) => headers.set(name, String(value)),
    removeHeader: (name: string) => headers.delete(name),
    getHeader: (name: string) => headers.get(name),
  };
  let done = false;
  helmet(options)({} as never, recorder as never, () => {
    done = true;
  });
  if (!done) throw new Error('helmet did not complete synchronously');
  return [...headers];
}

/** Whether a request carries a body (a length or a transfer encoding), like type-is's hasBody. */
const hasBody = (req: IncomingMessage) =>
  req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';

/**
 * The exact body bytes, at most `limit` of them (PAYLOAD_TOO_LARGE beyond, before reading when the length is
 * declared). Compressed bodies are refused: device signatures cover the bytes as sent.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  if (!hasBody(req)) return Buffer.alloc(0);
  const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding !== 'identity') {
    req.resume();
    throw new LicensorError(
      'INVALID_INPUT',
      `Content-Encoding ${encoding} is not accepted; send the body uncompressed`,
    );
  }
  try {
    return await getRawBody(req, { limit, length: req.headers['content-length'] });
  } catch (err) {
    req.resume(); // drain what is left so the connection stays usable
    if ((err as { type?: string }).type === 'entity.too.large') {
      throw new LicensorError('PAYLOAD_TOO_LARGE', `Request body too large (the limit is ${limit} bytes)`);
    }
    throw new LicensorError('INVALID_INPUT', 'Unreadable request body (length mismatch or aborted upload)');
  }
}

/** Sends a complete JSON answer (the caller has set any other headers). */
export function endJson(req: IncomingMessage, res: ServerResponse, status: number, text: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(req.method === 'HEAD' ? undefined : text);
}
