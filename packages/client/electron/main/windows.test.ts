import { describe, expect, it } from 'vitest';
import type { BrowserWindowLike, BrowserWindowOptionsLike } from './electronTypes';
import { secureWebPreferences, WindowManager } from './windows';

class FakeWindow implements BrowserWindowLike {
  destroyed = false;
  loaded: string[] = [];
  sent: Array<[string, unknown]> = [];
  shown = 0;
  readonly handlers = new Map<string, () => void>();
  readonly contentEvents: string[] = [];
  windowOpenHandler: unknown;
  readonly webContents = {
    id: 1,
    on: (event: string) => {
      this.contentEvents.push(event);
      return this.webContents;
    },
    setWindowOpenHandler: (h: unknown) => {
      this.windowOpenHandler = h;
    },
    send: (channel: string, payload: unknown) => {
      this.sent.push([channel, payload]);
    },
    isDestroyed: () => this.destroyed,
    closeDevTools: () => undefined,
  };
  constructor(readonly options: BrowserWindowOptionsLike) {}
  async loadURL(url: string) {
    this.loaded.push(url);
  }
  show() {
    this.shown++;
  }
  focus() {}
  close() {
    this.destroyed = true;
    this.handlers.get('closed')?.();
  }
  isDestroyed() {
    return this.destroyed;
  }
  once(event: string, listener: () => void) {
    this.handlers.set(event, listener);
    return this;
  }
  on(event: string, listener: () => void) {
    this.handlers.set(event, listener);
    return this;
  }
}

function setup(devTools = false) {
  const created: FakeWindow[] = [];
  const wm = new WindowManager({
    createWindow: (o) => {
      const w = new FakeWindow(o);
      created.push(w);
      return w;
    },
    preloadPath: '/app/preload.cjs',
    appName: 'Demo',
    appEntry: 'app/index.html',
    developer: { devTools },
  });
  return { wm, created };
}

describe('windows', () => {
  it('creates every window sandboxed, context-isolated, without Node', () => {
    expect(secureWebPreferences('/p.cjs', { devTools: false })).toEqual({
      preload: '/p.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      spellcheck: false,
      navigateOnDragDrop: false,
      safeDialogs: true,
      devTools: false,
    });
  });

  it('gives windows developer tools only in a development run', async () => {
    for (const devTools of [false, true]) {
      const { wm, created } = setup(devTools);
      await wm.showLicense();
      await wm.showApp();
      expect(created.map((w) => w.options.webPreferences.devTools)).toEqual([devTools, devTools]);
      // Packaged: developer tools that open anyway are closed at once.
      expect(created[0]!.contentEvents.includes('devtools-opened')).toBe(!devTools);
    }
  });

  it('loads the license and app pages from app://licensor, hardened, shown when ready', async () => {
    const { wm, created } = setup();
    await wm.showLicense();
    await wm.showApp();
    expect(created.map((w) => w.loaded)).toEqual([['app://licensor/index.html'], ['app://licensor/app/index.html']]);
    for (const w of created) {
      expect(w.options.show).toBe(false);
      expect(w.options.webPreferences.preload).toBe('/app/preload.cjs');
      expect(w.contentEvents).toEqual(['will-navigate', 'will-redirect', 'will-attach-webview', 'devtools-opened']);
      expect(w.windowOpenHandler).toBeTypeOf('function');
      w.handlers.get('ready-to-show')!();
      expect(w.shown).toBe(1);
    }
  });

  it('keeps one window per kind, and forgets closed ones', async () => {
    const { wm, created } = setup();
    const a = await wm.showLicense();
    const b = await wm.showLicense();
    expect(a).toBe(b);
    expect(created).toHaveLength(1);
    expect(wm.isOpen('license')).toBe(true);
    wm.close('license');
    expect(wm.isOpen('license')).toBe(false);
    await wm.showLicense();
    expect(created).toHaveLength(2);
  });

  it('broadcasts status changes to open windows only', async () => {
    const { wm, created } = setup();
    await wm.showLicense();
    await wm.showApp();
    created[1]!.close();
    wm.broadcast('licensor:status-changed', { code: 'VALID' });
    expect(created[0]!.sent).toEqual([['licensor:status-changed', { code: 'VALID' }]]);
    expect(created[1]!.sent).toEqual([]);
  });
});
