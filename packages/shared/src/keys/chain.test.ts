import { createPublicKey, generateKeyPairSync, type KeyObject, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LicensorError } from '../errors';
import { bool, extension, integer, KEY_USAGE, name, namedBits, OID, octets, oid, seq, subjectName } from './asn1';
import { buildCertificate, createRootCertificate, issueSigningCertificate } from './certificates';
import { verifyCertificateChain } from './chain';

const NOW = new Date('2025-01-01T00:00:00Z');
const AT = new Date('2025-06-01T00:00:00Z');
const DAY = 86_400_000;

const root = createRootCertificate({ commonName: 'Licensor Test Root', now: NOW });
const signing = issueSigningCertificate(root, { commonName: 'Signing 1', now: NOW, validityDays: 365 });
const b64 = (pem: string) => new X509Certificate(pem).raw.toString('base64');

function rejects(chain: string[], roots: string[], at: Date, reason: RegExp): void {
  try {
    verifyCertificateChain(chain, roots, at);
  } catch (err) {
    expect(err).toBeInstanceOf(LicensorError);
    expect((err as LicensorError).code).toBe('CERTIFICATE_INVALID');
    expect((err as LicensorError).message).toMatch(reason);
    return;
  }
  expect.unreachable('chain should have been rejected');
}

/** Builds certificates the public API refuses to make, to exercise each validation rule. */
function rawCert(opts: {
  issuerPem: string;
  issuerKey: KeyObject;
  cn: string;
  ca?: boolean;
  pathLen?: number;
  usage?: number[];
  extra?: ReturnType<typeof extension>[];
}): { pem: string; privateKey: KeyObject } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const bc = opts.ca ? [bool(true), ...(opts.pathLen === undefined ? [] : [integer(Buffer.from([opts.pathLen]))])] : [];
  const cert = buildCertificate(
    {
      issuer: subjectName(new X509Certificate(opts.issuerPem).raw),
      subject: name(opts.cn),
      notBefore: NOW,
      notAfter: new Date(NOW.getTime() + 365 * DAY),
      spki: publicKey.export({ type: 'spki', format: 'der' }),
      extensions: [
        extension(OID.basicConstraints, true, seq(bc)),
        extension(OID.keyUsage, true, namedBits(opts.usage ?? [KEY_USAGE.digitalSignature])),
        ...(opts.extra ?? []),
      ],
    },
    opts.issuerKey,
  );
  return { pem: cert.toString(), privateKey };
}

describe('verifyCertificateChain', () => {
  it('accepts the leaf alone, with the root appended, and as base64 DER', () => {
    for (const chain of [
      [signing.certificatePem],
      [signing.certificatePem, root.certificatePem],
      [b64(signing.certificatePem)],
      [b64(signing.certificatePem), b64(root.certificatePem)],
    ]) {
      const leaf = verifyCertificateChain(chain, [root.certificatePem], AT);
      expect(leaf.subject).toBe('CN=Signing 1');
    }
  });

  it('finds the right root among several pinned roots, also in one bundle string', () => {
    const other = createRootCertificate({ commonName: 'Licensor Test Root', now: NOW });
    const leaf = verifyCertificateChain([signing.certificatePem], [other.certificatePem + root.certificatePem], AT);
    expect(leaf.subject).toBe('CN=Signing 1');
  });

  it('rejects chains that do not lead to a pinned root', () => {
    const other = createRootCertificate({ commonName: 'Other Root', now: NOW });
    rejects([signing.certificatePem], [other.certificatePem], AT, /pinned root/);
    // A self-made root with the same subject name is not the pinned root.
    const fake = createRootCertificate({ commonName: 'Licensor Test Root', now: NOW });
    const fakeLeaf = issueSigningCertificate(fake, { commonName: 'Signing 1', now: NOW });
    rejects([fakeLeaf.certificatePem], [root.certificatePem], AT, /pinned root/);
    rejects([fakeLeaf.certificatePem, fake.certificatePem], [root.certificatePem], AT, /pinned root/);
    rejects([fakeLeaf.certificatePem, root.certificatePem], [root.certificatePem], AT, /not issued/);
    // Names (and absent key ids) that match are not enough: the signature must verify with the root's key.
    const forged = rawCert({ issuerPem: root.certificatePem, issuerKey: fake.privateKey, cn: 'Forged' });
    rejects([forged.pem, root.certificatePem], [root.certificatePem], AT, /signature on certificate 0/);
    rejects([forged.pem], [root.certificatePem], AT, /pinned root/);
  });

  it('rejects empty, unparseable, padded and over-long chains', () => {
    rejects([], [root.certificatePem], AT, /empty/);
    rejects(['not a cert'], [root.certificatePem], AT, /cannot be parsed/);
    const padded = Buffer.concat([new X509Certificate(signing.certificatePem).raw, Buffer.from([0])]).toString(
      'base64',
    );
    rejects([padded], [root.certificatePem], AT, /cannot be parsed/);
    rejects([`${b64(signing.certificatePem)} `], [root.certificatePem], AT, /cannot be parsed/);
    rejects(Array(6).fill(signing.certificatePem), [root.certificatePem], AT, /too long/);
  });

  it('rejects a root used as the signing certificate', () => {
    rejects([root.certificatePem], [root.certificatePem], AT, /only a root/);
  });

  it('checks every certificate is valid at the given time', () => {
    rejects([signing.certificatePem], [root.certificatePem], new Date(NOW.getTime() - 1000), /not valid at/);
    rejects(
      [signing.certificatePem],
      [root.certificatePem],
      new Date(NOW.getTime() + 366 * DAY),
      /Signing 1.*not valid/,
    );
    const shortRoot = createRootCertificate({ commonName: 'Short', now: NOW, validityDays: 30 });
    const leaf = issueSigningCertificate(shortRoot, { commonName: 'L', now: NOW });
    rejects([leaf.certificatePem], [shortRoot.certificatePem], new Date(NOW.getTime() + 31 * DAY), /not valid at/);
    rejects([signing.certificatePem], [root.certificatePem], new Date(Number.NaN), /not a valid date/);
  });

  it('rejects a leaf that is a CA, an issuer that is not, and pathLen violations', () => {
    const issuer = { issuerPem: root.certificatePem, issuerKey: root.privateKey };
    const caLeaf = rawCert({ ...issuer, cn: 'CA leaf', ca: true, usage: [KEY_USAGE.keyCertSign] });
    rejects([caLeaf.pem], [root.certificatePem], AT, /signing certificate is a CA/);

    const underLeaf = rawCert({ issuerPem: signing.certificatePem, issuerKey: signing.privateKey, cn: 'Under leaf' });
    rejects([underLeaf.pem, signing.certificatePem], [root.certificatePem], AT, /not a CA/);

    // The root has pathLen 0, so an intermediate CA below it may not issue.
    const inter = rawCert({ ...issuer, cn: 'Intermediate', ca: true, usage: [KEY_USAGE.keyCertSign] });
    const deep = rawCert({ issuerPem: inter.pem, issuerKey: inter.privateKey, cn: 'Deep' });
    rejects([deep.pem, inter.pem], [root.certificatePem], AT, /at most 0 intermediates/);

    // The same shape under a root that allows one intermediate is accepted.
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const openRoot = buildCertificate(
      {
        issuer: name('Open Root'),
        subject: name('Open Root'),
        notBefore: NOW,
        notAfter: new Date(NOW.getTime() + 365 * DAY),
        spki,
        extensions: [
          extension(OID.basicConstraints, true, seq([bool(true), integer(Buffer.from([1]))])),
          extension(OID.keyUsage, true, namedBits([KEY_USAGE.keyCertSign])),
        ],
      },
      privateKey,
    ).toString();
    const inter2 = rawCert({
      issuerPem: openRoot,
      issuerKey: privateKey,
      cn: 'I2',
      ca: true,
      usage: [KEY_USAGE.keyCertSign],
    });
    const leaf2 = rawCert({ issuerPem: inter2.pem, issuerKey: inter2.privateKey, cn: 'Leaf 2' });
    expect(verifyCertificateChain([leaf2.pem, inter2.pem], [openRoot], AT).subject).toBe('CN=Leaf 2');
    expect(createPublicKey(privateKey).equals(publicKey)).toBe(true);
  });

  it('enforces key usage and unknown critical extensions', () => {
    const issuer = { issuerPem: root.certificatePem, issuerKey: root.privateKey };
    const noSign = rawCert({ ...issuer, cn: 'Encipher only', usage: [2] });
    rejects([noSign.pem], [root.certificatePem], AT, /key usage/);
    const critical = rawCert({ ...issuer, cn: 'Odd', extra: [extension('1.2.3.4.5', true, octets(Buffer.from('x')))] });
    rejects([critical.pem], [root.certificatePem], AT, /unsupported critical/);
    const nonCritical = rawCert({ ...issuer, cn: 'Fine', extra: [extension('1.2.3.4.5', false, oid('1.2.3'))] });
    expect(verifyCertificateChain([nonCritical.pem], [root.certificatePem], AT).subject).toBe('CN=Fine');
  });

  it('rejects bad pinned roots as a configuration error', () => {
    for (const roots of [[], ['nope'], [signing.certificatePem]]) {
      try {
        verifyCertificateChain([signing.certificatePem], roots, AT);
        expect.unreachable();
      } catch (err) {
        expect((err as LicensorError).code).toBe('INVALID_INPUT');
      }
    }
  });
});
