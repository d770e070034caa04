import { LicensorError } from '@licensor/shared';
import { describe, expect, it } from 'vitest';
import { FakeManager, noLicense, validStatus } from '../test/fakes';
import { LicenseService, offlineRequestFileName, toErrorView, toLicenseView } from './licenseService';

function service(manager = new FakeManager(), opened: string | null = 'license text') {
  const saved: Array<[string, string]> = [];
  const s = new LicenseService({
    manager: manager.asManager(),
    files: {
      saveRequest: async (text, name) => {
        saved.push([text, name]);
        return { saved: true, fileName: name };
      },
      openLicenseFile: async () => opened,
    },
    deviceName: 'this-pc',
    productName: 'Demo',
    productId: 'OFFI 0001',
  });
  return { s, manager, saved };
}

describe('views', () => {
  it('maps a status to display fields, with nulls for what is absent', () => {
    const v = toLicenseView(validStatus({ detail: { graceDaysLeft: 3, warning: 'soon', daysLeft: 10 } }), 'pc', 'Demo');
    expect(v).toMatchObject({
      valid: true,
      code: 'VALID',
      license: { id: 'act_1', product: 'OFFI0001', edition: 'pro', sku: null, seats: 3, test: false },
      device: { activationId: null, name: 'pc' },
      lastCheckInAt: null,
      graceDaysLeft: 3,
      daysLeft: 10,
      warning: 'soon',
      serverMessage: null,
    });
    expect(toLicenseView(noLicense(), 'pc', 'Demo')).toMatchObject({ valid: false, code: 'NO_LICENSE', license: null });
  });

  it('names the product, and this device by the name it was activated under (else the host name)', () => {
    const labelled = validStatus({ detail: { activationId: 'act_1', deviceLabel: 'Studio PC' } });
    expect(toLicenseView(labelled, 'host-7', 'Demo Studio')).toMatchObject({
      productName: 'Demo Studio',
      device: { activationId: 'act_1', name: 'Studio PC' },
    });
    expect(toLicenseView(validStatus(), 'host-7', 'Demo Studio').device.name).toBe('host-7');
  });

  it('keeps the message of known errors and hides unknown failures', () => {
    expect(toErrorView(new LicensorError('SERVER_UNREACHABLE', 'Cannot reach https://x'))).toEqual({
      code: 'SERVER_UNREACHABLE',
      message: 'Cannot reach https://x',
      retryable: true,
    });
    const hidden = toErrorView(new Error('ENOENT /home/alice/.config/secret'));
    expect(hidden.code).toBe('INTERNAL');
    expect(hidden.message).not.toContain('alice');
  });

  it('keeps only well-formed devices of a seats-full refusal', () => {
    const v = toErrorView(
      new LicensorError('TOO_MANY_DEVICES', 'full', {
        seats: 2,
        devices: [{ id: 'a', lastSeenAt: 't', label: 'A', hostname: 7 }, { id: 3 }, null, 'x'],
      }),
    );
    expect(v.devices).toEqual([
      { id: 'a', label: 'A', hostname: null, platform: null, lastSeenAt: 't', current: false },
    ]);
    expect(v.seats).toBe(2);
  });

  it('names request files after the product and date only', () => {
    expect(offlineRequestFileName('OFFI 0001/x', new Date('2026-03-04T05:06:07Z'))).toBe(
      'OFFI_0001_x-activation-request-2026-03-04.licreq',
    );
  });
});

describe('operations', () => {
  it('reports a check-in that could not reach the server as an error (the license keeps working)', async () => {
    const { s, manager } = service();
    manager.checkInResult = {
      online: false,
      status: validStatus(),
      error: { code: 'SERVER_UNREACHABLE', message: 'offline', retryable: true },
    };
    expect(await s.checkIn()).toEqual({
      ok: false,
      error: { code: 'SERVER_UNREACHABLE', message: 'offline', retryable: true },
    });
    manager.checkInResult = { online: true, status: validStatus() };
    const ok = await s.checkIn();
    expect(ok.ok && ok.value.code).toBe('VALID');
  });

  it('saves the offline request through the files hook under a product-named file', async () => {
    const { s, saved, manager } = service();
    const r = await s.createOfflineRequest('PL123');
    expect(r.ok && r.value.saved).toBe(true);
    expect(saved[0]![0]).toContain('PL123');
    expect(saved[0]![1]).toMatch(/^OFFI_0001-activation-request-\d{4}-\d{2}-\d{2}\.licreq$/);
    expect(manager.calls).toEqual([['createOfflineRequest', 'PL123']]);
  });

  it('imports the picked file, returns null when the dialog was cancelled, and reports a bad file', async () => {
    const picked = service();
    const r = await picked.s.importLicenseFile();
    expect(r.ok && r.value?.valid).toBe(true);
    expect(picked.manager.calls).toEqual([['importLicenseFile', 'license text']]);

    const cancelled = service(new FakeManager(), null);
    expect(await cancelled.s.importLicenseFile()).toEqual({ ok: true, value: null });
    expect(cancelled.manager.calls).toEqual([]);

    const bad = service(new FakeManager(), 'bad');
    const failed = await bad.s.importLicenseFile();
    expect(!failed.ok && failed.error.code).toBe('FILE_SIGNATURE_INVALID');
  });

  it('deactivates and answers with the new status', async () => {
    const { s, manager } = service();
    manager.current = validStatus();
    const r = await s.deactivate();
    expect(r.ok && r.value.code).toBe('NO_LICENSE');
  });

  it('frees a seat and lists what is left', async () => {
    const { s } = service();
    const before = await s.listDevices('PL123');
    expect(before.ok && before.value.devices.map((d) => d.id)).toEqual(['act_other']);
    const after = await s.releaseDevice('PL123', 'act_other');
    expect(after.ok && after.value.devices).toEqual([]);
  });
});
