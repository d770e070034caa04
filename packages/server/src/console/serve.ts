import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import express, { type Router } from 'express';

export const CONSOLE_PATH = '/console';

/**
 * The console's own Content-Security-Policy: scripts, styles and API calls from this origin only (no inline
 * script, no third party), no framing, no plugins. The rest of the server keeps helmet's default-src 'none'.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** packages/console/dist, wherever this module was bundled to (the workspace dependency resolves it). */
export function consoleDist(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url).resolve('@licensor/console/package.json');
    const dist = join(dirname(pkg), 'dist');
    return existsSync(join(dist, 'index.html')) ? dist : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Serves the built console at /console: hashed assets (dist/assets/*-<hash>.*) cached for a year as
 * immutable, index.html never cached (it names the current hashes, each with its integrity attribute, added by
 * the console's build), every other /console/… path answered with index.html so a shared link to a page works.
 */
export function consoleRouter(dist: string | undefined = consoleDist()): Router {
  const router = express.Router();
  router.use((_req, res, next) => {
    res.setHeader('Content-Security-Policy', CONSOLE_CSP);
    res.setHeader('Referrer-Policy', 'no-referrer');
    next();
  });
  if (!dist) {
    router.use((_req, res) => {
      res
        .status(503)
        .type('text/plain')
        .send('The console is not built: run `npm run build` (or `npm start`, which builds it) and reload.\n');
    });
    return router;
  }
  router.use(
    '/assets',
    express.static(join(dist, 'assets'), {
      immutable: true,
      maxAge: '365d',
      index: false,
      fallthrough: false,
    }),
  );
  const index = readFileSync(join(dist, 'index.html'));
  router.get('/{*rest}', (_req, res) => {
    res.setHeader('Cache-Control', 'no-cache');
    res.type('html').send(index);
  });
  return router;
}
