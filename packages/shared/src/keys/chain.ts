/**
 * Certificate path validation for the key hierarchy. Signatures, issuer matching and the CA flag come from
 * node:crypto's X509Certificate; the extensions node does not expose (pathLen, keyUsage, unknown critical
 * extensions) are read with forge.asn1 only after every signature in the path has verified.
 */
import { X509Certificate } from 'node:crypto';
import { LicensorError } from '../errors';
import { type CertificateExtensions, KEY_USAGE, OID, readExtensions } from './asn1';
import { decodeBase64Strict } from './base64';

const MAX_CHAIN_LENGTH = 5;
const PEM_BEGIN = '-----BEGIN CERTIFICATE-----';
const PEM_BLOCKS = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** A path that passed every check except time: leaf first, pinned anchor last. */
export interface VerifiedChain {
  leaf: X509Certificate;
  path: X509Certificate[];
  windows: { subject: string; notBefore: number; notAfter: number }[];
}

function chainError(reason: string, detail?: Record<string, unknown>): never {
  throw new LicensorError('CERTIFICATE_INVALID', `Certificate chain rejected: ${reason}`, { reason, ...detail });
}

/** One certificate as PEM or strict base64 DER (x5c style); undefined if it is neither. */
export function parseCertificate(input: string): X509Certificate | undefined {
  try {
    if (typeof input !== 'string') return undefined;
    if (input.includes(PEM_BEGIN)) {
      return input.indexOf(PEM_BEGIN) === input.lastIndexOf(PEM_BEGIN) ? new X509Certificate(input) : undefined;
    }
    const der = decodeBase64Strict(input, 'base64');
    if (!der || der.length === 0) return undefined;
    const cert = new X509Certificate(der);
    // OpenSSL ignores bytes after the certificate; one certificate must have exactly one encoding.
    return cert.raw.equals(der) ? cert : undefined;
  } catch {
    return undefined;
  }
}

/** Parses trust anchors; each string may hold several PEM blocks. Bad anchors are a configuration error. */
export function parsePinnedRoots(pems: readonly string[]): X509Certificate[] {
  if (!Array.isArray(pems) || pems.length === 0) {
    throw new LicensorError('INVALID_INPUT', 'At least one pinned root certificate is required');
  }
  const roots = pems.flatMap((pem) => (typeof pem === 'string' ? (pem.match(PEM_BLOCKS) ?? [pem]) : [pem]));
  return roots.map((pem, index) => {
    const root = parseCertificate(pem);
    if (!root) throw new LicensorError('INVALID_INPUT', 'A pinned root is not a certificate', { index });
    if (!root.ca) throw new LicensorError('INVALID_INPUT', 'A pinned root is not a CA certificate', { index });
    return root;
  });
}

function extensionsOf(cert: X509Certificate, index: number): CertificateExtensions {
  try {
    return readExtensions(cert.raw);
  } catch {
    return chainError(`certificate ${index} has malformed extensions`, { index });
  }
}

/** Everything but time: anchored at a pinned root (by exact DER or by a verified signature), issuers signed
 * each link, issuers are CAs within their pathLen and keyCertSign usage, the leaf is an Ed25519 non-CA. */
export function verifyChainStructure(chain: readonly string[], roots: readonly X509Certificate[]): VerifiedChain {
  if (!Array.isArray(chain) || chain.length === 0) chainError('the chain is empty');
  if (chain.length > MAX_CHAIN_LENGTH) chainError('the chain is too long', { length: chain.length });
  const certs = chain.map(
    (c, index) => parseCertificate(c) ?? chainError(`certificate ${index} cannot be parsed`, { index }),
  );
  const last = certs[certs.length - 1]!;
  // Never match an anchor by name alone: either it is byte-identical or its key verifiably signed `last`.
  let anchor = roots.find((root) => root.raw.equals(last.raw));
  if (anchor) certs.pop();
  else anchor = roots.find((root) => last.checkIssued(root) && last.verify(root.publicKey));
  if (!anchor) chainError('the chain does not lead to a pinned root', { subject: last.subject, issuer: last.issuer });
  if (certs.length === 0) chainError('the chain holds only a root, which cannot be a signing certificate');

  const path = [...certs, anchor];
  for (let i = 0; i < certs.length; i++) {
    const cert = path[i]!;
    const issuer = path[i + 1]!;
    if (!issuer.ca) chainError(`certificate ${i + 1} is not a CA`, { subject: issuer.subject });
    if (!cert.checkIssued(issuer)) chainError(`certificate ${i} was not issued by certificate ${i + 1}`);
    if (!cert.verify(issuer.publicKey)) chainError(`the signature on certificate ${i} does not verify`);
  }
  const leaf = path[0]!;
  if (leaf.ca) chainError('the signing certificate is a CA certificate', { subject: leaf.subject });
  if (leaf.publicKey.asymmetricKeyType !== 'ed25519') chainError('the signing key is not Ed25519');

  path.forEach((cert, i) => {
    const ext = extensionsOf(cert, i);
    // RFC 5280 §4.2: a critical extension the verifier does not understand makes the certificate unusable.
    const unknown = ext.critical.filter((id) => id !== OID.basicConstraints && id !== OID.keyUsage);
    if (unknown.length > 0) chainError(`certificate ${i} has unsupported critical extensions`, { oids: unknown });
    const usage = i === 0 ? KEY_USAGE.digitalSignature : KEY_USAGE.keyCertSign;
    if (ext.keyUsage && !ext.keyUsage.includes(usage)) chainError(`the key usage of certificate ${i} forbids this use`);
    // Certificates strictly between the leaf and path[i] are the intermediates path[i]'s pathLen limits.
    const pathLen = ext.basicConstraints?.pathLen;
    if (pathLen !== undefined && i - 1 > pathLen)
      chainError(`certificate ${i} allows at most ${pathLen} intermediates`);
  });

  const windows = path.map((cert) => {
    const notBefore = Date.parse(cert.validFrom);
    const notAfter = Date.parse(cert.validTo);
    if (Number.isNaN(notBefore) || Number.isNaN(notAfter))
      chainError('unreadable validity dates', { subject: cert.subject });
    return { subject: cert.subject, notBefore, notAfter };
  });
  return { leaf, path, windows };
}

export function assertChainValidAt(chain: VerifiedChain, at: Date): void {
  const t = at instanceof Date ? at.getTime() : Number.NaN;
  if (Number.isNaN(t)) chainError('the verification time is not a valid date');
  chain.windows.forEach((w, index) => {
    if (t < w.notBefore || t > w.notAfter) {
      chainError(`certificate ${index} (${w.subject}) is not valid at ${at.toISOString()}`, {
        index,
        notBefore: new Date(w.notBefore).toISOString(),
        notAfter: new Date(w.notAfter).toISOString(),
      });
    }
  });
}

/**
 * Verifies `chain` (leaf first, each PEM or base64 DER; the pinned root may be appended or omitted) against
 * the pinned roots at time `at` and returns the verified leaf. Throws CERTIFICATE_INVALID saying why.
 */
export function verifyCertificateChain(chain: string[], pinnedRootsPem: string[], at: Date): X509Certificate {
  const verified = verifyChainStructure(chain, parsePinnedRoots(pinnedRootsPem));
  assertChainValidAt(verified, at);
  return verified.leaf;
}
