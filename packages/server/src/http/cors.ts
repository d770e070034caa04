import type { IncomingMessage, ServerResponse } from 'node:http';
import { LicensorError } from '@licensor/shared';
import type { NextFunction, Request, Response } from 'express';
import vary from 'vary';

/**
 * CORS for browser-based tools (an operator dashboard on another origin). Off by default: without
 * LICENSOR_CORS_ORIGINS no response carries Access-Control-* headers, so browsers keep every other site out.
 * With it, only the listed origins (exact scheme://host[:port] matches) are allowed; there is no wildcard,
 * because the admin API takes bearer tokens and a `*` would hand them to any page an operator visits.
 */

/** Request headers a browser client may send: admin bearer tokens, JSON bodies, the activation API's nonce/signature. */
const ALLOWED_HEADERS = 'Authorization, Content-Type, Licensor-Nonce, Licensor-Device-Signature';
/** Response headers a browser client may read (signed activation-API answers, rate-limit hints). */
const EXPOSED_HEADERS = 'Licensor-Signature, Body-Sign, RateLimit, RateLimit-Policy, Retry-After';
const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, DELETE';
const PREFLIGHT_MAX_AGE_S = 600;

/** Normalises one configured origin, or throws CONFIG_INVALID naming it (checked once, at start-up). */
export function normalizeOrigin(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new LicensorError(
      'CONFIG_INVALID',
      `LICENSOR_CORS_ORIGINS: "${value}" is not an origin; list origins like https://admin.example.com, comma-separated`,
    );
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.pathname !== '/' || url.search || url.hash) {
    throw new LicensorError(
      'CONFIG_INVALID',
      `LICENSOR_CORS_ORIGINS: "${value}" must be scheme://host[:port] only (no path, query or wildcard)`,
    );
  }
  return url.origin;
}

/**
 * The CORS policy for the configured origins on plain Node requests (the activation API runs without
 * Express). Sets the headers an allowed origin gets; returns true when it answered a preflight itself.
 */
export function corsPolicy(
  origins: readonly string[],
): ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined {
  const allowed = new Set(origins.filter((o) => o.trim() !== '').map((o) => normalizeOrigin(o.trim())));
  if (allowed.size === 0) return undefined;
  return (req, res) => {
    // Caches must not serve an answer made for one origin to another.
    vary(res, 'Origin');
    const origin = req.headers.origin;
    if (typeof origin !== 'string' || !allowed.has(origin)) return false;
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS);
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method']) {
      res.setHeader('Access-Control-Allow-Methods', ALLOWED_METHODS);
      res.setHeader('Access-Control-Allow-Headers', ALLOWED_HEADERS);
      res.setHeader('Access-Control-Max-Age', String(PREFLIGHT_MAX_AGE_S));
      res.statusCode = 204;
      res.end();
      return true;
    }
    return false;
  };
}

/** The same policy as Express middleware (admin API, production interface, health and metrics). */
export function cors(origins: readonly string[]) {
  const policy = corsPolicy(origins);
  return (req: Request, res: Response, next: NextFunction) => {
    if (!policy?.(req, res)) next();
  };
}
