/**
 * Minimal DER assembly and reading for Ed25519 X.509 certificates. node:crypto can sign and verify but not
 * build certificates, and forge's `pki` cannot hold Ed25519 keys, so certificates are assembled with
 * `forge.asn1`. Nothing here verifies a signature: that is node:crypto's job (see chain.ts).
 */
import type forge from 'node-forge';
// forge's ASN.1 module and its util only: the 'node-forge' index also loads every cipher, RSA and TLS, which
// nothing here uses (≈300 kB and ≈15 ms of every `licensor-client` start). The lib/ files have no types of
// their own: they are the very objects @types/node-forge describes as forge.asn1 and forge.util.
// @ts-expect-error untyped subpath, typed below
import asn1Module from 'node-forge/lib/asn1.js';
// @ts-expect-error untyped subpath, typed below
import utilModule from 'node-forge/lib/util.js';

const asn1 = asn1Module as typeof forge.asn1;
const forgeUtil = utilModule as typeof forge.util;
type Asn1 = forge.asn1.Asn1;

export const OID = {
  ed25519: '1.3.101.112',
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
} as const;

/** keyUsage bit numbers (RFC 5280 §4.2.1.3). */
export const KEY_USAGE = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const;

const U = asn1.Class.UNIVERSAL;
const CTX = asn1.Class.CONTEXT_SPECIFIC;
const T = asn1.Type;

// forge represents bytes as "binary" (latin1) strings.
const bin = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
export const toDer = (node: Asn1): Buffer => Buffer.from(asn1.toDer(node).getBytes(), 'latin1');
export const fromDer = (der: Uint8Array): Asn1 => asn1.fromDer(bin(der), true);

export const seq = (items: Asn1[]): Asn1 => asn1.create(U, T.SEQUENCE, true, items);
export const oid = (id: string): Asn1 => asn1.create(U, T.OID, false, asn1.oidToDer(id).getBytes());
export const bool = (value: boolean): Asn1 => asn1.create(U, T.BOOLEAN, false, value ? '\xff' : '\x00');
/** `bytes` must already be a minimal positive big-endian integer. */
export const integer = (bytes: Uint8Array): Asn1 => asn1.create(U, T.INTEGER, false, bin(bytes));
export const octets = (bytes: Uint8Array): Asn1 => asn1.create(U, T.OCTETSTRING, false, bin(bytes));
export const explicit = (tag: number, inner: Asn1): Asn1 => asn1.create(CTX, tag, true, [inner]);
export const implicitOctets = (tag: number, bytes: Uint8Array): Asn1 => asn1.create(CTX, tag, false, bin(bytes));
export const ed25519AlgorithmId = (): Asn1 => seq([oid(OID.ed25519)]); // RFC 8410: parameters absent

/** A BIT STRING with no unused bits (signatures). */
export const bitString = (bytes: Uint8Array): Asn1 => asn1.create(U, T.BITSTRING, false, `\x00${bin(bytes)}`);

/** A named-bit BIT STRING in DER form: trailing zero bits dropped (X.690 §11.2.2). */
export function namedBits(bits: number[]): Asn1 {
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc((highest >> 3) + 1);
  for (const bit of bits) bytes[bit >> 3]! |= 0x80 >> (bit & 7);
  const unused = 7 - (highest & 7);
  return asn1.create(U, T.BITSTRING, false, String.fromCharCode(unused) + bin(bytes));
}

export function name(commonName: string): Asn1 {
  const cn = asn1.create(U, T.UTF8, false, forgeUtil.encodeUtf8(commonName));
  return seq([asn1.create(U, T.SET, true, [seq([oid(OID.commonName), cn])])]);
}

/** RFC 5280 §4.1.2.5: UTCTime for 1950–2049, GeneralizedTime otherwise; whole seconds. */
export function time(date: Date): Asn1 {
  const year = date.getUTCFullYear();
  return year >= 1950 && year < 2050
    ? asn1.create(U, T.UTCTIME, false, asn1.dateToUtcTime(date))
    : asn1.create(U, T.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(date));
}

export function extension(id: string, critical: boolean, value: Asn1): Asn1 {
  const parts = [oid(id)];
  if (critical) parts.push(bool(true));
  parts.push(octets(toDer(value)));
  return seq(parts);
}

function tbsFields(certDer: Uint8Array): Asn1[] {
  const cert = fromDer(certDer).value as Asn1[];
  return cert[0]!.value as Asn1[];
}

/** The subject Name of a certificate, re-used verbatim as the issuer Name of certificates it signs. */
export function subjectName(certDer: Uint8Array): Asn1 {
  const tbs = tbsFields(certDer);
  const hasVersion = tbs[0]!.tagClass === CTX;
  return tbs[hasVersion ? 5 : 4]!;
}

export interface CertificateExtensions {
  basicConstraints?: { ca: boolean; pathLen?: number };
  /** Bit numbers set in keyUsage, when the extension is present. */
  keyUsage?: number[];
  subjectKeyId?: Buffer;
  /** OIDs of all extensions marked critical. */
  critical: string[];
}

/** Reads the extensions node:crypto does not expose. Throws on malformed DER (callers map the error). */
export function readExtensions(certDer: Uint8Array): CertificateExtensions {
  const out: CertificateExtensions = { critical: [] };
  const wrapper = tbsFields(certDer).find((f) => f.tagClass === CTX && f.type === 3);
  if (!wrapper) return out;
  for (const ext of (wrapper.value as Asn1[])[0]!.value as Asn1[]) {
    const fields = ext.value as Asn1[];
    const id = asn1.derToOid(fields[0]!.value as string);
    const critical = fields.length === 3 && (fields[1]!.value as string) !== '\x00';
    const body = fields[fields.length - 1]!.value as string;
    const inner = asn1.fromDer(body, true);
    if (critical) out.critical.push(id);
    if (id === OID.basicConstraints) {
      const items = inner.value as Asn1[];
      const ca = items[0]?.type === T.BOOLEAN && items[0].value !== '\x00';
      const lenNode = items.find((i) => i.type === T.INTEGER);
      out.basicConstraints = lenNode ? { ca, pathLen: asn1.derToInteger(lenNode.value as string) } : { ca };
    } else if (id === OID.keyUsage) {
      const raw = (inner as { bitStringContents?: string }).bitStringContents ?? (inner.value as string);
      const bytes = Buffer.from(raw.slice(1), 'latin1');
      out.keyUsage = [];
      for (let bit = 0; bit < bytes.length * 8; bit++)
        if (bytes[bit >> 3]! & (0x80 >> (bit & 7))) out.keyUsage.push(bit);
    } else if (id === OID.subjectKeyIdentifier) {
      out.subjectKeyId = Buffer.from(inner.value as string, 'latin1');
    }
  }
  return out;
}
