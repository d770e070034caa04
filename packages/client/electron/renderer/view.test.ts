import { generateLicenseCode } from '@licensor/shared/licenseCode';
import { describe, expect, it } from 'vitest';
import type { LicenseView } from '../shared/api';
import { initialLanguage, t } from './i18n';
import { cleanPastedCode, codeFeedback, graceText, statusFacts, viewFor } from './view';

const base: LicenseView = {
  valid: true,
  code: 'VALID',
  message: 'The license is valid.',
  license: {
    id: 'act_1',
    product: 'OFFI0001',
    edition: 'pro',
    sku: null,
    seats: 3,
    status: 'active',
    expiresAt: '2027-01-01T00:00:00.000Z',
    refreshBy: '2026-01-15T00:00:00.000Z',
    graceUntil: '2026-01-22T00:00:00.000Z',
    test: false,
  },
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

  it('lists the status facts in both languages', () => {
    const en = Object.fromEntries(statusFacts(base, 'en').map((f) => [f.id, f.text]));
    expect(en).toMatchObject({
      'f-product': 'OFFI0001',
      'f-edition': 'pro',
      'f-expires': '1 Jan 2027 (365 day(s) left)',
      'f-seats': '3',
      'f-device': 'pc',
      'f-license': 'act_1',
    });
    const zh = Object.fromEntries(
      statusFacts({ ...base, license: { ...base.license!, expiresAt: null } }, 'zh').map((f) => [f.id, f.text]),
    );
    expect(zh['f-expires']).toBe('永久有效');
    expect(
      Object.fromEntries(statusFacts({ ...base, lastCheckInAt: null }, 'en').map((f) => [f.id, f.text]))['f-checkin'],
    ).toBe('Not yet');
  });

  it('counts grace as days left while running, else the window up to graceUntil, else not applicable', () => {
    expect(graceText({ ...base, graceDaysLeft: 2 }, 'en')).toBe('2 day(s)');
    expect(graceText(base, 'en')).toBe('22 Jan 2026 (21 day(s) left)');
    expect(graceText({ ...base, license: { ...base.license!, graceUntil: null } }, 'en')).toBe('—');
  });

  it('picks the language from the system, unless the person chose one', () => {
    expect(initialLanguage('zh-CN', null)).toBe('zh');
    expect(initialLanguage('zh-TW', null)).toBe('zh');
    expect(initialLanguage('en-US', null)).toBe('en');
    expect(initialLanguage('de', null)).toBe('en');
    expect(initialLanguage('zh-CN', 'en')).toBe('en');
    expect(initialLanguage(undefined, 'garbage')).toBe('en');
    expect(t('zh', 'devicesIntro', { seats: 2 })).toContain('2');
  });
});
