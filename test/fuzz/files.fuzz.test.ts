import { createHash, generateKeyPairSync } from 'node:crypto';
import {
  createRootCertificate,
  decodeLicenseFile,
  decodeOfflineRequest,
  encodeOfflineRequest,
  issueSigningCertificate,
  LICENSE_ARMOR_BEGIN,
  LICENSE_ARMOR_END,
  type LicensePayload,
  LicenseVerifier,
  LicensorError,
  type OfflineRequest,
  signLicense,
} from '@licensor/shared';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { DEEP_ARRAY, DEEP_OBJECT, hostileString, hostileValue, mutated, RUNS } from './hostile';

/**
 * License files and offline activation requests are read from disk, e-mail and USB sticks: anything may
 * arrive. Parsing and verifying must throw only LicensorError with a file-level code, quickly, and accept
 * nothing that was not signed by a trusted key.
 */

const FILE_CODES = new Set([
  'FILE_MALFORMED',
  'FILE_TOO_LARGE',
  'UNSUPPORTED_VERSION',
  'UNSUPPORTED_ALGORITHM',
  'FILE_SIGNATURE_INVALID',
  'CERTIFICATE_INVALID',
  'INVALID_INPUT',
]);
const hash = (s: string) => createHash('sha256').update(s).digest('base64url');
const now = new Date();
const iso = (days: number) => new Date(now.getTime() + days * 86_400_000).toISOString();
const root = createRootCertificate({ commonName: 'Fuzz Root', now });
const signer = issueSigningCertificate(root, { commonName: 'Fuzz Signing', now });
const attackerRoot = createRootCertificate({ commonName: 'Fuzz Root', now }); // same name, other key
const attacker = issueSigningCertificate(attackerRoot, { commonName: 'Fuzz Signing', now });
const verifier = new LicenseVerifier({ roots: [root.certificatePem] });

const payload: LicensePayload = {
  v: 1,
  lid: 'act_fuzz',
  eid: 'ent_fuzz',
  family: 'A',
  product: 'P1',
  sku: 'pro',
  edition: 'Pro',
  entitlements: ['export'],
  seats: 3,
  fingerprint: { rule: { type: 'allButOne' }, components: { machineId: [hash('m')], cpu: [hash('c')] } },
  deviceKey: hash('k'),
  status: 'active',
  issuedAt: iso(0),
  notBefore: iso(0),
  expiresAt: iso(365),
  refreshBy: iso(7),
  graceUntil: iso(14),
  serverTime: iso(0),
} as LicensePayload;
const validFile = signLicense(payload, signer);
const armourBody = validFile
  .slice(validFile.indexOf(LICENSE_ARMOR_BEGIN) + LICENSE_ARMOR_BEGIN.length, validFile.indexOf(LICENSE_ARMOR_END))
  .replace(/\s+/g, '');
const envelope = JSON.parse(Buffer.from(armourBody, 'base64').toString('utf8')) as Record<string, unknown>;
const armour = (json: string) =>
  `${LICENSE_ARMOR_BEGIN}\n${Buffer.from(json).toString('base64').replace(/.{64}/g, '$&\n')}\n${LICENSE_ARMOR_END}\n`;

let tried = 0;
let slowestMs = 0;
afterAll(() => console.log(`file parsing fuzz: ${tried} hostile inputs, slowest ${slowestMs.toFixed(1)} ms of CPU`));

/** Runs fn; it must return or throw a LicensorError with a file-level code, within 100 ms. */
function outcome<T>(fn: () => T): { ok: true; value: T } | { ok: false; code: string } {
  // CPU time of this process, not wall time: the limit guards against pathological parsing (backtracking,
  // quadratic loops), which costs CPU; wall time also counts whatever else a busy machine runs meanwhile.
  const started = process.cpuUsage();
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    if (!(err instanceof LicensorError)) throw new Error(`threw a non-LicensorError: ${(err as Error)?.stack ?? err}`);
    expect(FILE_CODES.has(err.code), `unexpected code ${err.code}: ${err.message}`).toBe(true);
    expect(err.message.length).toBeLessThan(2000); // attacker-controlled text is not echoed back unbounded
    return { ok: false, code: err.code };
  } finally {
    const used = process.cpuUsage(started);
    const ms = (used.user + used.system) / 1000;
    slowestMs = Math.max(slowestMs, ms);
    tried++;
    expect(ms, 'parsing took too long').toBeLessThan(100);
  }
}

describe('License file parsing (decodeLicenseFile, LicenseVerifier)', () => {
  it('the untouched file verifies (the fuzzers below start from it)', () => {
    expect(verifier.verify(validFile).payload.lid).toBe('act_fuzz');
  });

  it('arbitrary text and bytes are refused with a file-level error', () => {
    const input = fc.oneof(
      hostileString(70_000),
      fc.uint8Array({ maxLength: 2000 }),
      fc.string({ maxLength: 500 }).map((s) => `${LICENSE_ARMOR_BEGIN}\n${s}\n${LICENSE_ARMOR_END}`),
      fc.constantFrom(
        armour(DEEP_ARRAY),
        armour(DEEP_OBJECT),
        armour('null'),
        armour('"x"'),
        `${validFile}${validFile}`,
      ),
    );
    fc.assert(
      fc.property(input, (text) => {
        expect(outcome(() => decodeLicenseFile(text)).ok).toBe(false);
        expect(outcome(() => verifier.verify(text)).ok).toBe(false);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('a mutated envelope (any field, any type) never verifies', () => {
    fc.assert(
      fc.property(mutated(envelope), (env) => {
        const r = outcome(() => verifier.verify(armour(JSON.stringify(env))));
        // A mutation may leave the envelope equivalent (e.g. re-setting a field to itself).
        if (r.ok) expect(JSON.stringify(r.value.envelope)).toBe(JSON.stringify(envelope));
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('a mutated payload is refused: re-encoded unsigned, or re-signed by a key outside the pinned root', () => {
    const payloadArb = mutated(payload as unknown as Record<string, unknown>);
    fc.assert(
      fc.property(payloadArb, fc.boolean(), (p, resign) => {
        let file: string;
        if (resign) {
          // The attacker signs a well-formed payload with its own chain; signLicense may refuse garbage itself.
          try {
            file = signLicense(p as unknown as LicensePayload, attacker);
          } catch (err) {
            expect(err).toBeInstanceOf(LicensorError);
            return;
          }
        } else {
          const encoded = Buffer.from(JSON.stringify(p)).toString('base64url');
          file = armour(JSON.stringify({ ...envelope, payload: encoded }));
        }
        const r = outcome(() => verifier.verify(file));
        expect(r.ok, 'a tampered License verified').toBe(false);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('offline activation request parsing (decodeOfflineRequest)', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const request: OfflineRequest = {
    v: 1,
    createdAt: now.toISOString(),
    nonce: 'a1b2c3d4e5f60718293a4b5c',
    code: 'LSR-ABCDE-FGHJK-MNPQR-STVWX',
    productId: 'P1',
    fingerprint: { components: { machineId: [hash('m')], cpu: [hash('c')] } },
    device: { hostname: 'host', platform: 'linux' },
    devicePublicKey: publicKey.export({ format: 'der', type: 'spki' }).toString('base64url'),
  } as OfflineRequest;
  const validText = encodeOfflineRequest(request, privateKey);
  const BEGIN = '-----BEGIN LICENSOR ACTIVATION REQUEST-----';
  const END = '-----END LICENSOR ACTIVATION REQUEST-----';
  const wrap = (envelopeJson: string) => `${BEGIN}\n${Buffer.from(envelopeJson).toString('base64')}\n${END}\n`;

  it('the untouched request decodes', () => {
    expect(decodeOfflineRequest(validText).code).toBe(request.code);
  });

  it('arbitrary text, bytes and envelopes are refused with a file-level error', () => {
    const input = fc.oneof(
      hostileString(40_000),
      fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)),
      fc.string({ maxLength: 500 }).map((s) => `${BEGIN}\n${s}\n${END}`),
      hostileValue.map((v) => wrap(JSON.stringify({ request: JSON.stringify(v), sig: 'AAAA' }))),
      hostileValue.map((v) => wrap(JSON.stringify(v) ?? '')),
      fc.constantFrom(wrap(DEEP_ARRAY), wrap(JSON.stringify({ request: DEEP_OBJECT, sig: 'x' })), `${END}\n${BEGIN}`),
    );
    fc.assert(
      fc.property(input, (text) => {
        expect(outcome(() => decodeOfflineRequest(text)).ok).toBe(false);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('mutated requests: signed by the device they are validated field by field, unsigned they are refused', () => {
    fc.assert(
      fc.property(mutated(request as unknown as Record<string, unknown>), fc.boolean(), (r, sign) => {
        let text: string;
        if (sign) {
          try {
            text = encodeOfflineRequest(r as unknown as OfflineRequest, privateKey);
          } catch (err) {
            // canonicalize refuses values JSON cannot carry (lone surrogates, non-finite numbers…).
            expect(err).toBeInstanceOf(Error);
            return;
          }
        } else {
          const env = JSON.parse(
            Buffer.from(validText.split('\n').slice(1, -2).join(''), 'base64').toString('utf8'),
          ) as { sig: string };
          text = wrap(JSON.stringify({ request: JSON.stringify(r), sig: env.sig }));
        }
        const out = outcome(() => decodeOfflineRequest(text));
        if (out.ok) {
          expect(sign, 'an unsigned edit was accepted').toBe(true);
          // Whatever was accepted passed the schema: its device key is the one that signed it.
          expect(out.value.devicePublicKey).toBe(request.devicePublicKey);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
