import { createHash, X509Certificate } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type LicensorCode, LicensorError } from '../errors';
import { canonicalize } from '../jcs';
import { createRootCertificate, domainSign, issueSigningCertificate } from '../keys';
import {
  decodeLicenseFile,
  LICENSE_ARMOR_BEGIN,
  LICENSE_ARMOR_END,
  LICENSE_FILE_MAX_BYTES,
  type LicensePayload,
  LicenseVerifier,
  signLicense,
  signLicenseAsync,
} from './index';

const DAY = 86_400_000;
const T0 = new Date('2025-01-01T00:00:00Z');
const at = (days: number) => new Date(T0.getTime() + days * DAY).toISOString();
const hash = (s: string) => createHash('sha256').update(s).digest('base64url');

const root = createRootCertificate({ commonName: 'Licensor Test Root', now: T0 });
const signing = issueSigningCertificate(root, { commonName: 'Signing 1', now: T0, validityDays: 365 });
const verifier = new LicenseVerifier({ roots: [root.certificatePem] });

function makePayload(overrides: Partial<LicensePayload> = {}): LicensePayload {
  return {
    v: 1,
    lid: 'act_01HZX3K9',
    eid: 'PL2025ABCDEF',
    family: 'B',
    product: 'com.example.studio',
    sku: 'pro-annual',
    entitlements: ['export', 'cloud-sync'],
    seats: 3,
    fingerprint: {
      rule: { type: 'allButOne' },
      components: {
        machineId: [hash('m')],
        hardwareUuid: [hash('h')],
        baseboardSerial: [hash('b')],
        cpu: [hash('c')],
        diskSerials: [hash('d1'), hash('d2')].sort(),
        macs: [hash('mac')],
      },
    },
    deviceKey: hash('device'),
    status: 'active',
    issuedAt: at(59),
    notBefore: at(59),
    expiresAt: at(424),
    refreshBy: at(66),
    graceUntil: at(73),
    serverTime: at(59),
    ...overrides,
  };
}

const payload = makePayload();
const file = signLicense(payload, signing);

function expectCode(fn: () => unknown, code: LicensorCode | LicensorCode[]): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LicensorError);
    expect([code].flat()).toContain((err as LicensorError).code);
    return;
  }
  expect.unreachable(`expected ${code}`);
}

/**
 * What `fn` threw: the LicensorError's code, or a description of anything else (no throw, another error). For the
 * loops of thousands of attempts, which collect what went wrong and assert once: an `expect` per attempt cost
 * more than the attempt.
 */
function thrownCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof LicensorError ? err.code : `not a LicensorError: ${String(err)}`;
  }
  return 'no error';
}

function armour(body: Uint8Array | string): string {
  const b64 = Buffer.from(body).toString('base64');
  return [LICENSE_ARMOR_BEGIN, ...(b64.match(/.{1,64}/g) ?? []), LICENSE_ARMOR_END, ''].join('\n');
}

/**
 * The bit-flip tests are exhaustive in the full tier (`npm run test:full`, LICENSOR_FULL=1: every bit of every
 * byte, ≈ 25 s); `npm test` flips one bit of every byte, the bit rotating with the position, so every byte —
 * every field of the envelope and of the certificate — is still hit, at an eighth of the cost.
 */
const FULL = Boolean(process.env.LICENSOR_FULL);
const bitsToFlip = (position: number, bits: number): number[] =>
  FULL ? Array.from({ length: bits }, (_, b) => b) : [position % bits];

const bodyOf = (text: string) => Buffer.from(text.split('\n').slice(1, -2).join(''), 'base64');
const envelopeOf = (text: string): Record<string, unknown> => JSON.parse(bodyOf(text).toString('utf8'));
const reseal = (envelope: Record<string, unknown>) => armour(JSON.stringify(envelope));

/** The x5c of a signer's certificate, parsed once per signer (the payload fuzzer signs thousands of payloads). */
const x5cs = new WeakMap<typeof signing, string[]>();
const x5cOf = (signer: typeof signing): string[] => {
  let x5c = x5cs.get(signer);
  if (!x5c) {
    x5c = [new X509Certificate(signer.certificatePem).raw.toString('base64')];
    x5cs.set(signer, x5c);
  }
  return x5c;
};

/** Signs an arbitrary payload object with a real key, bypassing signLicense's checks. */
function signRaw(rawPayload: unknown, signer = signing): string {
  const encoded = Buffer.from(JSON.stringify(rawPayload)).toString('base64url');
  return reseal({
    v: 1,
    alg: 'EdDSA',
    kid: signer.keyId,
    x5c: x5cOf(signer),
    payload: encoded,
    sig: domainSign('license', encoded, signer.privateKey),
  });
}

describe('signLicense / LicenseVerifier', () => {
  it('round-trips a License file', () => {
    const result = verifier.verify(file);
    expect(result.payload).toEqual(payload);
    expect(result.signingKeyId).toBe(signing.keyId);
    expect(result.envelope).toMatchObject({ v: 1, alg: 'EdDSA', kid: signing.keyId });
    expect(result.envelope.x5c).toEqual([new X509Certificate(signing.certificatePem).raw.toString('base64')]);
    expect(Buffer.from(result.envelope.payload, 'base64url').toString('utf8')).toBe(canonicalize(payload));
  });

  it('writes a 64-column armour', () => {
    const lines = file.split('\n');
    expect(lines[0]).toBe(LICENSE_ARMOR_BEGIN);
    expect(lines.at(-2)).toBe(LICENSE_ARMOR_END);
    expect(lines.at(-1)).toBe('');
    for (const line of lines.slice(1, -3)) expect(line).toHaveLength(64);
    expect(file.length).toBeLessThan(4096);
  });

  it('tolerates CRLF, surrounding whitespace, comments, a BOM, other wrapping and bytes', () => {
    const variants = [
      file.replace(/\n/g, '\r\n'),
      `\n\n   ${file}   \n\n`,
      `# License for ACME Corp — 许可证\n# issued 2025-03-01\n\n${file}\nthanks!\n`,
      `\uFEFF${file}`,
      [
        LICENSE_ARMOR_BEGIN,
        ...(bodyOf(file)
          .toString('base64')
          .match(/.{1,76}/g) ?? []),
        LICENSE_ARMOR_END,
      ].join('\n'),
      file.trimEnd(),
    ];
    for (const text of variants) {
      expect(verifier.verify(text).payload).toEqual(payload);
      expect(verifier.verify(Buffer.from(text, 'utf8')).payload).toEqual(payload);
    }
    expect(verifier.verify(new Uint8Array(Buffer.from(file))).signingKeyId).toBe(signing.keyId);
  });

  it('decodes structure without any key', () => {
    const decoded = decodeLicenseFile(file);
    expect(decoded.payload).toEqual(payload);
    expect(decoded.envelope.kid).toBe(signing.keyId);
  });

  it('keeps both a perpetual offline file and a KooGallery-bound file intact', () => {
    const offline = makePayload({
      family: 'C',
      fingerprint: { rule: { type: 'atLeast', count: 2 }, koogallery: 'AA-BB|DISK1|BOARD|CPU' },
      expiresAt: null,
      refreshBy: null,
      graceUntil: null,
      sku: undefined,
      test: true,
    });
    const { sku: _omitted, ...expected } = offline;
    expect(verifier.verify(signLicense(offline, signing)).payload).toEqual(expected);
    const unbound = makePayload({ fingerprint: null });
    expect(verifier.verify(signLicense(unbound, signing)).payload.fingerprint).toBeNull();
  });

  it(`rejects ${FULL ? 'every single-bit flip' : 'a single-bit flip in every byte'} of the envelope bytes`, () => {
    const body = bodyOf(file);
    const codes = new Map<string, number>();
    let attempts = 0;
    const wrong: string[] = [];
    for (let i = 0; i < body.length; i++) {
      for (const bit of bitsToFlip(i, 8)) {
        const copy = Buffer.from(body);
        copy[i]! ^= 1 << bit;
        attempts++;
        const code = thrownCode(() => verifier.verify(armour(copy)));
        if (code === 'no error' || code.startsWith('not a LicensorError')) wrong.push(`byte ${i} bit ${bit}: ${code}`);
        else codes.set(code, (codes.get(code) ?? 0) + 1);
      }
    }
    expect(wrong).toEqual([]);
    expect(attempts).toBe(body.length * (FULL ? 8 : 1));
    expect(attempts).toBeGreaterThan(FULL ? 10_000 : 1_250);
    // Flips land in every part: structure, version, algorithm, kid/payload/sig, and the certificate.
    for (const code of ['FILE_MALFORMED', 'UNSUPPORTED_VERSION', 'UNSUPPORTED_ALGORITHM', 'FILE_SIGNATURE_INVALID']) {
      expect(codes.get(code)).toBeGreaterThan(0);
    }
    expect(codes.get('CERTIFICATE_INVALID')).toBeGreaterThan(0);
  });

  it(`rejects ${FULL ? 'every single-bit flip' : 'a single-bit flip'} of every armour body character`, () => {
    const begin = file.indexOf('\n') + 1;
    const end = file.indexOf(LICENSE_ARMOR_END);
    const refusals = new Set([
      'FILE_MALFORMED',
      'UNSUPPORTED_VERSION',
      'UNSUPPORTED_ALGORITHM',
      'FILE_SIGNATURE_INVALID',
      'CERTIFICATE_INVALID',
    ]);
    let attempts = 0;
    const wrong: string[] = [];
    for (let pos = begin; pos < end; pos++) {
      if (file[pos] === '\n') continue;
      for (const bit of bitsToFlip(pos, 7)) {
        const flipped = String.fromCharCode(file.charCodeAt(pos) ^ (1 << bit));
        attempts++;
        const code = thrownCode(() => verifier.verify(file.slice(0, pos) + flipped + file.slice(pos + 1)));
        if (!refusals.has(code)) wrong.push(`position ${pos} bit ${bit}: ${code}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(attempts).toBeGreaterThan(FULL ? 15_000 : 2_000);
  });

  it('rejects a file signed by a key the pinned root did not certify', () => {
    const otherRoot = createRootCertificate({ commonName: 'Someone Else', now: T0 });
    const otherSigning = issueSigningCertificate(otherRoot, { commonName: 'Signing 1', now: T0 });
    expectCode(() => verifier.verify(signLicense(payload, otherSigning)), 'CERTIFICATE_INVALID');
  });

  it('rejects a self-made root with the same subject name, with or without the root in x5c', () => {
    const fakeRoot = createRootCertificate({ commonName: 'Licensor Test Root', now: T0 });
    const fakeSigning = issueSigningCertificate(fakeRoot, { commonName: 'Signing 1', now: T0 });
    const forged = signLicense(payload, fakeSigning);
    expectCode(() => verifier.verify(forged), 'CERTIFICATE_INVALID');
    const env = envelopeOf(forged);
    const withRoot = {
      ...env,
      x5c: [...(env['x5c'] as string[]), new X509Certificate(fakeRoot.certificatePem).raw.toString('base64')],
    };
    expectCode(() => verifier.verify(reseal(withRoot)), 'CERTIFICATE_INVALID');
    const realRoot = new X509Certificate(root.certificatePem).raw.toString('base64');
    expectCode(
      () => verifier.verify(reseal({ ...env, x5c: [...(env['x5c'] as string[]), realRoot] })),
      'CERTIFICATE_INVALID',
    );
  });

  it('rejects a genuine certificate paired with another key id, signature or certificate', () => {
    const env = envelopeOf(file);
    const signing2 = issueSigningCertificate(root, { commonName: 'Signing 2', now: T0 });
    const x5c2 = [new X509Certificate(signing2.certificatePem).raw.toString('base64')];
    expectCode(() => verifier.verify(reseal({ ...env, kid: signing2.keyId })), 'FILE_SIGNATURE_INVALID');
    expectCode(() => verifier.verify(reseal({ ...env, x5c: x5c2 })), 'FILE_SIGNATURE_INVALID');
    expectCode(() => verifier.verify(reseal({ ...env, x5c: x5c2, kid: signing2.keyId })), 'FILE_SIGNATURE_INVALID');
    // The root's own key signing a file directly: the root is a CA and cannot be a signing certificate.
    const rootSigned = signRaw(payload, { ...root, certificatePem: root.certificatePem });
    expectCode(() => verifier.verify(rootSigned), 'CERTIFICATE_INVALID');
    // Domain separation: the same key's signature over the same text in another domain is worthless.
    const apiSig = domainSign('api-response', env['payload'] as string, signing.privateKey);
    expectCode(() => verifier.verify(reseal({ ...env, sig: apiSig })), 'FILE_SIGNATURE_INVALID');
  });

  it('rejects algorithms outside the allow-list, whatever the envelope claims', () => {
    const env = envelopeOf(file);
    for (const alg of ['RS256', 'none', 'HS256', 'ES256', 'eddsa', 'EdDSA ', '']) {
      expectCode(() => verifier.verify(reseal({ ...env, alg })), 'UNSUPPORTED_ALGORITHM');
      expectCode(() => decodeLicenseFile(reseal({ ...env, alg, sig: '' })), 'UNSUPPORTED_ALGORITHM');
    }
    expectCode(() => verifier.verify(reseal({ ...env, alg: 42 })), 'FILE_MALFORMED');
    const { alg: _alg, ...noAlg } = env;
    expectCode(() => verifier.verify(reseal(noAlg)), 'FILE_MALFORMED');
    expectCode(() => new LicenseVerifier({ roots: [root.certificatePem], algorithms: ['RS256'] }), 'INVALID_INPUT');
    expectCode(() => new LicenseVerifier({ roots: [root.certificatePem], algorithms: [] }), 'INVALID_INPUT');
  });

  it('rejects unknown versions of the file and of the payload', () => {
    const env = envelopeOf(file);
    for (const v of [0, 2, 1.5, -1]) expectCode(() => verifier.verify(reseal({ ...env, v })), 'UNSUPPORTED_VERSION');
    expectCode(() => verifier.verify(reseal({ ...env, v: '1' })), 'FILE_MALFORMED');
    expectCode(() => verifier.verify(signRaw({ ...payload, v: 2 })), 'UNSUPPORTED_VERSION');
    expectCode(() => verifier.verify(signRaw({ ...payload, v: null })), 'FILE_MALFORMED');
  });

  it('rejects files over the size cap before parsing them', () => {
    const padTo = (n: number) => `${'#'.repeat(n - file.length - 1)}\n${file}`;
    expect(Buffer.byteLength(padTo(LICENSE_FILE_MAX_BYTES))).toBe(LICENSE_FILE_MAX_BYTES);
    expect(verifier.verify(padTo(LICENSE_FILE_MAX_BYTES)).payload).toEqual(payload);
    expectCode(() => verifier.verify(padTo(LICENSE_FILE_MAX_BYTES + 1)), 'FILE_TOO_LARGE');
    expectCode(() => verifier.verify(Buffer.from(padTo(LICENSE_FILE_MAX_BYTES + 1))), 'FILE_TOO_LARGE');
    const multibyte = `${'€'.repeat(21_000)}\n${file}`; // fewer characters than the cap, more bytes
    expect(multibyte.length).toBeLessThan(LICENSE_FILE_MAX_BYTES);
    expectCode(() => decodeLicenseFile(multibyte), 'FILE_TOO_LARGE');
    expectCode(() => decodeLicenseFile('x'.repeat(10_000_000)), 'FILE_TOO_LARGE');
  });

  it('rejects malformed armour, base64 and JSON with FILE_MALFORMED', () => {
    const body = file.slice(file.indexOf('\n') + 1, file.indexOf(LICENSE_ARMOR_END));
    const cases = [
      '',
      'hello',
      body,
      `${LICENSE_ARMOR_BEGIN}\n${body}`,
      `${body}${LICENSE_ARMOR_END}\n`,
      `${LICENSE_ARMOR_END}\n${body}${LICENSE_ARMOR_BEGIN}\n`,
      `${file}${file}`,
      `${file}\n${LICENSE_ARMOR_END}\n`,
      `${LICENSE_ARMOR_BEGIN}\n${LICENSE_ARMOR_END}\n`,
      file.replace(/[A-Za-z0-9+/]\n/, '*\n'),
      file.replace(/\n-----END/, '==\n-----END'),
      armour('not json'),
      armour('[1,2,3]'),
      armour('null'),
      armour('"string"'),
      armour(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])),
      armour(''),
    ];
    for (const text of cases) expectCode(() => decodeLicenseFile(text), 'FILE_MALFORMED');
    expectCode(() => decodeLicenseFile(42 as unknown as string), 'FILE_MALFORMED');
    expectCode(() => decodeLicenseFile(null as unknown as string), 'FILE_MALFORMED');
  });

  it('rejects envelopes and payloads with wrong field types', () => {
    const env = envelopeOf(file);
    const badEnvelopes = [
      { ...env, extra: true },
      { ...env, kid: 'short' },
      { ...env, kid: 7 },
      { ...env, x5c: [] },
      { ...env, x5c: 'abc' },
      { ...env, x5c: ['not base64!'] },
      { ...env, payload: `${env['payload']}=` },
      { ...env, payload: '' },
      { ...env, sig: null },
    ];
    for (const e of badEnvelopes) expectCode(() => verifier.verify(reseal(e)), 'FILE_MALFORMED');
    const badPayloads: unknown[] = [
      'a string',
      [payload],
      { ...payload, seats: -1 },
      { ...payload, seats: 1.5 },
      { ...payload, status: 'happy' },
      { ...payload, issuedAt: '2025-03-01 00:00:00' },
      { ...payload, issuedAt: '2025-03-01T00:00:00+08:00' },
      { ...payload, expiresAt: undefined },
      { ...payload, fingerprint: { rule: { type: 'all' } } },
      { ...payload, fingerprint: { rule: { type: 'atLeast', count: 0 }, koogallery: 'x' } },
      { ...payload, fingerprint: { rule: { type: 'all' }, koogallery: 'x', components: {} } },
      { ...payload, deviceKey: 'abc' },
    ];
    for (const p of badPayloads) expectCode(() => verifier.verify(signRaw(p)), 'FILE_MALFORMED');
    const notBase64Json = Buffer.from('{oops').toString('base64url');
    expectCode(() => decodeLicenseFile(reseal({ ...env, payload: notBase64Json })), 'FILE_MALFORMED');
  });

  it('tolerates claims added later within payload v1 (and drops them)', () => {
    const result = verifier.verify(signRaw({ ...payload, futureClaim: 'x' }));
    expect(result.payload).toEqual(payload);
  });

  it('refuses to sign what a client would reject', () => {
    expectCode(() => signLicense({ ...payload, seats: -1 }, signing), 'INVALID_INPUT');
    expectCode(() => signLicense({ ...payload, extra: 1 } as LicensePayload, signing), 'INVALID_INPUT');
    expectCode(() => signLicense(payload, { ...signing, keyId: root.keyId }), 'INVALID_INPUT');
    expectCode(() => signLicense(payload, { ...signing, privateKey: root.privateKey }), 'INVALID_INPUT');
    expectCode(() => signLicense(payload, { ...signing, certificatePem: 'nope' }), 'INVALID_INPUT');
    expectCode(() => signLicense(payload, root), 'INVALID_INPUT');
    expectCode(() => signLicense(makePayload({ issuedAt: at(400) }), signing), 'CERTIFICATE_INVALID');
    const hugePayload = makePayload({ entitlements: Array.from({ length: 3000 }, (_, i) => `feature-${i}`) });
    expectCode(() => signLicense(hugePayload, signing), 'FILE_TOO_LARGE');
  });

  it('keeps files signed by a rotated-out key valid', () => {
    const key1 = issueSigningCertificate(root, { commonName: 'Signing 2025', now: T0, validityDays: 365 });
    const file1 = signLicense(makePayload({ issuedAt: at(10) }), key1);
    const key2 = issueSigningCertificate(root, {
      commonName: 'Signing 2026',
      now: new Date(at(300)),
      validityDays: 365,
    });
    const file2 = signLicense(makePayload({ issuedAt: at(301) }), key2);
    const fresh = new LicenseVerifier({ roots: [root.certificatePem] });
    expect(fresh.verify(file1).signingKeyId).toBe(key1.keyId);
    expect(fresh.verify(file2).signingKeyId).toBe(key2.keyId);
    // key1's certificate has expired by day 400, but it was valid when it signed file1.
    expect(fresh.verify(file1).payload.issuedAt).toBe(at(10));
  });

  it('rejects a file whose issuedAt lies outside the signing certificate validity', () => {
    expectCode(() => verifier.verify(signRaw(makePayload({ issuedAt: at(366) }))), 'CERTIFICATE_INVALID');
    expectCode(() => verifier.verify(signRaw(makePayload({ issuedAt: at(-1) }))), 'CERTIFICATE_INVALID');
    expect(verifier.verify(signRaw(makePayload({ issuedAt: at(364) }))).payload.issuedAt).toBe(at(364));
  });

  it('rejects bad verifier configuration', () => {
    expectCode(() => new LicenseVerifier({ roots: [] }), 'INVALID_INPUT');
    expectCode(() => new LicenseVerifier({ roots: ['nope'] }), 'INVALID_INPUT');
    expectCode(() => new LicenseVerifier({ roots: [signing.certificatePem] }), 'INVALID_INPUT');
  });
});

describe('signLicenseAsync', () => {
  /** The code a sync call throws, or an async call rejects with (a sync throw inside the async path counts too). */
  async function codeOf(fn: () => unknown): Promise<string> {
    try {
      await fn();
    } catch (err) {
      expect(err).toBeInstanceOf(LicensorError);
      return (err as LicensorError).code;
    }
    return expect.unreachable('expected a LicensorError');
  }

  it('writes byte for byte the file signLicense writes, and it verifies', async () => {
    const asyncFile = await signLicenseAsync(payload, signing);
    expect(asyncFile).toBe(file);
    expect(asyncFile).toBe(signLicense(payload, signing));
    const result = verifier.verify(asyncFile);
    expect(result.payload).toEqual(payload);
    expect(result.signingKeyId).toBe(signing.keyId);
    const offline = makePayload({
      family: 'C',
      fingerprint: { rule: { type: 'atLeast', count: 2 }, koogallery: 'AA-BB|DISK1|BOARD|CPU' },
      expiresAt: null,
      refreshBy: null,
      graceUntil: null,
      test: true,
    });
    const offlineFile = await signLicenseAsync(offline, signing);
    expect(offlineFile).toBe(signLicense(offline, signing));
    expect(verifier.verify(offlineFile).payload).toEqual(offline);
  });

  it('signs many files concurrently, each identical to its synchronous twin', async () => {
    const payloads = Array.from({ length: 16 }, (_, i) => makePayload({ lid: `act_concurrent_${i}`, seats: i + 1 }));
    const files = await Promise.all(payloads.map((p) => signLicenseAsync(p, signing)));
    files.forEach((f, i) => {
      expect(f).toBe(signLicense(payloads[i]!, signing));
      expect(verifier.verify(f).payload.lid).toBe(`act_concurrent_${i}`);
    });
  });

  it('refuses what signLicense refuses, with the same error code', async () => {
    const hugePayload = makePayload({ entitlements: Array.from({ length: 3000 }, (_, i) => `feature-${i}`) });
    const cases: [LicensePayload, typeof signing, string][] = [
      [{ ...payload, seats: -1 }, signing, 'INVALID_INPUT'],
      [{ ...payload, extra: 1 } as LicensePayload, signing, 'INVALID_INPUT'],
      [payload, { ...signing, keyId: root.keyId }, 'INVALID_INPUT'],
      [payload, { ...signing, privateKey: root.privateKey }, 'INVALID_INPUT'],
      [payload, { ...signing, certificatePem: 'nope' }, 'INVALID_INPUT'],
      [payload, root, 'INVALID_INPUT'],
      [makePayload({ issuedAt: at(400) }), signing, 'CERTIFICATE_INVALID'],
      [hugePayload, signing, 'FILE_TOO_LARGE'],
    ];
    for (const [i, [p, signer, code]] of cases.entries()) {
      const syncCode = await codeOf(() => signLicense(p, signer));
      expect(syncCode, `case ${i}`).toBe(code);
      // A returned promise that rejects, not a synchronous throw: callers may rely on .catch().
      let promise: Promise<string> | undefined;
      expect(() => {
        promise = signLicenseAsync(p, signer);
      }, `case ${i}`).not.toThrow();
      expect(await codeOf(() => promise), `case ${i}`).toBe(syncCode);
    }
  });
});

describe('decodeLicenseFile fuzzing', () => {
  const onlyLicensorErrors = (input: string | Uint8Array) => {
    try {
      decodeLicenseFile(input);
    } catch (err) {
      if (!(err instanceof LicensorError)) throw err;
    }
    try {
      verifier.verify(input);
    } catch (err) {
      if (!(err instanceof LicensorError)) throw err;
    }
  };

  it('throws only LicensorError on arbitrary text and bytes', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 500 }), onlyLicensorErrors), { numRuns: 2000 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 500 }), onlyLicensorErrors), { numRuns: 2000 });
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) =>
        onlyLicensorErrors(`${LICENSE_ARMOR_BEGIN}\n${s}\n${LICENSE_ARMOR_END}`),
      ),
      { numRuns: 1000 },
    );
  });

  it('throws only LicensorError on armoured arbitrary bytes and JSON', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500 }), (b) => onlyLicensorErrors(armour(b))),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.jsonValue(), (j) => onlyLicensorErrors(armour(JSON.stringify(j) ?? ''))),
      {
        numRuns: 1000,
      },
    );
  });

  it('throws only LicensorError on envelope-shaped and payload-shaped garbage', () => {
    const env = envelopeOf(file);
    const field = fc.constantFrom(...Object.keys(env));
    fc.assert(
      fc.property(field, fc.jsonValue(), (key, value) => onlyLicensorErrors(reseal({ ...env, [key]: value }))),
      { numRuns: 1000 },
    );
    const claim = fc.constantFrom(...Object.keys(payload), 'extra');
    fc.assert(
      fc.property(claim, fc.jsonValue(), (key, value) => onlyLicensorErrors(signRaw({ ...payload, [key]: value }))),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const encoded = Buffer.from(JSON.stringify(value) ?? '').toString('base64url');
        onlyLicensorErrors(reseal({ ...env, payload: encoded }));
      }),
      { numRuns: 1000 },
    );
  });
});
