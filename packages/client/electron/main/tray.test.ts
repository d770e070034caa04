import { describe, expect, it } from 'vitest';
import { noLicense, validStatus } from '../test/fakes';
import { toLicenseView } from './licenseService';
import { statusLine, TrayController, trayMenuTemplate } from './tray';

const actions = { openLicense() {}, openApp() {}, checkIn() {}, quit() {} };

describe('tray', () => {
  it('says the status in one line, in English and Chinese', () => {
    const valid = toLicenseView(validStatus({ detail: { activationId: 'a', graceDaysLeft: 4 } }), 'pc', 'Demo');
    expect(statusLine(valid, 'en')).toBe('The license is valid. · expires 2027-01-01 · 4 days of offline grace left');
    expect(statusLine(valid, 'zh')).toBe('许可证有效。 · 2027-01-01 到期 · 离线宽限期剩余 4 天');
    expect(statusLine(toLicenseView(noLicense(), 'pc', 'Demo'), 'en')).toBe('This device is not activated.');
    const lastDay = toLicenseView(validStatus({ detail: { activationId: 'a', graceDaysLeft: 1 } }), 'pc', 'Demo');
    expect(statusLine(lastDay, 'en')).toBe('The license is valid. · expires 2027-01-01 · 1 day of offline grace left');
    expect(statusLine(lastDay, 'zh')).toBe('许可证有效。 · 2027-01-01 到期 · 离线宽限期剩余 1 天');
  });

  it('offers opening the app only while valid, and check-in only with an activation', () => {
    const none = trayMenuTemplate(toLicenseView(noLicense(), 'pc', 'Demo'), 'en', 'Demo', actions);
    expect(none.map((i) => [i.label ?? i.type, i.enabled ?? true])).toEqual([
      ['This device is not activated.', false],
      ['separator', true],
      ['Open Demo', false],
      ['License…', true],
      ['Check in now', false],
      ['separator', true],
      ['Quit', true],
    ]);
    const valid = trayMenuTemplate(toLicenseView(validStatus(), 'pc', 'Demo'), 'en', 'Demo', actions);
    expect(valid.find((i) => i.label === 'Open Demo')?.enabled).toBe(true);
    expect(valid.find((i) => i.label === 'Check in now')?.enabled).toBe(true);
  });

  it('updates the tooltip and menu', () => {
    const calls: unknown[] = [];
    const controller = new TrayController({
      tray: { setToolTip: (t) => calls.push(t), setContextMenu: (m) => calls.push(m), destroy() {} },
      buildMenu: (template) => template.length,
      lang: 'en',
      appName: 'Demo',
      actions,
    });
    controller.update(toLicenseView(noLicense(), 'pc', 'Demo'));
    expect(calls).toEqual(['Demo — This device is not activated.', 7]);
  });
});
