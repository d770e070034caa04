/**
 * Tray icon and menu: the license status in one line, and the actions a person needs without opening the
 * app (license window, check in now, quit). The template is a pure function of the status, tested directly.
 */
import { type Language, type PluralForms, plural, statusText } from '../../src/messages';
import type { LicenseView } from '../shared/api';
import type { MenuItemOptionsLike, TrayLike } from './electronTypes';

const LABELS = {
  en: {
    license: 'License…',
    checkIn: 'Check in now',
    openApp: 'Open {app}',
    quit: 'Quit',
    expires: 'expires {date}',
    perpetual: 'no expiry',
  },
  zh: {
    license: '许可证…',
    checkIn: '立即联网校验',
    openApp: '打开 {app}',
    quit: '退出',
    expires: '{date} 到期',
    perpetual: '永久有效',
  },
} as const;

const GRACE_LEFT: Record<Language, PluralForms> = {
  en: { one: '{n} day of offline grace left', other: '{n} days of offline grace left' },
  zh: { other: '离线宽限期剩余 {n} 天' },
};

const fill = (s: string, vars: Record<string, string | number>) =>
  s.replace(/\{(\w+)\}/g, (_, k: string) => String(vars[k] ?? ''));

/** One line for the tooltip and the menu's first (disabled) item. */
export function statusLine(view: LicenseView, lang: Language): string {
  const l = LABELS[lang];
  const title = statusText(view.code, lang).title;
  if (!view.valid) return title;
  const parts = [title];
  if (view.license) {
    parts.push(view.license.expiresAt ? fill(l.expires, { date: view.license.expiresAt.slice(0, 10) }) : l.perpetual);
  }
  if (view.graceDaysLeft !== null) parts.push(plural(lang, view.graceDaysLeft, GRACE_LEFT[lang]));
  return parts.join(' · ');
}

export interface TrayActions {
  openLicense(): void;
  openApp(): void;
  checkIn(): void;
  quit(): void;
}

export function trayMenuTemplate(
  view: LicenseView,
  lang: Language,
  appName: string,
  actions: TrayActions,
): MenuItemOptionsLike[] {
  const l = LABELS[lang];
  return [
    { label: statusLine(view, lang), enabled: false },
    { type: 'separator' },
    { label: fill(l.openApp, { app: appName }), enabled: view.valid, click: actions.openApp },
    { label: l.license, click: actions.openLicense },
    { label: l.checkIn, enabled: view.device.activationId !== null, click: actions.checkIn },
    { type: 'separator' },
    { label: l.quit, click: actions.quit },
  ];
}

export interface TrayControllerOptions {
  tray: TrayLike;
  buildMenu(template: MenuItemOptionsLike[]): unknown;
  lang: Language;
  appName: string;
  actions: TrayActions;
}

export class TrayController {
  readonly #o: TrayControllerOptions;

  constructor(opts: TrayControllerOptions) {
    this.#o = opts;
  }

  update(view: LicenseView): void {
    const { tray, lang, appName, actions } = this.#o;
    tray.setToolTip(`${appName} — ${statusLine(view, lang)}`);
    tray.setContextMenu(this.#o.buildMenu(trayMenuTemplate(view, lang, appName, actions)));
  }

  destroy(): void {
    this.#o.tray.destroy();
  }
}
