import { generateLicenseCode } from '@licensor/shared/licenseCode';
import { describe, expect, it } from 'vitest';
import type { LicenseView } from '../shared/api';
import { initialLanguage, t, tn } from './i18n';
import { cleanPastedCode, codeFeedback, graceText, statusFacts, statusNotice, viewFor } from './view';

const base: LicenseView = {
  valid: true,
  code: 'VALID',
  message: 'The license is valid.',
  license: {
    id: 'act_1',
    product: 'OFFI0001',
    edition: 'pro',
    sku: null,
    features: { export: true, maxProjects: 20 },
    seats: 3,
    status: 'active',
    expiresAt: '2027-01-01T00:00:00.000Z',
    refreshBy: '2026-01-15T00:00:00.000Z',
    graceUntil: '2026-01-22T00:00:00.000Z',
    test: false,
  },
  productName: 'Demo Studio',
  device: { activationId: 'act_1', name: 'pc' },
  lastCheckInAt: '2026-01-01T10:00:00.000Z',
  graceDaysLeft: null,
  daysLeft: 365,
  warning: null,
  serverMessage: null,
  checkedAt: '2026-01-01T00:00:00.000Z',
};

describe('license window helpers', () => {
  it('shows the status view for any license on file, activation otherwise', () => {
    expect(viewFor(base)).toBe('status');
    expect(viewFor({ ...base, valid: false, code: 'FROZEN' })).toBe('status');
    expect(viewFor({ ...base, valid: false, code: 'NO_LICENSE', license: null })).toBe('activate');
  });

  it('cleans pasted codes: whitespace anywhere, case, look-alikes in LSR codes', () => {
    const code = generateLicenseCode();
    expect(cleanPastedCode(` ${code.toLowerCase().replace(/-/g, ' ')}\n`)).toBe(code);
    expect(cleanPastedCode(code.replace(/-/g, ''))).toBe(code);
    expect(cleanPastedCode(' pl12 ab34\tcd ')).toBe('PL12AB34CD');
    // Other shapes (family C instance ids) keep their case.
    expect(cleanPastedCode(' Inst-AbC ')).toBe('Inst-AbC');
  });

  it('blocks a mistyped LSR code with a hint, lets PL and other codes through', () => {
    const code = generateLicenseCode();
    const typo = code.slice(0, -1) + (code.endsWith('0') ? '1' : '0');
    expect(codeFeedback(typo, 'en')).toMatchObject({ block: true });
    expect(codeFeedback(typo, 'en').message).toContain('typo');
    expect(codeFeedback(typo, 'zh').message).toContain('校验位');
    expect(codeFeedback(code, 'en')).toEqual({ normalized: code, message: '', block: false });
    expect(codeFeedback('PL123', 'en').block).toBe(false);
    expect(codeFeedback('LSR-123', 'en')).toMatchObject({ block: true });
    expect(codeFeedback('  ', 'en').block).toBe(true);
  });

  it('lists the status facts: product and edition, remaining times, this device; no raw ids', () => {
    const en = statusFacts(base, 'en');
    expect(en).toEqual([
      { id: 'f-product', text: 'Demo Studio, pro edition' },
      { id: 'f-features', text: 'export, maxProjects: 20' },
      { id: 'f-expires', text: '1 Jan 2027 (365 days left)' },
      { id: 'f-seats', text: '3' },
      { id: 'f-device', text: 'pc' },
      { id: 'f-checkin', text: '1 Jan 2026, 10:00' },
      { id: 'f-grace', text: '21 days' },
    ]);
    expect(en.map((f) => f.text).join(' ')).not.toContain('act_1');
    const zh = Object.fromEntries(statusFacts(base, 'zh').map((f) => [f.id, f.text]));
    expect(zh).toMatchObject({
      'f-product': 'Demo Studio（pro版）',
      'f-expires': '2027年1月1日（剩余 365 天）',
      'f-grace': '21 天',
    });
    const noEdition = { ...base, license: { ...base.license!, edition: null, expiresAt: null, features: {} } };
    const facts = Object.fromEntries(statusFacts(noEdition, 'en').map((f) => [f.id, f.text]));
    expect(facts['f-product']).toBe('Demo Studio');
    expect(facts['f-features']).toBe('None beyond the edition');
    expect(Object.fromEntries(statusFacts(noEdition, 'zh').map((f) => [f.id, f.text]))['f-features']).toBe(
      '版本自带功能',
    );
    expect(facts['f-expires']).toBe('Never (perpetual)');
    expect(Object.fromEntries(statusFacts(noEdition, 'zh').map((f) => [f.id, f.text]))['f-expires']).toBe('永久有效');
    // One day left is "1 day", never "1 day(s)".
    const soon = { ...base, license: { ...base.license!, expiresAt: '2026-01-02T00:00:00.000Z' } };
    expect(Object.fromEntries(statusFacts(soon, 'en').map((f) => [f.id, f.text]))['f-expires']).toBe(
      '2 Jan 2026 (1 day left)',
    );
    expect(
      Object.fromEntries(statusFacts({ ...base, lastCheckInAt: null }, 'en').map((f) => [f.id, f.text]))['f-checkin'],
    ).toBe('Not yet');
    // A locked license has no time left: no remaining expiry or grace that contradicts the notice.
    const facts2 = (v: typeof base, lang: 'en' | 'zh') =>
      Object.fromEntries(statusFacts(v, lang).map((f) => [f.id, f.text]));
    expect(facts2({ ...base, valid: false, code: 'EXPIRED' }, 'en')).toMatchObject({
      'f-expires': 'Expired',
      'f-grace': '—',
    });
    expect(facts2({ ...base, valid: false, code: 'EXPIRED' }, 'zh')['f-expires']).toBe('已过期');
    expect(facts2({ ...base, valid: false, code: 'FROZEN' }, 'en')).toMatchObject({
      'f-expires': '1 Jan 2027',
      'f-grace': '—',
    });
  });

  it('says the offline grace as a remaining time, up to graceUntil (else refreshBy), or no limit', () => {
    expect(graceText(base, 'en')).toBe('21 days');
    expect(graceText({ ...base, checkedAt: '2026-01-21T19:00:00.000Z' }, 'en')).toBe('5 hours');
    expect(graceText({ ...base, checkedAt: '2026-01-21T00:00:00.000Z' }, 'zh')).toBe('1 天');
    expect(graceText({ ...base, checkedAt: '2026-01-23T00:00:00.000Z' }, 'en')).toBe('None left');
    const noGrace = { ...base, license: { ...base.license!, graceUntil: null } };
    expect(graceText(noGrace, 'en')).toBe('14 days');
    const offlineFile = { ...base, license: { ...base.license!, graceUntil: null, refreshBy: null } };
    expect(graceText(offlineFile, 'en')).toBe('No limit (this license does not need to check in)');
    expect(graceText({ ...base, license: null }, 'en')).toBe('—');
  });

  it('says what is wrong with a license once: sentence, the server words if new, the next step in this window', () => {
    expect(statusNotice(base, 'en')).toBeNull();
    // The library's English warnings become the window's own words, with a remaining time.
    const grace = { ...base, checkedAt: '2026-01-19T00:00:00.000Z', graceDaysLeft: 3, warning: 'The license must…' };
    expect(statusNotice(grace, 'en')).toEqual({
      title: 'The license needs to be checked online soon.',
      detail: 'It keeps working offline for 3 days more.',
      action: 'Connect to the internet, then select Check in now.',
    });
    expect(statusNotice({ ...grace, checkedAt: '2026-01-21T00:00:00.000Z' }, 'zh')).toEqual({
      title: '许可证需要尽快联网校验。',
      detail: '离线状态下还可使用 1 天。',
      action: '请连接网络后点击“立即联网校验”。',
    });
    const ending = { ...base, checkedAt: '2026-12-20T00:00:00.000Z', warning: 'The license expires in 12 days…' };
    expect(statusNotice(ending, 'en')).toEqual({
      title: 'The license expires in 12 days.',
      detail: '',
      action: 'Renew the subscription to keep using the application.',
    });
    expect(statusNotice(ending, 'zh')?.title).toBe('许可证将在 12 天后到期。');
    expect(statusNotice({ ...base, license: null, warning: 'Something else.' }, 'en')?.title).toBe('Something else.');
    const expired = {
      ...base,
      checkedAt: '2027-01-02T00:00:00.000Z',
      valid: false,
      code: 'EXPIRED',
      message: 'The license has expired. Renew the subscription, then check in again.',
    };
    expect(statusNotice(expired, 'en')).toEqual({
      title: 'The license has expired.',
      detail: 'It ended on 1 Jan 2027.',
      action: 'Renew the subscription, then select Check in now.',
    });
    // The server's verdict sentence for FROZEN repeats the title and the next step in English: not shown.
    const frozen = {
      ...base,
      valid: false,
      code: 'FROZEN',
      serverMessage: 'This license is frozen by the marketplace.',
    };
    expect(statusNotice(frozen, 'zh')).toEqual({
      title: '许可证已被云商店冻结。',
      detail: '',
      action: '请在云商店处理订单后点击“立即联网校验”。',
    });
    expect(statusNotice({ ...expired, license: { ...base.license!, expiresAt: null } }, 'zh')?.detail).toBe('');
    expect(statusNotice({ ...expired }, 'zh')?.detail).toBe('已于 2027年1月1日 到期。');
    // Ended by the marketplace before the file's date: no date that has not passed.
    expect(statusNotice({ ...expired, checkedAt: base.checkedAt }, 'en')?.detail).toBe('');
    // Words the window has no text of its own for are passed on.
    const floating = { ...base, valid: false, code: 'TOO_MANY_DEVICES', serverMessage: 'All floating seats are busy.' };
    expect(statusNotice(floating, 'en')?.detail).toBe('Details: All floating seats are busy.');
  });

  it('counts the seat transfers with the right plural', () => {
    expect(tn('en', 'transfersLeft', 30, { used: 1, limit: 3 })).toBe('Seats freed in the last 30 days: 1 of 3.');
    expect(tn('en', 'transfersLeft', 1, { used: 0, limit: 1 })).toBe('Seats freed in the last day: 0 of 1.');
    expect(tn('zh', 'transfersLeft', 30, { used: 1, limit: 3 })).toBe('最近 30 天已释放席位：1 / 3 次。');
  });

  it('picks the language from the system, unless the person chose one', () => {
    expect(initialLanguage('zh-CN', null)).toBe('zh');
    expect(initialLanguage('zh-TW', null)).toBe('zh');
    expect(initialLanguage('en-US', null)).toBe('en');
    expect(initialLanguage('de', null)).toBe('en');
    expect(initialLanguage('zh-CN', 'en')).toBe('en');
    expect(initialLanguage(undefined, 'garbage')).toBe('en');
    expect(t('zh', 'noDevices')).toContain('激活');
  });
});
