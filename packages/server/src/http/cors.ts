import { LicensorError } from '@licensor/shared';
import type { NextFunction, Request, Response } from 'express';

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
const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE';
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
 * CORS middleware for the configured origins, on every route of the app: sets the headers an allowed origin
 * gets and answers its preflights (204); any other request goes on unchanged.
 */
export function cors(origins: readonly string[]) {
  const allowed = new Set(origins.filter((o) => o.trim() !== '').map((o) => normalizeOrigin(o.trim())));
  return (req: Request, res: Response, next: NextFunction) => {
    if (allowed.size === 0) return next();
    // Caches must not serve an answer made for one origin to another.
    res.vary('Origin');
    const origin = req.headers.origin;
    if (typeof origin !== 'string' || !allowed.has(origin)) return next();
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS);
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method']) {
      res.setHeader('Access-Control-Allow-Methods', ALLOWED_METHODS);
      res.setHeader('Access-Control-Allow-Headers', ALLOWED_HEADERS);
      res.setHeader('Access-Control-Max-Age', String(PREFLIGHT_MAX_AGE_S));
      res.status(204).end();
      return;
    }
    next();
  };
}
