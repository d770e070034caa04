/**
 * The key hierarchy: an offline root certifies rotating Ed25519 signing keys. Certificates are assembled
 * with forge.asn1 (see asn1.ts) and signed with node:crypto.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  KeyObject,
  randomBytes,
  sign,
  X509Certificate,
} from 'node:crypto';
import { LicensorError } from '../errors';
import {
  bitString,
  bool,
  ed25519AlgorithmId,
  explicit,
  extension,
  fromDer,
  implicitOctets,
  integer,
  KEY_USAGE,
  name,
  namedBits,
  OID,
  octets,
  readExtensions,
  seq,
  subjectName,
  time,
  toDer,
} from './asn1';

export interface CertifiedKey {
  keyId: string;
  certificatePem: string;
  privateKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
}

/** A certificate issued for a public key whose private half lives elsewhere (e.g. an HSM or another host). */
export type CertifiedPublicKey = Omit<CertifiedKey, 'privateKey'> & { privateKey?: undefined };

export interface CertificateOptions {
  commonName: string;
  validityDays?: number;
  now?: Date;
}

const ROOT_VALIDITY_DAYS = 7305; // 20 years: the root is pinned into shipped clients.
const SIGNING_VALIDITY_DAYS = 825;
const DAY_MS = 86_400_000;

function invalid(message: string, detail?: Record<string, unknown>): never {
  throw new LicensorError('INVALID_INPUT', message, detail);
}

function spkiDer(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  if (pub.type !== 'public') invalid('Expected an asymmetric key');
  return pub.export({ type: 'spki', format: 'der' });
}

/** First 16 bytes of SHA-256 over the SPKI DER; also used as the certificates' subjectKeyIdentifier. */
function keyIdBytes(spki: Buffer): Buffer {
  return createHash('sha256').update(spki).digest().subarray(0, 16);
}

/** Key id of a key (public or private KeyObject), a certificate PEM or a public/private key PEM. */
export function keyIdOf(publicKeyOrCertPem: KeyObject | string): string {
  let key: KeyObject;
  if (publicKeyOrCertPem instanceof KeyObject) {
    key = publicKeyOrCertPem;
  } else if (typeof publicKeyOrCertPem === 'string') {
    try {
      key = publicKeyOrCertPem.includes('-----BEGIN CERTIFICATE-----')
        ? new X509Certificate(publicKeyOrCertPem).publicKey
        : createPublicKey(publicKeyOrCertPem);
    } catch (err) {
      throw new LicensorError('INVALID_INPUT', 'Not a certificate or key PEM', undefined, { cause: err });
    }
  } else {
    invalid('Expected a KeyObject or a PEM string');
  }
  return keyIdBytes(spkiDer(key)).toString('base64url');
}

function assertEd25519(key: unknown, type: 'public' | 'private', what: string): asserts key is KeyObject {
  if (!(key instanceof KeyObject) || key.type !== type || key.asymmetricKeyType !== 'ed25519') {
    invalid(`${what} must be an Ed25519 ${type} KeyObject`);
  }
}

function validity(opts: CertificateOptions, defaultDays: number): { notBefore: Date; notAfter: Date } {
  const cn = opts.commonName;
  if (typeof cn !== 'string' || cn.length === 0 || cn.length > 64) invalid('commonName must be 1–64 characters');
  const days = opts.validityDays ?? defaultDays;
  if (typeof days !== 'number' || !(days > 0) || days > 36_500) invalid('validityDays must be in (0, 36500]');
  const start = (opts.now ?? new Date()).getTime();
  if (!Number.isFinite(start)) invalid('now is not a valid date');
  // Certificates carry whole seconds; truncating keeps the returned dates equal to the certificate's own.
  const notBefore = Math.floor(start / 1000) * 1000;
  return { notBefore: new Date(notBefore), notAfter: new Date(notBefore + Math.round((days * DAY_MS) / 1000) * 1000) };
}

function randomSerial(): Buffer {
  const serial = randomBytes(16);
  // Positive (top bit clear) and minimal DER (first byte non-zero): RFC 5280 §4.1.2.2.
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  return serial;
}

/** Internal (not re-exported): the keys tests also use it to build deliberately unusual certificates. */
export interface CertificateSpec {
  issuer: ReturnType<typeof name>;
  subject: ReturnType<typeof name>;
  notBefore: Date;
  notAfter: Date;
  spki: Buffer;
  extensions: ReturnType<typeof extension>[];
}

export function buildCertificate(spec: CertificateSpec, issuerKey: KeyObject): X509Certificate {
  const tbs = seq([
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(randomSerial()),
    ed25519AlgorithmId(),
    spec.issuer,
    seq([time(spec.notBefore), time(spec.notAfter)]),
    spec.subject,
    fromDer(spec.spki), // node's SPKI, re-emitted byte for byte
    explicit(3, seq(spec.extensions)),
  ]);
  const tbsDer = toDer(tbs);
  const signature = sign(null, tbsDer, issuerKey);
  return new X509Certificate(toDer(seq([tbs, ed25519AlgorithmId(), bitString(signature)])));
}

function toCertified(cert: X509Certificate, spki: Buffer, window: { notBefore: Date; notAfter: Date }) {
  return { keyId: keyIdBytes(spki).toString('base64url'), certificatePem: cert.toString(), ...window };
}

/** A self-signed root: CA, pathLen 0 (it certifies signing keys directly), keyCertSign + cRLSign. */
export function createRootCertificate(opts: CertificateOptions): CertifiedKey {
  const window = validity(opts, ROOT_VALIDITY_DAYS);
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const spki = spkiDer(publicKey);
  const subject = name(opts.commonName);
  const cert = buildCertificate(
    {
      issuer: subject,
      subject,
      ...window,
      spki,
      extensions: [
        extension(OID.basicConstraints, true, seq([bool(true), integer(Buffer.from([0]))])),
        extension(OID.keyUsage, true, namedBits([KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign])),
        extension(OID.subjectKeyIdentifier, false, octets(keyIdBytes(spki))),
      ],
    },
    privateKey,
  );
  return { ...toCertified(cert, spki, window), privateKey };
}

export interface SigningCertificateOptions extends CertificateOptions {
  /** Certify this existing key instead of generating one; the result then has no private key. */
  publicKey?: KeyObject;
}

/**
 * Issues a signing (end-entity) certificate: CA:false, digitalSignature, authorityKeyIdentifier. Its
 * validity is clipped to the issuer's, since a chain is only valid while every certificate in it is.
 */
export function issueSigningCertificate(
  issuer: { certificatePem: string; privateKey: KeyObject },
  opts: CertificateOptions & { publicKey?: undefined },
): CertifiedKey;
export function issueSigningCertificate(
  issuer: { certificatePem: string; privateKey: KeyObject },
  opts: CertificateOptions & { publicKey: KeyObject },
): CertifiedPublicKey;
export function issueSigningCertificate(
  issuer: { certificatePem: string; privateKey: KeyObject },
  opts: SigningCertificateOptions,
): CertifiedKey | CertifiedPublicKey;
export function issueSigningCertificate(
  issuer: { certificatePem: string; privateKey: KeyObject },
  opts: SigningCertificateOptions,
): CertifiedKey | CertifiedPublicKey {
  const window = validity(opts, SIGNING_VALIDITY_DAYS);
  assertEd25519(issuer.privateKey, 'private', 'issuer.privateKey');
  let issuerCert: X509Certificate;
  try {
    issuerCert = new X509Certificate(issuer.certificatePem);
  } catch (err) {
    throw new LicensorError('INVALID_INPUT', 'issuer.certificatePem is not a certificate', undefined, { cause: err });
  }
  if (!issuerCert.ca) invalid('The issuer certificate is not a CA');
  const issuerSpki = spkiDer(issuerCert.publicKey);
  if (!spkiDer(issuer.privateKey).equals(issuerSpki))
    invalid("issuer.privateKey does not match the issuer's certificate");
  const issuerFrom = Date.parse(issuerCert.validFrom);
  const issuerTo = Date.parse(issuerCert.validTo);
  if (window.notBefore.getTime() < issuerFrom || window.notBefore.getTime() > issuerTo) {
    throw new LicensorError('CERTIFICATE_INVALID', 'The issuer certificate is not valid at the issuing time', {
      validFrom: issuerCert.validFrom,
      validTo: issuerCert.validTo,
    });
  }
  if (window.notAfter.getTime() > issuerTo) window.notAfter = new Date(issuerTo);

  let privateKey: KeyObject | undefined;
  let publicKey: KeyObject;
  if (opts.publicKey === undefined) {
    ({ publicKey, privateKey } = generateKeyPairSync('ed25519'));
  } else {
    assertEd25519(opts.publicKey, 'public', 'publicKey');
    publicKey = opts.publicKey;
  }
  const spki = spkiDer(publicKey);
  // The AKI must equal the issuer's SKI for OpenSSL to match them; fall back to our own derivation.
  let authorityKeyId: Buffer;
  let issuerName: ReturnType<typeof subjectName>;
  try {
    authorityKeyId = readExtensions(issuerCert.raw).subjectKeyId ?? keyIdBytes(issuerSpki);
    issuerName = subjectName(issuerCert.raw);
  } catch (err) {
    throw new LicensorError('INVALID_INPUT', 'Cannot read the issuer certificate', undefined, { cause: err });
  }
  const cert = buildCertificate(
    {
      issuer: issuerName,
      subject: name(opts.commonName),
      ...window,
      spki,
      extensions: [
        extension(OID.basicConstraints, true, seq([])), // cA defaults to FALSE and DER omits defaults
        extension(OID.keyUsage, true, namedBits([KEY_USAGE.digitalSignature])),
        extension(OID.subjectKeyIdentifier, false, octets(keyIdBytes(spki))),
        extension(OID.authorityKeyIdentifier, false, seq([implicitOctets(0, authorityKeyId)])),
      ],
    },
    issuer.privateKey,
  );
  const certified = toCertified(cert, spki, window);
  return privateKey ? { ...certified, privateKey } : certified;
}

/** Encrypted PKCS#8 PEM (PBES2, AES-256-CBC), so private keys are never stored in clear. */
export function encryptPrivateKey(key: KeyObject, passphrase: string): string {
  if (!(key instanceof KeyObject) || key.type !== 'private') invalid('Expected a private KeyObject');
  if (typeof passphrase !== 'string' || passphrase.length === 0) invalid('The passphrase must not be empty');
  return key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }) as string;
}

export function decryptPrivateKey(pem: string, passphrase: string): KeyObject {
  // Refuse clear-text keys: accepting them would let "encrypted at rest" silently stop being true.
  if (typeof pem !== 'string' || !pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----')) {
    invalid('Expected an encrypted PKCS#8 PEM (BEGIN ENCRYPTED PRIVATE KEY)');
  }
  if (typeof passphrase !== 'string') invalid('The passphrase must be a string');
  try {
    return createPrivateKey({ key: pem, format: 'pem', passphrase });
  } catch (err) {
    throw new LicensorError(
      'KEY_DECRYPT_FAILED',
      'Cannot decrypt the private key (wrong passphrase or damaged file)',
      undefined,
      {
        cause: err,
      },
    );
  }
}
