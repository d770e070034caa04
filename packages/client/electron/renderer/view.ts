/**
 * Pure helpers of the license window (no DOM), unit-tested under Node: which view to show, what a pasted
 * code becomes, how facts and devices read.
 */
import { normalizeLicenseCode } from '@licensor/shared/licenseCode';
import { type Language, licenseCodeHint, remainingTime, statusText } from '../../src/messages';
import type { DeviceView, LicenseView } from '../shared/api';
import { t } from './i18n';

/** A license on file (even a frozen or expired one) shows the status view; otherwise activation. */
export function viewFor(view: LicenseView): 'status' | 'activate' {
  return view.valid || view.license !== null ? 'status' : 'activate';
}

/**
 * What a paste becomes: all whitespace dropped (codes copied from e-mails break across lines), then the
 * library's normalisation (upper case and dashes for LSR codes, upper case for PL codes; other shapes kept).
 */
export function cleanPastedCode(text: string): string {
  return normalizeLicenseCode(text.replace(/\s+/g, ''));
}

/** The hint under the field, and whether the code should be refused before any request. */
export function codeFeedback(value: string, lang: Language): { normalized: string; message: string; block: boolean } {
  if (value.trim() === '') return { normalized: '', message: '', block: true };
  const hint = licenseCodeHint(value.replace(/\s+/g, ''), lang);
  return { normalized: hint.normalized, message: hint.hint ?? '', block: !hint.plausible };
}

export function formatDate(iso: string | null, lang: Language, withTime = false): string | null {
  if (!iso) return null;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return null;
  return new Intl.DateTimeFormat(lang === 'zh' ? 'zh-CN' : 'en-GB', {
    dateStyle: 'medium',
    ...(withTime ? { timeStyle: 'short' } : {}),
  }).format(d);
}

export function deviceName(d: DeviceView, lang: Language): string {
  return d.label || d.hostname || t(lang, 'deviceUnnamed');
}

/** Time from the status's moment to `iso`, or null when it is absent or unreadable. */
function msUntil(iso: string | null | undefined, view: LicenseView): number | null {
  if (!iso) return null;
  const ms = Date.parse(iso) - Date.parse(view.checkedAt);
  return Number.isNaN(ms) ? null : ms;
}

/**
 * How long the app keeps working without reaching the server, as a remaining time ("21 days"): up to the end
 * of the grace period (or the file's refresh deadline when it has no grace). Files without a refresh deadline
 * (offline files) have no limit.
 */
export function graceText(view: LicenseView, lang: Language): string {
  const l = view.license;
  if (!l) return t(lang, 'notApplicable');
  const ms = msUntil(l.graceUntil ?? l.refreshBy, view);
  if (ms === null) return t(lang, 'noLimit');
  return ms > 0 ? remainingTime(ms, lang) : t(lang, 'graceOver');
}

export interface Fact {
  id: string;
  text: string;
}

/** The product as people know it, with the edition when the license names one. */
export function productText(view: LicenseView, lang: Language): string {
  const product = view.productName || view.license?.product || t(lang, 'notApplicable');
  const edition = view.license?.edition ?? view.license?.sku;
  return edition ? t(lang, 'productEdition', { product, edition }) : product;
}

/** The License's features as people read them: `export, maxProjects: 20`; none is said in words. */
export function featuresText(view: LicenseView, lang: Language): string {
  const l = view.license;
  if (!l) return t(lang, 'notApplicable');
  const names = Object.entries(l.features ?? {}).map(([name, v]) => (v === true ? name : `${name}: ${v}`));
  return names.length ? names.join(', ') : t(lang, 'noFeatures');
}

/** The rows of the status view, in display order. */
export function statusFacts(view: LicenseView, lang: Language): Fact[] {
  const l = view.license;
  const na = t(lang, 'notApplicable');
  const expires = (() => {
    if (!l) return na;
    if (!l.expiresAt) return t(lang, 'perpetual');
    const date = formatDate(l.expiresAt, lang) ?? l.expiresAt;
    const ms = msUntil(l.expiresAt, view);
    if (ms === null || ms <= 0) return date;
    // A license the server ended early (or locked) has no time "left", whatever the file's date says.
    if (view.code === 'EXPIRED') return t(lang, 'expiredNow');
    return view.valid ? t(lang, 'expiresIn', { date, remaining: remainingTime(ms, lang) }) : date;
  })();
  return [
    { id: 'f-product', text: productText(view, lang) },
    { id: 'f-features', text: featuresText(view, lang) },
    { id: 'f-expires', text: expires },
    { id: 'f-seats', text: l ? String(l.seats) : na },
    { id: 'f-device', text: view.device.name },
    { id: 'f-checkin', text: formatDate(view.lastCheckInAt, lang, true) ?? t(lang, 'never') },
    // Offline grace only matters while the license works.
    { id: 'f-grace', text: view.valid ? graceText(view, lang) : na },
  ];
}

/** A valid license that needs attention soon, in the window's language (the library's warning is English). */
function validNotice(view: LicenseView, lang: Language): { title: string; detail: string; action: string } | null {
  if (view.warning === null) return null;
  const l = view.license;
  const graceMs = view.graceDaysLeft !== null ? msUntil(l?.graceUntil, view) : null;
  if (graceMs !== null && graceMs > 0) {
    return {
      title: t(lang, 'graceWarning'),
      detail: t(lang, 'graceWarningDetail', { remaining: remainingTime(graceMs, lang) }),
      action: t(lang, 'graceWarningAction'),
    };
  }
  const endMs = msUntil(l?.expiresAt, view);
  if (endMs !== null && endMs > 0) {
    return {
      title: t(lang, 'expiryWarning', { remaining: remainingTime(endMs, lang) }),
      detail: '',
      action: t(lang, 'expiryWarningAction'),
    };
  }
  return { title: view.warning, detail: '', action: '' };
}

/** Verdicts whose server sentence is a fixed template repeating our title and next step (server verdict.ts). */
const TEMPLATED_VERDICTS = new Set(['EXPIRED', 'FROZEN', 'REVOKED', 'SUSPENDED', 'RELEASED']);

/**
 * The notice above the status facts: a warning on a valid license, or what is wrong, one detail when there is
 * something to add (the end date, or the server's words where they are not a template of ours), and the next
 * step in this window. Null when all is well.
 */
export function statusNotice(
  view: LicenseView,
  lang: Language,
): { title: string; detail: string; action: string } | null {
  if (view.valid) return validNotice(view, lang);
  const s = statusText(view.code, lang);
  const action =
    view.code === 'EXPIRED' ? t(lang, 'renewAction') : view.code === 'FROZEN' ? t(lang, 'settleAction') : s.action;
  // The end date only when it has passed (a marketplace may end a license before the date in the file).
  const endMs = msUntil(view.license?.expiresAt, view);
  const ended =
    view.code === 'EXPIRED' && endMs !== null && endMs <= 0 ? formatDate(view.license!.expiresAt, lang) : null;
  if (ended) return { title: s.title, detail: t(lang, 'endedOn', { date: ended }), action };
  const said = TEMPLATED_VERDICTS.has(view.code) ? '' : (view.serverMessage?.trim() ?? '');
  const detail = said && said !== s.title && said !== s.action ? t(lang, 'serverSays', { message: said }) : '';
  return { title: s.title, detail, action };
}
