/**
 * Window management: at most one license window and one application window, both created with the same
 * locked-down web preferences and hardened web contents, both loading only app://licensor/ pages.
 */
import type {
  BrowserWindowLike,
  BrowserWindowOptionsLike,
  CreateBrowserWindow,
  WebPreferencesLike,
} from './electronTypes';
import { type DeveloperPolicy, hardenWebContents, LICENSE_PAGE, RENDERER_ORIGIN } from './security';

/** The preferences every window gets; a test pins each value. */
export function secureWebPreferences(preload: string, policy: DeveloperPolicy): WebPreferencesLike {
  return {
    preload,
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
    devTools: policy.devTools,
  };
}

export interface WindowManagerOptions {
  createWindow: CreateBrowserWindow;
  preloadPath: string;
  appName: string;
  /** Path of the application page under app://licensor/, e.g. `app/index.html`. */
  appEntry: string;
  /** Developer tools only in an unpackaged run (see developerPolicy). */
  developer: DeveloperPolicy;
  onBlocked?: (what: string, url: string) => void;
}

type Kind = 'license' | 'app';

export class WindowManager {
  readonly #o: WindowManagerOptions;
  readonly #windows = new Map<Kind, BrowserWindowLike>();

  constructor(opts: WindowManagerOptions) {
    this.#o = opts;
  }

  get licenseUrl(): string {
    return `${RENDERER_ORIGIN}${LICENSE_PAGE}`;
  }

  get appUrl(): string {
    return `${RENDERER_ORIGIN}/${this.#o.appEntry}`;
  }

  isOpen(kind: Kind): boolean {
    const w = this.#windows.get(kind);
    return w !== undefined && !w.isDestroyed();
  }

  /** Shows the license window (activation or status view), creating it if needed. */
  showLicense(): Promise<BrowserWindowLike> {
    return this.#show('license', {
      width: 560,
      height: 720,
      minWidth: 420,
      minHeight: 520,
      title: `${this.#o.appName} — License`,
    });
  }

  showApp(): Promise<BrowserWindowLike> {
    return this.#show('app', { width: 1024, height: 720, minWidth: 640, minHeight: 480, title: this.#o.appName });
  }

  close(kind: Kind): void {
    const w = this.#windows.get(kind);
    this.#windows.delete(kind);
    if (w && !w.isDestroyed()) w.close();
  }

  /** Sends a message to every open window (status changes). */
  broadcast(channel: string, payload: unknown): void {
    for (const w of this.#windows.values()) {
      if (!w.isDestroyed() && !w.webContents.isDestroyed()) w.webContents.send(channel, payload);
    }
  }

  async #show(kind: Kind, size: Omit<BrowserWindowOptionsLike, 'show' | 'webPreferences'>): Promise<BrowserWindowLike> {
    const existing = this.#windows.get(kind);
    if (existing && !existing.isDestroyed()) {
      existing.show();
      existing.focus();
      return existing;
    }
    const win = this.#o.createWindow({
      ...size,
      show: false, // shown on ready-to-show: no white flash
      backgroundColor: '#f6f7f9',
      autoHideMenuBar: true,
      webPreferences: secureWebPreferences(this.#o.preloadPath, this.#o.developer),
    });
    hardenWebContents(win.webContents, this.#o.onBlocked, this.#o.developer);
    this.#windows.set(kind, win);
    win.on('closed', () => {
      if (this.#windows.get(kind) === win) this.#windows.delete(kind);
    });
    win.once('ready-to-show', () => win.show());
    await win.loadURL(kind === 'license' ? this.licenseUrl : this.appUrl);
    return win;
  }
}
