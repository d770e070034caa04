import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applicationMenuTemplate,
  appProtocolHandler,
  CONTENT_SECURITY_POLICY,
  CSP_META,
  denyAllPermissions,
  developerPolicy,
  hardenWebContents,
  isAllowedRequestUrl,
  isTrustedSender,
  resolveAppPath,
  serveApp,
} from './security';

const ELECTRON = join(dirname(fileURLToPath(import.meta.url)), '..');
let root: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'licensor-electron-sec-'));
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>x</title>');
  writeFileSync(join(root, 'renderer.js'), 'void 0;');
  mkdirSync(join(root, 'app'));
  writeFileSync(join(root, 'app', 'index.html'), '<!doctype html>');
  writeFileSync(join(root, 'secret.txt'), 'not served');
  writeFileSync(join(dirname(root), 'outside.html'), 'outside');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('content security policy', () => {
  it('is the same in the header and in the meta tag of every page (plus frame-ancestors, header-only)', () => {
    for (const page of ['renderer/index.html', 'app/index.html']) {
      const html = readFileSync(join(ELECTRON, page), 'utf8');
      const meta = /http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(html)?.[1];
      expect(meta, page).toBe(CSP_META);
    }
    expect(CONTENT_SECURITY_POLICY).toBe(`${CSP_META}; frame-ancestors 'none'`);
  });

  it('allows no inline or remote script, no network from the page', () => {
    expect(CONTENT_SECURITY_POLICY).toContain("default-src 'none'");
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).toContain("connect-src 'none'");
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/);
  });

  it('pages load no inline script or style (the policy would block them)', () => {
    for (const page of ['renderer/index.html', 'app/index.html']) {
      const html = readFileSync(join(ELECTRON, page), 'utf8');
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(html).not.toMatch(/\sstyle="|<style|\son[a-z]+="/);
    }
  });
});

describe('app:// protocol', () => {
  it('maps our host to files under the root', () => {
    expect(resolveAppPath(root, 'app://licensor/index.html')).toBe(join(root, 'index.html'));
    expect(resolveAppPath(root, 'app://licensor/')).toBe(join(root, 'index.html'));
    expect(resolveAppPath(root, 'app://licensor/app/index.html?x=1#y')).toBe(join(root, 'app', 'index.html'));
  });

  it('never leaves the root: URL dot segments are clamped at the root, encoded ones refused', async () => {
    // WHATWG URL parsing resolves ../ against the root first, so these name root/outside.html (absent).
    for (const url of ['app://licensor/../outside.html', 'app://licensor/%2e%2e/outside.html']) {
      expect(resolveAppPath(root, url)).toBe(join(root, 'outside.html'));
      expect((await serveApp(root, { url })).status).toBe(404);
    }
  });

  it.each([
    'app://licensor/app/%2e%2e%2f..%2foutside.html',
    'app://licensor/..%5Coutside.html',
    'app://licensor/index.html%00.js',
    'app://licensor/%E0%A4%A',
    'app://other/index.html',
    'file:///etc/passwd',
    'https://licensor/index.html',
    'app://licensor/secret.txt',
    'not a url',
  ])('refuses %s', (url) => {
    expect(resolveAppPath(root, url)).toBeNull();
  });

  it('serves files with the security headers and the right type; 404 and 405 otherwise', async () => {
    const ok = await serveApp(root, { url: 'app://licensor/renderer.js' });
    expect(ok.status).toBe(200);
    expect(ok.headers['Content-Type']).toBe('text/javascript; charset=utf-8');
    expect(ok.headers['Content-Security-Policy']).toBe(CONTENT_SECURITY_POLICY);
    expect(ok.headers['X-Content-Type-Options']).toBe('nosniff');
    expect(Buffer.from(ok.body as Uint8Array).toString()).toBe('void 0;');

    const missing = await serveApp(root, { url: 'app://licensor/nope.html' });
    expect(missing.status).toBe(404);
    expect(missing.headers['Content-Security-Policy']).toBe(CONTENT_SECURITY_POLICY);
    expect((await serveApp(root, { url: 'app://licensor/../outside.html' })).status).toBe(404);
    expect((await serveApp(root, { url: 'app://licensor/index.html', method: 'POST' })).status).toBe(405);
  });

  it('answers protocol.handle with a web Response', async () => {
    const res = await appProtocolHandler(root)({ url: 'app://licensor/index.html', method: 'GET' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(await res.text()).toContain('<title>x</title>');
  });
});

describe('IPC sender check', () => {
  const top = (url: string) => ({ url, parent: null });
  it('accepts our top-level pages', () => {
    expect(isTrustedSender(top('app://licensor/index.html'), 'license-page')).toBe(true);
    expect(isTrustedSender(top('app://licensor/index.html#x'), 'license-page')).toBe(true);
    expect(isTrustedSender(top('app://licensor/app/index.html'), 'any-page')).toBe(true);
  });

  it.each([
    ['a remote page', 'https://evil.example/index.html'],
    ['a file:// page', 'file:///tmp/index.html'],
    ['another app:// host', 'app://evil/index.html'],
    ['credentials in the URL', 'app://x@licensor/index.html'],
    ['a data: URL', 'data:text/html,<script>1</script>'],
    ['an unparsable URL', '::'],
  ])('refuses %s', (_what, url) => {
    expect(isTrustedSender(top(url), 'any-page')).toBe(false);
  });

  it('refuses sub-frames, destroyed frames, and the app page for license changes', () => {
    expect(
      isTrustedSender({ url: 'app://licensor/index.html', parent: top('app://licensor/index.html') }, 'any-page'),
    ).toBe(false);
    expect(isTrustedSender(null, 'any-page')).toBe(false);
    expect(isTrustedSender(top('app://licensor/app/index.html'), 'license-page')).toBe(false);
  });
});

describe('web contents and session rules', () => {
  function fakeContents() {
    const listeners = new Map<string, (event: { preventDefault(): void }, url: string) => void>();
    let openHandler: ((d: { url: string }) => { action: string }) | undefined;
    let closedDevTools = 0;
    return {
      contents: {
        id: 1,
        on(event: string, listener: (event: { preventDefault(): void }, url: string) => void) {
          listeners.set(event, listener);
          return this;
        },
        setWindowOpenHandler(h: (d: { url: string }) => { action: 'deny' } | { action: 'allow' }) {
          openHandler = h;
        },
        send() {},
        isDestroyed: () => false,
        closeDevTools: () => {
          closedDevTools++;
        },
      },
      closed: () => closedDevTools,
      fire(event: string, url = 'https://evil.example/') {
        let prevented = false;
        listeners.get(event)?.({ preventDefault: () => (prevented = true) }, url);
        return prevented;
      },
      open: (url: string) => openHandler?.({ url }),
    };
  }

  it('blocks navigation, redirects, webviews and new windows, and reports each', () => {
    const f = fakeContents();
    const blocked: string[] = [];
    hardenWebContents(f.contents, (what) => blocked.push(what));
    expect(f.fire('will-navigate')).toBe(true);
    expect(f.fire('will-navigate', 'app://licensor/index.html')).toBe(true);
    expect(f.fire('will-redirect')).toBe(true);
    expect(f.fire('will-attach-webview')).toBe(true);
    expect(f.open('https://evil.example/')).toEqual({ action: 'deny' });
    expect(blocked).toEqual(['navigation', 'navigation', 'redirect', 'webview', 'new-window']);
  });

  it('denies every permission request and check', () => {
    let request: ((c: unknown, p: string, cb: (granted: boolean) => void) => void) | null = null;
    let check: ((c: unknown, p: string) => boolean) | null = null;
    denyAllPermissions({
      setPermissionRequestHandler: (h) => {
        request = h;
      },
      setPermissionCheckHandler: (h) => {
        check = h;
      },
    });
    for (const permission of ['media', 'notifications', 'clipboard-read', 'openExternal', 'geolocation']) {
      let granted: boolean | undefined;
      request!({}, permission, (g) => {
        granted = g;
      });
      expect(granted, permission).toBe(false);
      expect(check!({}, permission)).toBe(false);
    }
  });

  it('closes developer tools that open in a packaged build, and leaves them in a development run', () => {
    for (const devTools of [false, true]) {
      const f = fakeContents();
      const blocked: string[] = [];
      hardenWebContents(f.contents, (what) => blocked.push(what), { devTools });
      f.fire('devtools-opened');
      expect(f.closed()).toBe(devTools ? 0 : 1);
      expect(blocked).toEqual(devTools ? [] : ['devtools']);
    }
    // Without a policy the secure default applies.
    const f = fakeContents();
    hardenWebContents(f.contents);
    f.fire('devtools-opened');
    expect(f.closed()).toBe(1);
  });

  it('allows devtools:// only in a development run, never in a packaged build', () => {
    const url = 'devtools://devtools/bundled/devtools_app.html';
    expect(isAllowedRequestUrl(url, developerPolicy(true))).toBe(false);
    expect(isAllowedRequestUrl(url)).toBe(false);
    expect(isAllowedRequestUrl(url, developerPolicy(false))).toBe(true);
    expect(isAllowedRequestUrl('app://licensor/index.html', developerPolicy(true))).toBe(true);
  });

  it('removes the application menu of a packaged build (macOS keeps only the app and Edit menus)', () => {
    const packaged = developerPolicy(true);
    expect(applicationMenuTemplate('win32', packaged)).toBeNull();
    expect(applicationMenuTemplate('linux', packaged)).toBeNull();
    expect(applicationMenuTemplate('darwin', packaged)).toEqual([{ role: 'appMenu' }, { role: 'editMenu' }]);
    expect(applicationMenuTemplate('linux', developerPolicy(false))).toBeUndefined();
  });

  it('lets renderers load only from app://licensor', () => {
    expect(isAllowedRequestUrl('app://licensor/renderer.js')).toBe(true);
    expect(isAllowedRequestUrl('https://license.example.com/api/v1/keys')).toBe(false);
    expect(isAllowedRequestUrl('http://127.0.0.1:8080/')).toBe(false);
    expect(isAllowedRequestUrl('ws://127.0.0.1/')).toBe(false);
    expect(isAllowedRequestUrl('file:///etc/passwd')).toBe(false);
    expect(isAllowedRequestUrl('app://licensor.evil/x.js')).toBe(false);
  });
});
