import { describe, expect, it } from 'vitest';
import { activationErrorText, type Language, listOf, plural, remainingTime, type Surface } from './messages';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const LANGS: Language[] = ['en', 'zh'];
const SURFACES: Surface[] = ['window', 'cli'];

describe('plural', () => {
  const seats = { '=1': 'one seat only', one: '{n} seat', other: '{n} seats' };
  it('takes an exact form first, then the language category, then other', () => {
    expect(plural('en', 1, seats)).toBe('one seat only');
    expect(plural('en', 1, { one: '{n} seat', other: '{n} seats' })).toBe('1 seat');
    expect(plural('en', 0, { one: '{n} seat', other: '{n} seats' })).toBe('0 seats');
    expect(plural('en', 2, seats)).toBe('2 seats');
    expect(plural('en', 21, seats)).toBe('21 seats');
    // Chinese has no singular: only an exact form changes the wording.
    expect(plural('zh', 1, { one: 'never used', other: '{n} 个席位' })).toBe('1 个席位');
    expect(plural('zh', 1, { '=1': '只有 1 个席位', other: '{n} 个席位' })).toBe('只有 1 个席位');
  });

  it('joins lists the way each language does', () => {
    expect(listOf('en', ['a', 'b', 'c'])).toBe('a, b, and c');
    expect(listOf('en', ['a'])).toBe('a');
    expect(listOf('zh', ['a', 'b', 'c'])).toBe('a、b和c');
  });
});

describe('remainingTime', () => {
  it.each([
    [12 * DAY, '12 days', '12 天'],
    [21 * DAY - 1000, '21 days', '21 天'],
    [1 * DAY, '1 day', '1 天'],
    [36 * HOUR - 1, '1 day', '1 天'],
    [5 * HOUR, '5 hours', '5 小时'],
    [HOUR, '1 hour', '1 小时'],
    [23.9 * HOUR, '23 hours', '23 小时'],
    [59 * 60_000, 'less than an hour', '不到 1 小时'],
  ])('%d ms reads "%s" / "%s"', (ms, en, zh) => {
    expect(remainingTime(ms, 'en')).toBe(en);
    expect(remainingTime(ms, 'zh')).toBe(zh);
  });
});

describe('activationErrorText', () => {
  const office = { id: 'act_1', name: 'office-pc' };

  it('seats full with one seat: no "All 1 seat", one sentence, who holds it, what to do', () => {
    const f = { code: 'TOO_MANY_DEVICES', licenseCode: 'PLCODE1', seats: 1, devices: [office] };
    expect(activationErrorText(f, 'en', 'window')).toEqual({
      title: 'This license is already in use on another device.',
      detail: 'In use on office-pc.',
      action: 'Free the seat of a device you no longer use (below), then select Activate again.',
    });
    expect(activationErrorText(f, 'zh', 'window')).toEqual({
      title: '此许可证已在另一台设备上使用。',
      detail: '正在使用的设备：office-pc。',
      action: '请在下方释放不再使用的设备的席位，然后再次点击“激活”。',
    });
    expect(activationErrorText(f, 'en', 'cli')).toEqual({
      title: 'This license is already in use on another device.',
      detail: 'In use on office-pc (act_1).',
      action:
        'Free the seat of a device you no longer use with `licensor-client release-device PLCODE1 act_1`, then activate again.',
    });
  });

  it('seats full with several seats: counted in each language, at most three names', () => {
    const devices = ['a', 'b', 'c', 'd', 'e'].map((n) => ({ id: `id-${n}`, name: n }));
    const three = { code: 'TOO_MANY_DEVICES', seats: 3, devices: devices.slice(0, 3) };
    expect(activationErrorText(three, 'en').title).toBe('All 3 seats of this license are in use.');
    expect(activationErrorText(three, 'en').detail).toBe('In use on a, b, and c.');
    expect(activationErrorText(three, 'zh').title).toBe('此许可证的 3 个席位已全部占用。');
    expect(activationErrorText(three, 'zh').detail).toBe('正在使用的设备：a、b和c。');
    const five = { code: 'TOO_MANY_DEVICES', seats: 5, devices };
    expect(activationErrorText(five, 'en').detail).toBe('In use on a, b, c, and 2 other devices.');
    expect(activationErrorText({ ...five, devices: devices.slice(0, 4) }, 'en').detail).toBe(
      'In use on a, b, c, and 1 other device.',
    );
    expect(activationErrorText(five, 'zh').detail).toBe('正在使用的设备：a、b、c和另外 2 台设备。');
    // Without the device list the detail says what the license allows.
    expect(activationErrorText({ code: 'TOO_MANY_DEVICES', seats: 1 }, 'en').detail).toBe(
      'This license can be active on one device at a time.',
    );
    expect(activationErrorText({ code: 'TOO_MANY_DEVICES', seats: 4 }, 'zh').detail).toBe(
      '此许可证同一时间最多可在 4 台设备上使用。',
    );
  });

  it('an unknown code: not recognised, never a seat to free', () => {
    for (const lang of LANGS) {
      const m = activationErrorText({ code: 'NOT_FOUND', licenseCode: 'LSR-AAAAA' }, lang);
      expect(m.detail).toContain('LSR-AAAAA');
      expect(`${m.title} ${m.detail} ${m.action}`).not.toMatch(/seat|席位|free|释放/i);
    }
    expect(activationErrorText({ code: 'NOT_FOUND' }, 'en').title).toBe('This license code was not recognised.');
  });

  it('a server that cannot be reached on a first activation does not promise offline use of a license', () => {
    const m = activationErrorText({ code: 'SERVER_UNREACHABLE' }, 'en', 'window');
    expect(m.action).toBe(
      'Check the internet connection and select Activate again, or use the offline activation below.',
    );
    expect(m.detail).not.toMatch(/grace/);
    expect(activationErrorText({ code: 'SERVER_UNREACHABLE' }, 'en', 'cli').action).toContain('offline-request');
  });

  it('uses the server words as the detail only for codes without a text of their own, and only when new', () => {
    const rejected = activationErrorText({ code: 'MARKETPLACE_REJECTED', serverMessage: 'Order CS1 was refunded' });
    expect(rejected).toEqual({
      title: 'KooGallery rejected this license code.',
      detail: 'Order CS1 was refunded',
      action: 'Check the code and its order on KooGallery.',
    });
    const same = activationErrorText({ code: 'REVOKED', serverMessage: 'The license has been revoked.' });
    expect(same.detail).toBe('');
    // A code with its own text ignores the server's English sentence (it would repeat the title).
    const full = activationErrorText({ code: 'TOO_MANY_DEVICES', seats: 1, serverMessage: 'All 1 seat ...' }, 'zh');
    expect(full.detail).not.toContain('All');
  });

  it('every tailored message has three distinct parts, each one sentence, none repeating another, no "(s)"', () => {
    const facts = { licenseCode: 'PL1', seats: 2, devices: [office, { id: 'act_2', name: 'laptop' }] };
    for (const code of [
      'NOT_FOUND',
      'TOO_MANY_DEVICES',
      'SERVER_UNREACHABLE',
      'MARKETPLACE_UNAVAILABLE',
      'EXPIRED',
      'FROZEN',
    ]) {
      for (const lang of LANGS) {
        for (const surface of SURFACES) {
          const m = activationErrorText({ code, ...facts }, lang, surface);
          const parts = [m.title, m.detail, m.action];
          const where = `${code}/${lang}/${surface}`;
          for (const p of parts) {
            expect(p, where).not.toBe('');
            expect(p, where).not.toContain('(s)');
            // One sentence: a single terminal full stop, at the end.
            expect(p.replace(/[.。]$/, ''), where).not.toMatch(/[.。](\s|$)/);
          }
          expect(new Set(parts).size, where).toBe(3);
          expect(m.detail.includes(m.title) || m.action.includes(m.title), where).toBe(false);
        }
      }
    }
  });
});
