/**
 * The slice of Electron's main-process API that the shell uses, as narrow structural types. The modules take
 * these as parameters instead of importing 'electron', so tests run under plain Node with fakes (the Electron
 * binary cannot be downloaded here); main/index.ts passes the real objects, and the compiler checks there that
 * Electron's types satisfy these.
 */

export interface FrameLike {
  readonly url: string;
  /** null for a top-level frame. */
  readonly parent: FrameLike | null;
}

export interface InvokeEventLike {
  /** null when the frame navigated away or was destroyed before the message was handled. */
  readonly senderFrame: FrameLike | null;
  readonly sender: { readonly id: number };
}

export interface IpcMainLike {
  // biome-ignore lint/suspicious/noExplicitAny: Electron's own signature passes `any[]` arguments.
  handle(channel: string, listener: (event: InvokeEventLike, ...args: any[]) => Promise<unknown> | unknown): void;
  removeHandler(channel: string): void;
}

export interface DetailsLike {
  readonly url: string;
}

export interface WebContentsLike {
  readonly id: number;
  on(
    event: 'will-navigate' | 'will-redirect',
    listener: (event: { preventDefault(): void }, url: string) => void,
  ): unknown;
  on(event: 'will-attach-webview', listener: (event: { preventDefault(): void }) => void): unknown;
  on(event: 'devtools-opened', listener: () => void): unknown;
  closeDevTools(): void;
  setWindowOpenHandler(handler: (details: DetailsLike) => { action: 'deny' } | { action: 'allow' }): void;
  send(channel: string, ...args: unknown[]): void;
  isDestroyed(): boolean;
}

export interface PermissionSessionLike {
  setPermissionRequestHandler(
    handler: ((webContents: unknown, permission: string, callback: (granted: boolean) => void) => void) | null,
  ): void;
  setPermissionCheckHandler(handler: ((webContents: unknown, permission: string) => boolean) | null): void;
}

export interface BrowserWindowLike {
  readonly webContents: WebContentsLike;
  loadURL(url: string): Promise<void>;
  show(): void;
  focus(): void;
  close(): void;
  isDestroyed(): boolean;
  once(event: 'ready-to-show', listener: () => void): unknown;
  on(event: 'closed', listener: () => void): unknown;
}

export interface WebPreferencesLike {
  preload: string;
  contextIsolation: true;
  sandbox: true;
  nodeIntegration: false;
  nodeIntegrationInWorker: false;
  nodeIntegrationInSubFrames: false;
  webSecurity: true;
  allowRunningInsecureContent: false;
  webviewTag: false;
  spellcheck: false;
  navigateOnDragDrop: false;
  safeDialogs: true;
  /** False in packaged builds: no developer tools, not even through a keyboard shortcut. */
  devTools: boolean;
}

export interface BrowserWindowOptionsLike {
  width: number;
  height: number;
  minWidth?: number;
  minHeight?: number;
  title: string;
  show: boolean;
  backgroundColor?: string;
  autoHideMenuBar?: boolean;
  webPreferences: WebPreferencesLike;
}

export type CreateBrowserWindow = (options: BrowserWindowOptionsLike) => BrowserWindowLike;

/** Electron's safeStorage: the async API (recent Electron) and the older synchronous one. */
export interface SafeStorageLike {
  isAsyncEncryptionAvailable?(): Promise<boolean>;
  encryptStringAsync?(plainText: string): Promise<Buffer>;
  decryptStringAsync?(encrypted: Buffer): Promise<{ result: string; shouldReEncrypt: boolean }>;
  isEncryptionAvailable(): boolean;
  encryptString(plainText: string): Buffer;
  decryptString(encrypted: Buffer): string;
}

export interface FileFilterLike {
  name: string;
  extensions: string[];
}

export interface DialogLike {
  showSaveDialog(options: {
    title: string;
    defaultPath: string;
    filters: FileFilterLike[];
  }): Promise<{ canceled: boolean; filePath?: string | undefined }>;
  showOpenDialog(options: {
    title: string;
    properties: Array<'openFile'>;
    filters: FileFilterLike[];
  }): Promise<{ canceled: boolean; filePaths: string[] }>;
}

export interface MenuItemOptionsLike {
  /** The only roles the shell uses: the macOS application and Edit menus of a packaged build. */
  role?: 'appMenu' | 'editMenu';
  label?: string;
  type?: 'normal' | 'separator';
  enabled?: boolean;
  click?: () => void;
}

export interface TrayLike {
  setToolTip(text: string): void;
  setContextMenu(menu: unknown): void;
  destroy(): void;
}
