import { createPublicKey, generateKeyPairSync, sign, verify, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type LicensorCode, LicensorError } from '../errors';
import { KEY_USAGE, OID, readExtensions } from './asn1';
import {
  createRootCertificate,
  decryptPrivateKey,
  encryptPrivateKey,
  issueSigningCertificate,
  keyIdOf,
} from './certificates';

function expectCode(fn: () => unknown, code: LicensorCode): LicensorError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LicensorError);
    expect((err as LicensorError).code).toBe(code);
    return err as LicensorError;
  }
  return expect.unreachable(`expected ${code}`);
}

const NOW = new Date('2025-01-01T10:20:30.456Z');
const DAY = 86_400_000;
const root = createRootCertificate({ commonName: 'Licensor Test Root', now: NOW });
const rootCert = new X509Certificate(root.certificatePem);

describe('createRootCertificate', () => {
  it('creates a self-signed Ed25519 CA with the agreed extensions', () => {
    expect(rootCert.subject).toBe('CN=Licensor Test Root');
    expect(rootCert.issuer).toBe(rootCert.subject);
    expect(rootCert.ca).toBe(true);
    expect(rootCert.verify(rootCert.publicKey)).toBe(true);
    expect(rootCert.checkIssued(rootCert)).toBe(true);
    expect(rootCert.publicKey.asymmetricKeyType).toBe('ed25519');
    expect(root.privateKey.type).toBe('private');
    const ext = readExtensions(rootCert.raw);
    expect(ext.basicConstraints).toEqual({ ca: true, pathLen: 0 });
    expect(ext.keyUsage).toEqual([KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign]);
    expect(ext.critical.sort()).toEqual([OID.keyUsage, OID.basicConstraints].sort());
    expect(ext.subjectKeyId?.toString('base64url')).toBe(root.keyId);
  });

  it('uses whole-second validity, 7305 days by default, and a random positive serial', () => {
    expect(root.notBefore.toISOString()).toBe('2025-01-01T10:20:30.000Z');
    expect(root.notAfter.getTime() - root.notBefore.getTime()).toBe(7305 * DAY);
    expect(Date.parse(rootCert.validFrom)).toBe(root.notBefore.getTime());
    expect(Date.parse(rootCert.validTo)).toBe(root.notAfter.getTime());
    const other = createRootCertificate({ commonName: 'Licensor Test Root', now: NOW, validityDays: 1 });
    expect(new X509Certificate(other.certificatePem).serialNumber).not.toBe(rootCert.serialNumber);
    expect(Number.parseInt(rootCert.serialNumber.slice(0, 2), 16)).toBeLessThan(0x80);
  });

  it('encodes dates from 2050 on as GeneralizedTime', () => {
    const late = createRootCertificate({
      commonName: 'Late',
      now: new Date('2049-06-01T00:00:00Z'),
      validityDays: 400,
    });
    const cert = new X509Certificate(late.certificatePem);
    expect(Date.parse(cert.validTo)).toBe(late.notAfter.getTime());
    expect(cert.verify(cert.publicKey)).toBe(true);
  });

  it('rejects bad options', () => {
    expectCode(() => createRootCertificate({ commonName: '' }), 'INVALID_INPUT');
    expectCode(() => createRootCertificate({ commonName: 'x'.repeat(65) }), 'INVALID_INPUT');
    expectCode(() => createRootCertificate({ commonName: 'x', validityDays: 0 }), 'INVALID_INPUT');
    expectCode(() => createRootCertificate({ commonName: 'x', now: new Date(Number.NaN) }), 'INVALID_INPUT');
  });
});

describe('issueSigningCertificate', () => {
  const signing = issueSigningCertificate(root, { commonName: 'Signing 1', now: NOW });
  const cert = new X509Certificate(signing.certificatePem);

  it('issues a non-CA digitalSignature certificate chained to the issuer', () => {
    expect(cert.ca).toBe(false);
    expect(cert.issuer).toBe(rootCert.subject);
    expect(cert.checkIssued(rootCert)).toBe(true);
    expect(cert.verify(rootCert.publicKey)).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(false);
    const ext = readExtensions(cert.raw);
    expect(ext.basicConstraints).toEqual({ ca: false });
    expect(ext.keyUsage).toEqual([KEY_USAGE.digitalSignature]);
    expect(ext.subjectKeyId?.toString('base64url')).toBe(signing.keyId);
    expect(signing.notAfter.getTime() - signing.notBefore.getTime()).toBe(825 * DAY);
    const data = Buffer.from('hello');
    expect(verify(null, data, cert.publicKey, sign(null, data, signing.privateKey))).toBe(true);
  });

  it('clips the validity to the issuer', () => {
    const shortRoot = createRootCertificate({ commonName: 'Short', now: NOW, validityDays: 10 });
    const clipped = issueSigningCertificate(shortRoot, { commonName: 'S', now: NOW, validityDays: 825 });
    expect(clipped.notAfter).toEqual(shortRoot.notAfter);
    expect(Date.parse(new X509Certificate(clipped.certificatePem).validTo)).toBe(shortRoot.notAfter.getTime());
  });

  it('certifies an existing public key without returning a private key', () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    const certified = issueSigningCertificate(root, { commonName: 'HSM key', now: NOW, publicKey });
    expect(certified.privateKey).toBeUndefined();
    expect(certified.keyId).toBe(keyIdOf(publicKey));
    expect(new X509Certificate(certified.certificatePem).publicKey.equals(publicKey)).toBe(true);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    expectCode(() => issueSigningCertificate(root, { commonName: 'x', publicKey: rsa }), 'INVALID_INPUT');
  });

  it('refuses an issuer that cannot issue', () => {
    const other = createRootCertificate({ commonName: 'Other', now: NOW });
    const mismatched = { certificatePem: root.certificatePem, privateKey: other.privateKey };
    expectCode(() => issueSigningCertificate(mismatched, { commonName: 'x', now: NOW }), 'INVALID_INPUT');
    expectCode(() => issueSigningCertificate(signing, { commonName: 'x', now: NOW }), 'INVALID_INPUT');
    expectCode(
      () => issueSigningCertificate({ ...root, certificatePem: 'nope' }, { commonName: 'x' }),
      'INVALID_INPUT',
    );
    const later = new Date(root.notAfter.getTime() + DAY);
    expectCode(() => issueSigningCertificate(root, { commonName: 'x', now: later }), 'CERTIFICATE_INVALID');
  });
});

describe('keyIdOf', () => {
  it('is the same 16-byte base64url id for a certificate, its public key, private key and PEM', () => {
    expect(root.keyId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(keyIdOf(root.certificatePem)).toBe(root.keyId);
    expect(keyIdOf(rootCert.publicKey)).toBe(root.keyId);
    expect(keyIdOf(root.privateKey)).toBe(root.keyId);
    expect(keyIdOf(createPublicKey(root.privateKey).export({ type: 'spki', format: 'pem' }) as string)).toBe(
      root.keyId,
    );
  });

  it('rejects input that is not a key', () => {
    expectCode(() => keyIdOf('garbage'), 'INVALID_INPUT');
    expectCode(() => keyIdOf(42 as unknown as string), 'INVALID_INPUT');
  });
});

describe('private key encryption', () => {
  it('round-trips through encrypted PKCS#8', () => {
    const pem = encryptPrivateKey(root.privateKey, 'correct horse');
    expect(pem).toContain('-----BEGIN ENCRYPTED PRIVATE KEY-----');
    const key = decryptPrivateKey(pem, 'correct horse');
    expect(keyIdOf(key)).toBe(root.keyId);
  });

  it('fails with KEY_DECRYPT_FAILED on a wrong passphrase or damaged file', () => {
    const pem = encryptPrivateKey(root.privateKey, 'correct horse');
    expectCode(() => decryptPrivateKey(pem, 'wrong horse'), 'KEY_DECRYPT_FAILED');
    expectCode(() => decryptPrivateKey(pem, ''), 'KEY_DECRYPT_FAILED');
    const truncated = pem.split('\n').toSpliced(2, 1).join('\n');
    expectCode(() => decryptPrivateKey(truncated, 'correct horse'), 'KEY_DECRYPT_FAILED');
  });

  it('refuses clear-text keys and empty passphrases', () => {
    const clear = root.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    expectCode(() => decryptPrivateKey(clear, 'x'), 'INVALID_INPUT');
    expectCode(() => encryptPrivateKey(root.privateKey, ''), 'INVALID_INPUT');
    expectCode(() => encryptPrivateKey(rootCert.publicKey, 'x'), 'INVALID_INPUT');
  });
});
