import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeLicenseFile, type LicensePayload, LicenseVerifier } from '@licensor/shared';
import { afterAll, describe, expect, it } from 'vitest';
import { KeyStore } from '../keys/keystore';
import { signAnswer, withinSigningCertificate } from './signing';

const dir = mkdtempSync(join(tmpdir(), 'licensor-signing-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const payload = (refreshBy: string | null, graceUntil: string | null): LicensePayload => ({
  v: 1,
  lid: 'act_1',
  eid: 'ent_1',
  family: 'A',
  product: 'p',
  seats: 1,
  fingerprint: null,
  status: 'active',
  issuedAt: new Date().toISOString(),
  notBefore: new Date().toISOString(),
  expiresAt: null,
  refreshBy,
  graceUntil,
  serverTime: new Date().toISOString(),
});

describe('License files in answers end while their signing certificate is valid', () => {
  it('clips refreshBy and graceUntil to the certificate, leaves shorter and offline files alone', async () => {
    const { store } = KeyStore.open(join(dir, 'keys'), 'test-passphrase');
    const signer = store.current();
    const end = new Date(signer.notAfter).toISOString();
    const far = new Date(signer.notAfter + 86_400_000).toISOString();
    const soon = new Date(Date.now() + 86_400_000).toISOString();

    expect(withinSigningCertificate(payload(soon, far), signer)).toMatchObject({ refreshBy: soon, graceUntil: end });
    expect(withinSigningCertificate(payload(far, far), signer)).toMatchObject({ refreshBy: end, graceUntil: end });
    const short = payload(soon, soon);
    expect(withinSigningCertificate(short, signer)).toBe(short);
    const offline = payload(null, null);
    expect(withinSigningCertificate(offline, signer)).toBe(offline);

    // Through the answer path: the signed file verifies (the client's rule holds) and carries the clipped end.
    const { text } = await signAnswer(signer, {
      status: 200,
      nonce: '',
      request: { method: 'POST', path: '/api/v1/activations' },
      body: { license: '' },
      license: { field: 'license', payload: payload(far, far) },
    });
    const file = JSON.parse(text).license as string;
    expect(decodeLicenseFile(file).payload.graceUntil).toBe(end);
    expect(new LicenseVerifier({ roots: [store.rootCertificatePem] }).verify(file).payload.refreshBy).toBe(end);
  });
});
