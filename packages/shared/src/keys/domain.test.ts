import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LicensorError } from '../errors';
import {
  domainSign,
  domainSignAsync,
  domainVerify,
  domainVerifyAsync,
  SIGNATURE_DOMAINS,
  type SignatureDomain,
} from './domain';

const { publicKey, privateKey } = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');

describe('domainSign / domainVerify', () => {
  it('signs "LICENSOR-<DOMAIN>-V1\\n" + data', () => {
    const sig = domainSign('api-response', '{"ok":true}', privateKey);
    expect(sig).toMatch(/^[A-Za-z0-9_-]{86}$/);
    const signed = Buffer.from('LICENSOR-API-RESPONSE-V1\n{"ok":true}');
    expect(verify(null, signed, publicKey, Buffer.from(sig, 'base64url'))).toBe(true);
  });

  it('round-trips in every domain, for strings and bytes alike', () => {
    for (const domain of SIGNATURE_DOMAINS) {
      const text = `data for ${domain} ✓`;
      const sig = domainSign(domain, text, privateKey);
      expect(domainVerify(domain, text, sig, publicKey)).toBe(true);
      expect(domainVerify(domain, Buffer.from(text), sig, publicKey)).toBe(true);
      expect(domainVerify(domain, new TextEncoder().encode(text), sig, privateKey)).toBe(true);
      expect(domainSign(domain, new Uint8Array([1, 2, 3]), privateKey)).toMatch(/^[A-Za-z0-9_-]{86}$/);
    }
  });

  it('does not accept a signature from another domain, key or message', () => {
    const sig = domainSign('offline-request', 'payload', privateKey);
    for (const domain of SIGNATURE_DOMAINS.filter((d) => d !== 'offline-request')) {
      expect(domainVerify(domain, 'payload', sig, publicKey)).toBe(false);
    }
    expect(domainVerify('offline-request', 'payload', sig, other.publicKey)).toBe(false);
    expect(domainVerify('offline-request', 'payloaD', sig, publicKey)).toBe(false);
    expect(domainVerify('offline-request', '', sig, publicKey)).toBe(false);
  });

  it('returns false, never throws, on garbage', () => {
    const sig = domainSign('license', 'x', privateKey);
    const lastChar = sig.at(-1)!;
    // The last base64url character carries 4 padding bits; a different padding is a different (invalid) spelling.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sameBits = alphabet[(alphabet.indexOf(lastChar) & ~15) | ((alphabet.indexOf(lastChar) + 1) & 15)]!;
    const respelled = `${sig.slice(0, -1)}${sameBits}`;
    expect(Buffer.from(respelled, 'base64url').equals(Buffer.from(sig, 'base64url'))).toBe(true);
    const garbage: unknown[] = [
      '',
      'x',
      `${sig}=`,
      respelled,
      // Standard-base64 characters in a base64url signature (the first one always replaced, so it never equals sig).
      `+${sig.slice(1).replace(/[-_]/g, '/')}`,
      `${sig.slice(0, 85)}!`,
      'A'.repeat(86),
      null,
      42,
      Buffer.from(sig),
    ];
    for (const bad of garbage) expect(domainVerify('license', 'x', bad as string, publicKey)).toBe(false);
    expect(domainVerify('license', 'x', sig, 'key' as never)).toBe(false);
    expect(domainVerify('license', 'x', sig, generateKeyPairSync('ed448').publicKey)).toBe(false);
    expect(domainVerify('nope' as SignatureDomain, 'x', sig, publicKey)).toBe(false);
    expect(domainVerify('license', 7 as never, sig, publicKey)).toBe(false);
    expect(domainVerify('license', 'x', sig, createPublicKey(privateKey))).toBe(true);
  });

  it('refuses to sign with anything but an Ed25519 private key or in an unknown domain', () => {
    const bad = [
      () => domainSign('license', 'x', publicKey),
      () => domainSign('license', 'x', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey),
      () => domainSign('nope' as SignatureDomain, 'x', privateKey),
      () => domainSign('license', 5 as never, privateKey),
    ];
    for (const fn of bad) {
      expect(fn).toThrow(LicensorError);
      try {
        fn();
      } catch (err) {
        expect((err as LicensorError).code).toBe('INVALID_INPUT');
      }
    }
  });
});

describe('domainSignAsync / domainVerifyAsync', () => {
  it('produce and accept the same signatures as the synchronous versions, in every domain', async () => {
    for (const domain of SIGNATURE_DOMAINS) {
      const text = `async data for ${domain} ✓`;
      const asyncSig = await domainSignAsync(domain, text, privateKey);
      expect(asyncSig).toMatch(/^[A-Za-z0-9_-]{86}$/);
      // Ed25519 is deterministic: the thread-pool signature is the very same string.
      expect(asyncSig).toBe(domainSign(domain, text, privateKey));
      expect(domainVerify(domain, text, asyncSig, publicKey)).toBe(true);
      const syncSig = domainSign(domain, text, privateKey);
      expect(await domainVerifyAsync(domain, text, syncSig, publicKey)).toBe(true);
      expect(await domainVerifyAsync(domain, Buffer.from(text), syncSig, publicKey)).toBe(true);
      expect(await domainVerifyAsync(domain, text, syncSig, privateKey)).toBe(true);
      const bytes = new Uint8Array([0, 1, 2, 255]);
      const bytesSig = await domainSignAsync(domain, bytes, privateKey);
      expect(bytesSig).toBe(domainSign(domain, bytes, privateKey));
      expect(await domainVerifyAsync(domain, bytes, bytesSig, publicKey)).toBe(true);
    }
  });

  it('signs exactly "LICENSOR-<DOMAIN>-V1\\n" + data', async () => {
    const sig = await domainSignAsync('device-request', 'GET\n/x', privateKey);
    const signed = Buffer.from('LICENSOR-DEVICE-REQUEST-V1\nGET\n/x');
    expect(verify(null, signed, publicKey, Buffer.from(sig, 'base64url'))).toBe(true);
  });

  it('resolves false, never rejects, for anything that is not a valid signature', async () => {
    const sig = await domainSignAsync('license', 'message', privateKey);
    expect(await domainVerifyAsync('license', 'message', sig, publicKey)).toBe(true);
    const changedChar = `${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`;
    const cases: [string, () => Promise<boolean>][] = [
      ['tampered message', () => domainVerifyAsync('license', 'messagE', sig, publicKey)],
      ['empty message', () => domainVerifyAsync('license', '', sig, publicKey)],
      ['wrong domain', () => domainVerifyAsync('api-response', 'message', sig, publicKey)],
      ['unknown domain', () => domainVerifyAsync('nope' as SignatureDomain, 'message', sig, publicKey)],
      ['another key', () => domainVerifyAsync('license', 'message', sig, other.publicKey)],
      ['one character changed', () => domainVerifyAsync('license', 'message', changedChar, publicKey)],
      ['too short', () => domainVerifyAsync('license', 'message', sig.slice(0, 85), publicKey)],
      ['too long', () => domainVerifyAsync('license', 'message', `${sig}A`, publicKey)],
      ['padded', () => domainVerifyAsync('license', 'message', `${sig}=`, publicKey)],
      ['empty signature', () => domainVerifyAsync('license', 'message', '', publicKey)],
      ['not base64url', () => domainVerifyAsync('license', 'message', `${sig.slice(0, 85)}!`, publicKey)],
      ['Ed448 key', () => domainVerifyAsync('license', 'message', sig, generateKeyPairSync('ed448').publicKey)],
      [
        'P-256 key',
        () =>
          domainVerifyAsync('license', 'message', sig, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey),
      ],
      ['a string as key', () => domainVerifyAsync('license', 'message', sig, 'key' as never)],
      ['null key', () => domainVerifyAsync('license', 'message', sig, null as never)],
      ['number as signature', () => domainVerifyAsync('license', 'message', 42 as never, publicKey)],
      ['null signature', () => domainVerifyAsync('license', 'message', null as never, publicKey)],
      [
        'Buffer signature',
        () => domainVerifyAsync('license', 'message', Buffer.from(sig, 'base64url') as never, publicKey),
      ],
      ['number as data', () => domainVerifyAsync('license', 7 as never, sig, publicKey)],
    ];
    for (const [name, run] of cases) {
      const outcome = await run().then(
        (ok) => ({ ok }),
        (err: unknown) => ({ rejected: err }),
      );
      expect(outcome, name).toEqual({ ok: false });
    }
  });

  it('keeps every result right and in order when many run at once (more than the thread pool holds)', async () => {
    const messages = Array.from({ length: 64 }, (_, i) => `concurrent message ${i}`);
    const signatures = await Promise.all(messages.map((m) => domainSignAsync('api-response', m, privateKey)));
    signatures.forEach((sig, i) => {
      expect(sig).toBe(domainSign('api-response', messages[i]!, privateKey));
    });
    // Valid and invalid checks interleaved: each resolves to its own answer, none waits forever.
    const checks = messages.flatMap((m, i) => [
      domainVerifyAsync('api-response', m, signatures[i]!, publicKey),
      domainVerifyAsync('api-response', m, signatures[(i + 1) % messages.length]!, publicKey),
      domainVerifyAsync('api-response', m, 'bad', publicKey),
      domainVerifyAsync('api-response', m, signatures[i]!, other.publicKey),
    ]);
    const results = await Promise.all(checks);
    expect(results).toEqual(messages.flatMap(() => [true, false, false, false]));
    // Refused calls in between do not use up capacity: later calls still complete.
    for (let i = 0; i < 20; i++) {
      await Promise.resolve()
        .then(() => domainSignAsync('license', 'x', publicKey))
        .catch(() => undefined);
    }
    expect(await domainVerifyAsync('api-response', messages[0]!, signatures[0]!, publicKey)).toBe(true);
    expect(await domainSignAsync('api-response', messages[1]!, privateKey)).toBe(signatures[1]);
  });

  it('refuses to sign with a public key, a non-Ed25519 key or in an unknown domain, with a LicensorError', async () => {
    const bad: (() => Promise<string>)[] = [
      () => domainSignAsync('license', 'x', publicKey),
      () => domainSignAsync('license', 'x', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey),
      () => domainSignAsync('license', 'x', 'key' as never),
      () => domainSignAsync('nope' as SignatureDomain, 'x', privateKey),
      () => domainSignAsync('license', 5 as never, privateKey),
    ];
    for (const fn of bad) {
      // Either a synchronous throw or a rejection is a refusal; what matters is that no signature comes out.
      let failure: unknown;
      try {
        await fn();
      } catch (err) {
        failure = err;
      }
      expect(failure).toBeInstanceOf(LicensorError);
      expect((failure as LicensorError).code).toBe('INVALID_INPUT');
    }
  });
});
