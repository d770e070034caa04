import { describe, expect, it } from 'vitest';
import type { LicenseView } from '../shared/api';
import { FakeManager, noLicense, validStatus } from '../test/fakes';
import { decide, LicenseGate } from './gate';
import { toLicenseView } from './licenseService';

function setup(initial = noLicense()) {
  const manager = new FakeManager();
  manager.current = initial;
  const open = new Set<string>();
  const log: string[] = [];
  const windows = {
    showApp: async () => {
      open.add('app');
      log.push('show app');
    },
    showLicense: async () => {
      open.add('license');
      log.push('show license');
    },
    close: (kind: 'app' | 'license') => {
      open.delete(kind);
      log.push(`close ${kind}`);
    },
    isOpen: (kind: 'app' | 'license') => open.has(kind),
  };
  const views: LicenseView[] = [];
  const gate = new LicenseGate({
    manager: manager.asManager(),
    windows,
    toView: (s) => toLicenseView(s, 'pc', 'Demo'),
    onStatus: (v) => views.push(v),
  });
  return { manager, gate, open, log, views };
}

describe('license gate', () => {
  it('decides on validity alone (a warning still opens the app)', () => {
    expect(decide(validStatus())).toBe('app');
    expect(decide(validStatus({ detail: { warning: 'grace running' } }))).toBe('app');
    expect(decide(noLicense())).toBe('license');
  });

  it('opens the application window when the stored license verifies', async () => {
    const { gate, log } = setup(validStatus());
    expect(await gate.start()).toBe('app');
    expect(log).toEqual(['show app']);
  });

  it('opens the activation window when there is no valid license', async () => {
    const { gate, log } = setup(noLicense());
    expect(await gate.start()).toBe('license');
    expect(log).toEqual(['show license']);
  });

  it('closes the application and shows the license window when the license stops being valid', async () => {
    const { gate, manager, log, views } = setup(validStatus());
    await gate.start();
    manager.publish({ ...noLicense(), code: 'FROZEN', message: 'frozen' });
    expect(log).toEqual(['show app', 'close app', 'show license']);
    expect(views.map((v) => v.code)).toEqual(['FROZEN']);
  });

  it('opens the application only when the license is valid now', async () => {
    const { gate, manager, log } = setup(noLicense());
    await gate.start();
    expect(await gate.openApp()).toBe(false);
    manager.current = validStatus();
    expect(await gate.openApp()).toBe(true);
    expect(log).toEqual(['show license', 'show app', 'close license']);
  });

  it('stops following the manager', async () => {
    const { gate, manager, views } = setup(validStatus());
    await gate.start();
    gate.stop();
    manager.publish(noLicense());
    expect(views).toEqual([]);
  });
});
