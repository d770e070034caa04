/**
 * Security rules of the shell, each a small function so it can be tested without Electron:
 * - renderer content comes only from the `app://licensor/` protocol (files inside the app bundle), with a
 *   strict Content-Security-Policy header (the HTML carries the same policy in a meta tag);
 * - no navigation, no new windows, no <webview>, every permission request denied;
 * - every network request from a renderer is cancelled (licensing talks to the server from main, via Node);
 * - IPC senders must be our own top-level page;
 * - packaged builds offer no developer tools and no default application menu (its View menu reloads the page
 *   and opens the developer tools, which would hand the renderer's DOM and the preload API to anyone).
 */
import { readFile } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import type { FrameLike, MenuItemOptionsLike, PermissionSessionLike, WebContentsLike } from './electronTypes';

/** Developer affordances: on only when Electron runs the app unpackaged (`app.isPackaged` false). */
export interface DeveloperPolicy {
  devTools: boolean;
}

export function developerPolicy(packaged: boolean): DeveloperPolicy {
  return { devTools: !packaged };
}

/** The packaged shell's defaults: nothing for developers. */
const PRODUCTION: DeveloperPolicy = { devTools: false };

/**
 * The application menu to install: `undefined` keeps Electron's default menu (development only); `null` removes
 * it (Windows, Linux); macOS keeps a minimal menu of the application (About, Hide, Quit) and Edit roles, without
 * which Cmd+C/Cmd+V and Cmd+Q stop working, and neither of which offers reload or the developer tools.
 */
export function applicationMenuTemplate(
  platform: string,
  policy: DeveloperPolicy,
): MenuItemOptionsLike[] | null | undefined {
  if (policy.devTools) return undefined;
  return platform === 'darwin' ? [{ role: 'appMenu' }, { role: 'editMenu' }] : null;
}

export const APP_SCHEME = 'app';
export const APP_HOST = 'licensor';
export const RENDERER_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
/** The license window's page: the only page allowed to change the license. */
export const LICENSE_PAGE = '/index.html';

/**
 * No inline script or style, nothing remote, no plugins, no form posts. `connect-src 'none'`: the renderer
 * never talks to the network; main does. The HTML pages carry the same policy in a meta tag (a test compares
 * them); `frame-ancestors` works only as a header, so the header adds it.
 */
export const CSP_META = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'none'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');
export const CONTENT_SECURITY_POLICY = `${CSP_META}; frame-ancestors 'none'`;

/** Headers on every response of the app protocol. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

const MIME: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.woff2': 'font/woff2',
  '.json': 'application/json; charset=utf-8',
};

/**
 * Maps an app:// URL to a file under `root`, or null for anything else: another host, a path that leaves the
 * root after decoding (`..`, `%2e%2e`, encoded slashes, backslashes), a file type we do not serve.
 */
export function resolveAppPath(root: string, url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol !== `${APP_SCHEME}:` || parsed.host !== APP_HOST) return null;
  let path: string;
  try {
    path = decodeURIComponent(parsed.pathname);
  } catch {
    return null;
  }
  if (path.includes('\0') || path.includes('\\') || path.split('/').includes('..')) return null;
  if (path === '/' || path === '') path = LICENSE_PAGE;
  if (!(extname(path).toLowerCase() in MIME)) return null;
  const base = resolve(root);
  const file = resolve(base, `.${path}`);
  return file.startsWith(base + sep) ? file : null;
}

export interface AppResponse {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array | string;
}

/** Serves one request of the app protocol (GET/HEAD only). */
export async function serveApp(root: string, request: { url: string; method?: string }): Promise<AppResponse> {
  const headers = { ...SECURITY_HEADERS };
  const method = (request.method ?? 'GET').toUpperCase();
  if (method !== 'GET' && method !== 'HEAD') {
    return { status: 405, headers: { ...headers, 'Content-Type': 'text/plain' }, body: 'Method not allowed' };
  }
  const file = resolveAppPath(root, request.url);
  if (!file) return { status: 404, headers: { ...headers, 'Content-Type': 'text/plain' }, body: 'Not found' };
  try {
    const body = await readFile(file);
    return {
      status: 200,
      headers: { ...headers, 'Content-Type': MIME[extname(file).toLowerCase()]! },
      body: method === 'HEAD' ? '' : new Uint8Array(body),
    };
  } catch {
    return { status: 404, headers: { ...headers, 'Content-Type': 'text/plain' }, body: 'Not found' };
  }
}

/** A protocol.handle() handler: Electron expects a web Response. */
export function appProtocolHandler(root: string): (request: { url: string; method: string }) => Promise<Response> {
  return async (request) => {
    const r = await serveApp(root, request);
    return new Response(r.body as ConstructorParameters<typeof Response>[0], { status: r.status, headers: r.headers });
  };
}

/** Which pages may call a channel: the license page for changes, any of our pages for reading. */
export type SenderScope = 'license-page' | 'any-page';

/**
 * True when an IPC message comes from our own top-level page: an app://licensor URL (the license page itself
 * for 'license-page'), not a sub-frame (an injected iframe must not reach the API), not a destroyed frame.
 */
export function isTrustedSender(frame: FrameLike | null, scope: SenderScope): boolean {
  if (!frame || frame.parent !== null) return false;
  let url: URL;
  try {
    url = new URL(frame.url);
  } catch {
    return false;
  }
  if (url.protocol !== `${APP_SCHEME}:` || url.host !== APP_HOST) return false;
  if (url.username || url.password || url.port) return false;
  return scope === 'any-page' || url.pathname === LICENSE_PAGE || url.pathname === '/';
}

/**
 * Navigation, redirects, new windows and <webview> are refused for every renderer. Without developer tools,
 * developer tools that open anyway (a web contents created with other preferences) are closed at once.
 */
export function hardenWebContents(
  contents: WebContentsLike,
  onBlocked?: (what: string, url: string) => void,
  policy: DeveloperPolicy = PRODUCTION,
): void {
  contents.on('will-navigate', (event, url) => {
    event.preventDefault();
    onBlocked?.('navigation', url);
  });
  contents.on('will-redirect', (event, url) => {
    event.preventDefault();
    onBlocked?.('redirect', url);
  });
  contents.on('will-attach-webview', (event) => {
    event.preventDefault();
    onBlocked?.('webview', '');
  });
  contents.setWindowOpenHandler((details) => {
    onBlocked?.('new-window', details.url);
    return { action: 'deny' };
  });
  if (!policy.devTools) {
    contents.on('devtools-opened', () => {
      contents.closeDevTools();
      onBlocked?.('devtools', '');
    });
  }
}

/** The license UI needs no camera, notifications, clipboard-read or anything else. */
export function denyAllPermissions(session: PermissionSessionLike): void {
  session.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.setPermissionCheckHandler(() => false);
}

/**
 * For session.webRequest.onBeforeRequest: only our own protocol may load anything; the developer tools' own
 * pages (devtools://) only in a development run.
 */
export function isAllowedRequestUrl(url: string, policy: DeveloperPolicy = PRODUCTION): boolean {
  return url.startsWith(`${RENDERER_ORIGIN}/`) || (policy.devTools && url.startsWith('devtools://'));
}
