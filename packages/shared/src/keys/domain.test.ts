import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LicensorError } from '../errors';
import { domainSign, domainVerify, SIGNATURE_DOMAINS, type SignatureDomain } from './domain';

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
      sig.replace(/[-_]/g, '+'),
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
