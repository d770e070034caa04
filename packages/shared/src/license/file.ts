/**
 * The License file: an armoured, base64-encoded JSON envelope around a JCS-canonical payload and a detached,
 * domain-separated Ed25519 signature by a certified signing key.
 *
 *   -----BEGIN LICENSOR LICENSE-----
 *   base64( {"v":1,"alg":"EdDSA","kid":…,"x5c":[…],"payload":base64url(JCS(payload)),"sig":…} )
 *   -----END LICENSOR LICENSE-----
 */
import { KeyObject, X509Certificate } from 'node:crypto';
import { LicensorError } from '../errors';
import { canonicalize } from '../jcs';
import { decodeBase64Strict } from '../keys/base64';
import { keyIdOf } from '../keys/certificates';
import { domainSign, domainSignAsync } from '../keys/domain';
import { describeIssues, licenseEnvelopeSchema, licensePayloadSchema, licensePayloadSigningSchema } from './schema';
import { DuplicateKeyError, parseJsonStrict } from './strictJson';
import type { LicensePayload } from './types';

export const LICENSE_FILE_MAX_BYTES = 64 * 1024;
export const SUPPORTED_LICENSE_ALGORITHMS = ['EdDSA'] as const;
export type LicenseAlgorithm = (typeof SUPPORTED_LICENSE_ALGORITHMS)[number];

export const LICENSE_ARMOR_BEGIN = '-----BEGIN LICENSOR LICENSE-----';
export const LICENSE_ARMOR_END = '-----END LICENSOR LICENSE-----';

export interface LicenseEnvelope {
  v: 1;
  alg: 'EdDSA';
  kid: string;
  /** Base64 DER, signing certificate first. */
  x5c: string[];
  /** base64url of canonicalize(payload): the exact signed text. */
  payload: string;
  /** base64url Ed25519 signature over the 'license' domain prefix + `payload`. */
  sig: string;
}

export interface DecodedLicense {
  envelope: LicenseEnvelope;
  payload: LicensePayload;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function malformed(message: string, detail?: Record<string, unknown>): never {
  throw new LicensorError('FILE_MALFORMED', message, detail);
}

/** Strict: a key named twice at any depth is refused, so a signed text cannot mean two things. */
export function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return parseJsonStrict(utf8.decode(bytes));
  } catch (err) {
    if (err instanceof DuplicateKeyError) {
      return malformed(`The ${what} is ambiguous: ${err.message}`, { key: err.key.slice(0, 64), path: err.path });
    }
    return malformed(`The ${what} is not valid UTF-8 JSON`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Version first, so a future format gets UNSUPPORTED_VERSION rather than a confusing schema error. */
function checkVersion(obj: Record<string, unknown>, what: string): void {
  if (typeof obj['v'] !== 'number') malformed(`The ${what} has no version`);
  if (obj['v'] !== 1) {
    throw new LicensorError('UNSUPPORTED_VERSION', `Unsupported ${what} version ${obj['v']}`, { version: obj['v'] });
  }
}

/** The armoured block's base64 body; text outside the armour (comments, BOM) is ignored. */
function armourBody(text: string): string {
  const begin = text.indexOf(LICENSE_ARMOR_BEGIN);
  if (begin < 0) malformed('No "-----BEGIN LICENSOR LICENSE-----" line found');
  if (text.indexOf(LICENSE_ARMOR_BEGIN, begin + 1) >= 0) malformed('More than one License block found');
  const end = text.indexOf(LICENSE_ARMOR_END, begin);
  if (end < 0) malformed('No "-----END LICENSOR LICENSE-----" line found');
  if (text.indexOf(LICENSE_ARMOR_END, end + 1) >= 0) malformed('More than one License block found');
  return text.slice(begin + LICENSE_ARMOR_BEGIN.length, end).replace(/[ \t\r\n]+/g, '');
}

/**
 * Structure only, no cryptography: size, armour, base64, JSON, version, algorithm allow-list, field types
 * and the payload schema. Every failure is a LicensorError (FILE_TOO_LARGE, FILE_MALFORMED,
 * UNSUPPORTED_VERSION, UNSUPPORTED_ALGORITHM).
 */
export function decodeLicenseFile(text: string | Uint8Array): DecodedLicense {
  let source: string;
  if (typeof text === 'string') {
    // text.length > max implies more than max UTF-8 bytes; avoids measuring a huge string.
    if (text.length > LICENSE_FILE_MAX_BYTES || Buffer.byteLength(text, 'utf8') > LICENSE_FILE_MAX_BYTES) {
      throw new LicensorError('FILE_TOO_LARGE', `A License file is at most ${LICENSE_FILE_MAX_BYTES} bytes`);
    }
    source = text;
  } else if (text instanceof Uint8Array) {
    if (text.byteLength > LICENSE_FILE_MAX_BYTES) {
      throw new LicensorError('FILE_TOO_LARGE', `A License file is at most ${LICENSE_FILE_MAX_BYTES} bytes`);
    }
    // The armour is ASCII; latin1 maps every byte to one character, so text around it cannot break decoding.
    source = Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString('latin1');
  } else {
    return malformed('A License file must be text or bytes');
  }

  const body = decodeBase64Strict(armourBody(source), 'base64');
  if (!body || body.length === 0) malformed('The License body is not valid base64');
  const raw = parseJson(body, 'License envelope');
  if (!isRecord(raw)) malformed('The License envelope is not a JSON object');
  checkVersion(raw, 'License file');
  if (typeof raw['alg'] !== 'string') malformed('The License envelope has no algorithm');
  if (!(SUPPORTED_LICENSE_ALGORITHMS as readonly string[]).includes(raw['alg'])) {
    const alg = raw['alg'].slice(0, 32); // attacker-controlled: keep messages and logs short
    throw new LicensorError('UNSUPPORTED_ALGORITHM', `Unsupported signature algorithm "${alg}"`, { alg });
  }
  const envelope = licenseEnvelopeSchema.safeParse(raw);
  if (!envelope.success) malformed('The License envelope is malformed', { issues: describeIssues(envelope.error) });

  const payloadBytes = decodeBase64Strict(envelope.data.payload, 'base64url');
  if (!payloadBytes) malformed('The License payload is not valid base64url');
  const rawPayload = parseJson(payloadBytes, 'License payload');
  if (!isRecord(rawPayload)) malformed('The License payload is not a JSON object');
  checkVersion(rawPayload, 'License payload');
  const payload = licensePayloadSchema.safeParse(rawPayload);
  if (!payload.success) malformed('The License payload is malformed', { issues: describeIssues(payload.error) });
  return { envelope: envelope.data, payload: payload.data };
}

export interface LicenseSigner {
  keyId: string;
  /** The signing certificate PEM, optionally followed by intermediate certificates. */
  certificatePem: string;
  privateKey: KeyObject;
}

export interface PreparedSigner {
  certificatePem: string;
  keyId: string;
  x5c: string[];
  notBefore: number;
  notAfter: number;
}

// Checking a signer parses certificates and derives keys; do it once per private key, not once per file.
const preparedSigners = new WeakMap<KeyObject, PreparedSigner>();

export function prepareSigner(signer: LicenseSigner): PreparedSigner {
  const { privateKey, certificatePem } = signer;
  if (
    !(privateKey instanceof KeyObject) ||
    privateKey.type !== 'private' ||
    privateKey.asymmetricKeyType !== 'ed25519'
  ) {
    throw new LicensorError('INVALID_INPUT', 'The signer needs an Ed25519 private key');
  }
  let prepared = preparedSigners.get(privateKey);
  if (!prepared || prepared.certificatePem !== certificatePem) {
    prepared = checkSigner(privateKey, certificatePem);
    preparedSigners.set(privateKey, prepared);
  }
  if (signer.keyId !== prepared.keyId) {
    throw new LicensorError('INVALID_INPUT', 'signer.keyId is not the key id of its certificate', {
      expected: prepared.keyId,
    });
  }
  return prepared;
}

function checkSigner(privateKey: KeyObject, certificatePem: string): PreparedSigner {
  const pems =
    typeof certificatePem === 'string'
      ? certificatePem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)
      : null;
  if (!pems) throw new LicensorError('INVALID_INPUT', 'The signer has no certificate PEM');
  let certs: X509Certificate[];
  try {
    certs = pems.map((pem) => new X509Certificate(pem));
  } catch (err) {
    throw new LicensorError('INVALID_INPUT', 'The signer certificate cannot be parsed', undefined, { cause: err });
  }
  const leaf = certs[0]!;
  if (leaf.ca) throw new LicensorError('INVALID_INPUT', 'A CA certificate cannot sign License files');
  const keyId = keyIdOf(leaf.publicKey);
  if (keyIdOf(privateKey) !== keyId) {
    throw new LicensorError('INVALID_INPUT', 'The signing key does not match its certificate');
  }
  return {
    certificatePem,
    keyId,
    x5c: certs.map((c) => c.raw.toString('base64')),
    notBefore: Date.parse(leaf.validFrom),
    notAfter: Date.parse(leaf.validTo),
  };
}

function armour(json: string): string {
  const body = Buffer.from(json, 'utf8').toString('base64');
  const lines: string[] = [LICENSE_ARMOR_BEGIN];
  for (let i = 0; i < body.length; i += 64) lines.push(body.slice(i, i + 64));
  lines.push(LICENSE_ARMOR_END, '');
  return lines.join('\n');
}

/** Validates a payload and its signer for signing; returns the exact text to sign. */
function prepareLicense(payload: LicensePayload, signer: LicenseSigner) {
  const checked = licensePayloadSigningSchema.safeParse(payload);
  if (!checked.success) {
    throw new LicensorError('INVALID_INPUT', 'The License payload is invalid', {
      issues: describeIssues(checked.error),
    });
  }
  const prepared = prepareSigner(signer);
  const issuedAt = Date.parse(checked.data.issuedAt);
  if (issuedAt < prepared.notBefore || issuedAt > prepared.notAfter) {
    throw new LicensorError('CERTIFICATE_INVALID', 'The signing certificate is not valid at payload.issuedAt', {
      issuedAt: checked.data.issuedAt,
      notBefore: new Date(prepared.notBefore).toISOString(),
      notAfter: new Date(prepared.notAfter).toISOString(),
    });
  }
  return { prepared, encodedPayload: Buffer.from(canonicalize(checked.data), 'utf8').toString('base64url') };
}

function assembleLicense(prepared: PreparedSigner, encodedPayload: string, sig: string): string {
  const envelope: LicenseEnvelope = {
    v: 1,
    alg: 'EdDSA',
    kid: prepared.keyId,
    x5c: prepared.x5c,
    payload: encodedPayload,
    sig,
  };
  const file = armour(JSON.stringify(envelope));
  if (file.length > LICENSE_FILE_MAX_BYTES) {
    throw new LicensorError('FILE_TOO_LARGE', `The License file would exceed ${LICENSE_FILE_MAX_BYTES} bytes`);
  }
  return file;
}

/**
 * Signs a payload into an armoured License file. The payload is validated with the same schema clients use
 * (strictly: no unknown claims), and the signing certificate must be valid at `payload.issuedAt`, so the
 * server cannot produce a file its clients would reject.
 */
export function signLicense(payload: LicensePayload, signer: LicenseSigner): string {
  const { prepared, encodedPayload } = prepareLicense(payload, signer);
  return assembleLicense(prepared, encodedPayload, domainSign('license', encodedPayload, signer.privateKey));
}

/** signLicense with the signature computed on libuv's thread pool (same checks, same file). */
export async function signLicenseAsync(payload: LicensePayload, signer: LicenseSigner): Promise<string> {
  const { prepared, encodedPayload } = prepareLicense(payload, signer);
  return assembleLicense(prepared, encodedPayload, await domainSignAsync('license', encodedPayload, signer.privateKey));
}
