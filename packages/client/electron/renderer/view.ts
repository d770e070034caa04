/**
 * Pure helpers of the license window (no DOM), unit-tested under Node: which view to show, what a pasted
 * code becomes, how facts and devices read.
 */
import { normalizeLicenseCode } from '@licensor/shared/licenseCode';
import { type Language, licenseCodeHint } from '../../src/messages';
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

const DAY = 86_400_000;

/**
 * How long the app keeps working without reaching the server: the days left once the grace period runs,
 * otherwise the whole window up to graceUntil. Files without a refresh deadline (offline) need no grace.
 */
export function graceText(view: LicenseView, lang: Language): string {
  if (view.graceDaysLeft !== null) return t(lang, 'days', { n: view.graceDaysLeft });
  const until = view.license?.graceUntil;
  if (!until) return t(lang, 'notApplicable');
  const n = Math.max(0, Math.ceil((Date.parse(until) - Date.parse(view.checkedAt)) / DAY));
  return t(lang, 'daysLeft', { date: formatDate(until, lang) ?? until, n });
}

export interface Fact {
  id: string;
  text: string;
}

/** The rows of the status view, in display order. */
export function statusFacts(view: LicenseView, lang: Language): Fact[] {
  const l = view.license;
  const na = t(lang, 'notApplicable');
  const expires = (() => {
    if (!l) return na;
    if (!l.expiresAt) return t(lang, 'perpetual');
    const date = formatDate(l.expiresAt, lang) ?? l.expiresAt;
    return view.daysLeft !== null && view.daysLeft >= 0 ? t(lang, 'daysLeft', { date, n: view.daysLeft }) : date;
  })();
  return [
    { id: 'f-product', text: l?.product ?? na },
    { id: 'f-edition', text: l?.edition ?? l?.sku ?? na },
    { id: 'f-expires', text: expires },
    { id: 'f-seats', text: l ? String(l.seats) : na },
    { id: 'f-device', text: view.device.name },
    { id: 'f-checkin', text: formatDate(view.lastCheckInAt, lang, true) ?? t(lang, 'never') },
    { id: 'f-grace', text: graceText(view, lang) },
    { id: 'f-license', text: l?.id ?? na },
  ];
}
