import { bodySignHeader } from '@licensor/shared';
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { type Answer, fail, RESULT } from './resultCodes';

/**
 * The marketplace's transport, shared by the production interface (produce.ts) and the Kit interfaces
 * (kit/router.ts): every answer is `{resultCode, resultMsg, …}` JSON whose exact bytes a Body-Sign header
 * covers; bodies are read raw (the signature covers the bytes, not a parse of them) under a size limit; a
 * method the path does not serve, an oversized or an unreadable body still get a signed answer, never
 * Express's HTML error.
 */

/** Sends the answer as the exact bytes that Body-Sign covers (no Body-Sign without a key). */
export function sendSigned(res: Response, key: string | undefined, answer: Answer, status = 200): string {
  const body = JSON.stringify(answer);
  res.status(status);
  res.setHeader('Content-Type', 'application/json;charset=UTF-8');
  res.setHeader('Cache-Control', 'no-store');
  if (key) res.setHeader('Body-Sign', bodySignHeader(key, body));
  res.end(body);
  return body;
}

/** The request body as the bytes that arrived (empty when there was none). */
export const rawBodyOf = (req: Request): Buffer => (Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));

export interface MarketplaceEndpoint {
  path: string;
  /** Largest accepted body, in bytes. */
  bodyLimit: number;
  get?: (req: Request, res: Response) => Promise<void>;
  post: (req: Request, res: Response) => Promise<void>;
  /** The key that signs answers no handler gave (another method, an unreadable or oversized body). */
  keyFor: (req: Request) => string | undefined;
  /** The 000002 message for a method the path does not serve. */
  unsupportedMethod: (method: string) => string;
  /** HTTP status of the answer to an oversized body. */
  tooLargeStatus: 200 | 413;
  /** Records the refused request (the message log). */
  onRefusedBody: (req: Request, answer: Answer) => void;
}

/** Mounts one marketplace path: its handlers, the signed answer to other methods and to unreadable bodies. */
export function mountMarketplaceEndpoint(router: Router, e: MarketplaceEndpoint): void {
  const rawBody: RequestHandler = express.raw({ type: () => true, limit: e.bodyLimit });
  if (e.get) router.get(e.path, e.get);
  router.post(e.path, rawBody, e.post);
  router.all(e.path, (req, res) => {
    sendSigned(res, e.keyFor(req), fail(RESULT.invalidParam, e.unsupportedMethod(req.method)));
  });
  // Body-parser failures on this path (oversized or unreadable bodies) still get a signed answer.
  router.use(e.path, (err: { status?: number }, req: Request, res: Response, _next: unknown) => {
    const tooLarge = err?.status === 413;
    const answer = fail(
      RESULT.invalidParam,
      tooLarge ? `Request body larger than ${e.bodyLimit} bytes` : 'Unreadable request body',
    );
    sendSigned(res, e.keyFor(req), answer, tooLarge ? e.tooLargeStatus : 200);
    e.onRefusedBody(req, answer);
  });
}
