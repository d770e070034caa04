import { createHash, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LicensorError } from '../errors';
import { createRootCertificate, domainSign, issueSigningCertificate } from '../keys';
import {
  decodeLicenseFile,
  LICENSE_ARMOR_BEGIN,
  LICENSE_ARMOR_END,
  type LicensePayload,
  LicenseVerifier,
  parseJsonStrict,
  signVerdict,
  type VerdictPayload,
  verdictLocks,
} from './index';

const T0 = new Date('2025-01-01T00:00:00Z');
const DAY = 86_400_000;
const at = (days: number) => new Date(T0.getTime() + days * DAY).toISOString();
const hash = (s: string) => createHash('sha256').update(s).digest('base64url');
const root = createRootCertificate({ commonName: 'Licensor Test Root', now: T0 });
const signing = issueSigningCertificate(root, { commonName: 'Signing 1', now: T0, validityDays: 365 });
const verifier = new LicenseVerifier({ roots: [root.certificatePem] });
const x5c = [new X509Certificate(signing.certificatePem).raw.toString('base64')];

const payload: LicensePayload = {
  v: 1,
  lid: 'act_01',
  eid: 'ent_01',
  family: 'B',
  product: 'com.example.studio',
  seats: 3,
  fingerprint: { rule: { type: 'allButOne' }, components: { machineId: [hash('m')], cpu: [hash('c')] } },
  status: 'active',
  issuedAt: at(10),
  notBefore: at(10),
  expiresAt: at(300),
  refreshBy: at(17),
  graceUntil: at(24),
  serverTime: at(10),
};
const verdict: VerdictPayload = {
  v: 1,
  lid: 'act_01',
  eid: 'ent_01',
  product: 'com.example.studio',
  code: 'REVOKED',
  message: 'This license was revoked by the vendor.',
  issuedAt: at(20),
};

function armour(body: string): string {
  const b64 = Buffer.from(body).toString('base64');
  return [LICENSE_ARMOR_BEGIN, ...(b64.match(/.{1,64}/g) ?? []), LICENSE_ARMOR_END, ''].join('\n');
}
/** The JSON text with `"key":` … inserted right after the opening brace of the object at `marker`. */
const duplicate = (json: string, marker: string, extra: string) => json.replace(marker, `${marker}${extra},`);
/** A genuinely signed License file whose payload text is exactly `payloadText`. */
function signedWithPayloadText(payloadText: string, envelopeTransform = (e: string) => e): string {
  const encoded = Buffer.from(payloadText).toString('base64url');
  const sig = domainSign('license', encoded, signing.privateKey);
  const envelope = JSON.stringify({ v: 1, alg: 'EdDSA', kid: signing.keyId, x5c, payload: encoded, sig });
  return armour(envelopeTransform(envelope));
}
function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LicensorError);
    return (err as LicensorError).code;
  }
  return 'no error';
}

describe('strict JSON: duplicate keys are refused at every level (issue 13, item 10)', () => {
  const payloadText = JSON.stringify(payload);

  it('accepts the same text without duplicates (the control)', () => {
    expect(verifier.verify(signedWithPayloadText(payloadText)).payload.seats).toBe(3);
  });

  it('refuses a duplicate key in the envelope, even when both values are the same', () => {
    const twoKids = signedWithPayloadText(payloadText, (e) => duplicate(e, '{', `"kid":"${signing.keyId}"`));
    expect(codeOf(() => decodeLicenseFile(twoKids))).toBe('FILE_MALFORMED');
    expect(codeOf(() => verifier.verify(twoKids))).toBe('FILE_MALFORMED');
    const twoAlgs = signedWithPayloadText(payloadText, (e) => duplicate(e, '{', '"alg":"none"'));
    expect(codeOf(() => verifier.verify(twoAlgs))).toBe('FILE_MALFORMED');
  });

  it('refuses a signed payload naming a claim twice (last-one-wins would grant 999 seats)', () => {
    const file = signedWithPayloadText(duplicate(payloadText, '{', '"seats":999'));
    expect(codeOf(() => verifier.verify(file))).toBe('FILE_MALFORMED');
    try {
      verifier.verify(file);
    } catch (err) {
      expect((err as LicensorError).message).toMatch(/"seats" appears twice/);
    }
  });

  it('refuses duplicates nested in the fingerprint, its components and its rule, also when spelled with escapes', () => {
    const nested = [
      duplicate(payloadText, '"fingerprint":{', '"rule":{"type":"all"}'),
      duplicate(payloadText, '"components":{', `"cpu":["${hash('other')}"]`),
      duplicate(payloadText, '"rule":{', '"type":"most"'),
      duplicate(payloadText, '{', '"\\u0073eats":999'),
    ];
    for (const text of nested) {
      expect(() => JSON.parse(text)).not.toThrow(); // plain JSON.parse would take it
      expect(codeOf(() => verifier.verify(signedWithPayloadText(text)))).toBe('FILE_MALFORMED');
    }
  });

  it('parseJsonStrict: equal keys in different objects, keys inside strings and arrays of objects are fine', () => {
    expect(parseJsonStrict('{"a":{"a":1},"b":[{"a":1},{"a":2}],"c":"\\"a\\":1,\\"a\\":2"}')).toEqual({
      a: { a: 1 },
      b: [{ a: 1 }, { a: 2 }],
      c: '"a":1,"a":2',
    });
    expect(() => parseJsonStrict('{"b":[{"a":1,"a":2}]}')).toThrow(/"a" appears twice in .b\[\]/);
    expect(() => parseJsonStrict('{"x":{"y":{"z":1,"z":1}}}')).toThrow(/"z" appears twice in .x.y/);
    expect(() => parseJsonStrict('{"a":1,')).toThrow(SyntaxError);
  });
});

describe('signed verdict records (issue 13, item 5)', () => {
  it('round-trips, bound to activation, entitlement, product and time', () => {
    const record = signVerdict(verdict, signing);
    expect(record).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(verifier.verifyVerdict(record)).toEqual({ payload: verdict, signingKeyId: signing.keyId });
  });

  it('is domain-separated from License files both ways', () => {
    const record = signVerdict(verdict, signing);
    const envelope = JSON.parse(Buffer.from(record, 'base64url').toString('utf8'));
    // The verdict's exact envelope armoured as a License file fails (payload schema or signature domain).
    expect(codeOf(() => verifier.verify(armour(JSON.stringify(envelope))))).not.toBe('no error');
    // A License signature over a verdict payload does not make a verdict.
    const forged = { ...envelope, sig: domainSign('license', envelope.payload, signing.privateKey) };
    const forgedText = Buffer.from(JSON.stringify(forged)).toString('base64url');
    expect(codeOf(() => verifier.verifyVerdict(forgedText))).toBe('FILE_SIGNATURE_INVALID');
  });

  it('refuses a foreign root, an edited payload, duplicate keys and unknown claims', () => {
    const otherRoot = createRootCertificate({ commonName: 'Licensor Test Root', now: T0 });
    const otherSigning = issueSigningCertificate(otherRoot, { commonName: 'S', now: T0, validityDays: 365 });
    expect(codeOf(() => verifier.verifyVerdict(signVerdict(verdict, otherSigning)))).toBe('CERTIFICATE_INVALID');
    const envelope = JSON.parse(Buffer.from(signVerdict(verdict, signing), 'base64url').toString('utf8'));
    const edit = (p: string) =>
      Buffer.from(JSON.stringify({ ...envelope, payload: Buffer.from(p).toString('base64url') })).toString('base64url');
    const text = JSON.stringify(verdict);
    expect(codeOf(() => verifier.verifyVerdict(edit(text.replace('REVOKED', 'FROZEN'))))).toBe(
      'FILE_SIGNATURE_INVALID',
    );
    const signedText = (p: string) => {
      const encoded = Buffer.from(p).toString('base64url');
      const sig = domainSign('verdict', encoded, signing.privateKey);
      return Buffer.from(JSON.stringify({ ...envelope, payload: encoded, sig })).toString('base64url');
    };
    expect(verifier.verifyVerdict(signedText(text)).payload).toEqual(verdict);
    expect(codeOf(() => verifier.verifyVerdict(signedText(duplicate(text, '{', '"code":"FROZEN"'))))).toBe(
      'FILE_MALFORMED',
    );
    expect(codeOf(() => verifier.verifyVerdict(signedText(duplicate(text, '{', '"extra":1'))))).toBe('FILE_MALFORMED');
    const envText = Buffer.from(signVerdict(verdict, signing), 'base64url').toString('utf8');
    const twoSigs = Buffer.from(duplicate(envText, '{', `"sig":"${envelope.sig}"`)).toString('base64url');
    expect(codeOf(() => verifier.verifyVerdict(twoSigs))).toBe('FILE_MALFORMED');
  });

  it('locks files of the same activation (or entitlement) issued at or before it, and no newer one', () => {
    const file = (o: Partial<LicensePayload>) => ({ ...payload, ...o });
    expect(verdictLocks(verdict, file({}))).toBe(true);
    expect(verdictLocks(verdict, file({ issuedAt: verdict.issuedAt }))).toBe(true);
    expect(verdictLocks(verdict, file({ issuedAt: at(21) }))).toBe(false);
    expect(verdictLocks(verdict, file({ lid: 'act_other' }))).toBe(true); // REVOKED is about the entitlement
    expect(verdictLocks(verdict, file({ lid: 'act_other', eid: 'ent_other' }))).toBe(false);
    expect(verdictLocks(verdict, file({ product: 'com.example.other' }))).toBe(false);
    const seatGone: VerdictPayload = { ...verdict, code: 'NOT_FOUND' };
    expect(verdictLocks(seatGone, file({}))).toBe(true);
    expect(verdictLocks(seatGone, file({ lid: 'act_other' }))).toBe(false); // only this device's seat
  });

  it('refuses to sign a record its clients would reject', () => {
    expect(codeOf(() => signVerdict({ ...verdict, code: 'VALID' as 'REVOKED' }, signing))).toBe('INVALID_INPUT');
    expect(codeOf(() => signVerdict({ ...verdict, issuedAt: at(400) }, signing))).toBe('CERTIFICATE_INVALID');
  });
});
