import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type LicensorCode, LicensorError } from '../errors';
import {
  newNonce,
  parseDeviceSignature,
  SIGNATURE_WINDOW_MS,
  signDeviceRequest,
  signResponse,
  signResponseAsync,
  verifyDeviceRequest,
  verifyDeviceRequestAsync,
  verifyResponse,
} from './signing';

const device = generateKeyPairSync('ed25519');
const otherDevice = generateKeyPairSync('ed25519');
const server = generateKeyPairSync('ed25519');
const otherServer = generateKeyPairSync('ed25519');
const KID = 'kid-test-1';
const NOW = Date.UTC(2025, 5, 1, 12, 0, 0);

async function rejectionCode(promise: Promise<unknown>): Promise<LicensorCode> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(LicensorError);
    return (err as LicensorError).code;
  }
  return expect.unreachable('expected a rejection');
}

function throwCode(fn: () => unknown): LicensorCode {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LicensorError);
    return (err as LicensorError).code;
  }
  return expect.unreachable('expected a LicensorError');
}

describe('verifyDeviceRequestAsync', () => {
  const path = '/api/v1/activations/act_1/check-in';
  const body = '{"hostname":"box"}';
  const header = signDeviceRequest({
    activationId: 'act_1',
    method: 'POST',
    path,
    body,
    privateKey: device.privateKey,
    now: NOW,
    nonce: 'a1b2c3d4e5f60718',
  });
  const signature = parseDeviceSignature(header);
  const check = (overrides: Partial<Parameters<typeof verifyDeviceRequestAsync>[0]> = {}) => ({
    signature,
    method: 'POST',
    path,
    body,
    publicKey: device.publicKey as KeyObject,
    now: NOW,
    ...overrides,
  });

  it('accepts a valid signature, like verifyDeviceRequest', async () => {
    await expect(verifyDeviceRequestAsync(check())).resolves.toBeUndefined();
    expect(() => verifyDeviceRequest(check())).not.toThrow();
    // Method case does not matter, bytes and strings of the same body are the same body.
    await expect(verifyDeviceRequestAsync(check({ method: 'post' }))).resolves.toBeUndefined();
    await expect(verifyDeviceRequestAsync(check({ body: Buffer.from(body) }))).resolves.toBeUndefined();
    // Inside the window on both sides.
    await expect(verifyDeviceRequestAsync(check({ now: NOW + SIGNATURE_WINDOW_MS }))).resolves.toBeUndefined();
    await expect(verifyDeviceRequestAsync(check({ now: NOW - SIGNATURE_WINDOW_MS }))).resolves.toBeUndefined();
  });

  it('rejects REPLAYED outside the 5-minute window, whatever the signature', async () => {
    for (const now of [NOW + SIGNATURE_WINDOW_MS + 1, NOW - SIGNATURE_WINDOW_MS - 1, NOW + 3_600_000]) {
      expect(await rejectionCode(verifyDeviceRequestAsync(check({ now })))).toBe('REPLAYED');
      expect(throwCode(() => verifyDeviceRequest(check({ now })))).toBe('REPLAYED');
      // A stale request with a bad signature is still REPLAYED (the window is checked first, as in the sync version).
      expect(await rejectionCode(verifyDeviceRequestAsync(check({ now, body: 'x' })))).toBe('REPLAYED');
    }
  });

  it('rejects SIGNATURE_INVALID for a changed body, path, method, nonce, timestamp or another key', async () => {
    const variants: [string, ReturnType<typeof check>][] = [
      ['body', check({ body: '{"hostname":"box2"}' })],
      ['empty body', check({ body: '' })],
      ['path', check({ path: '/api/v1/activations/act_2/check-in' })],
      ['path with query', check({ path: `${path}?x=1` })],
      ['method', check({ method: 'DELETE' })],
      ['nonce', check({ signature: { ...signature, nonce: 'a1b2c3d4e5f60719' } })],
      ['timestamp', check({ signature: { ...signature, ts: NOW + 1 } })],
      ['another key', check({ publicKey: otherDevice.publicKey })],
      ['server key', check({ publicKey: server.publicKey })],
      ['garbage signature', check({ signature: { ...signature, sig: 'A'.repeat(86) } })],
      ['short signature', check({ signature: { ...signature, sig: signature.sig.slice(1) } })],
      ['Ed448 key', check({ publicKey: generateKeyPairSync('ed448').publicKey })],
    ];
    for (const [name, opts] of variants) {
      expect(await rejectionCode(verifyDeviceRequestAsync(opts)), name).toBe('SIGNATURE_INVALID');
      expect(
        throwCode(() => verifyDeviceRequest(opts)),
        name,
      ).toBe('SIGNATURE_INVALID');
    }
  });

  it('returns a rejecting promise rather than throwing synchronously', async () => {
    let promise: Promise<void> | undefined;
    expect(() => {
      promise = verifyDeviceRequestAsync(check({ now: NOW + 10 * SIGNATURE_WINDOW_MS }));
    }).not.toThrow();
    expect(await rejectionCode(promise!)).toBe('REPLAYED');
  });
});

describe('signResponseAsync', () => {
  const publicKeyFor = (kid: string) => (kid === KID ? server.publicKey : undefined);
  const body = '{"current":"kid-test-1","signing":[]}';
  const nonce = newNonce();
  const request = { method: 'POST', path: '/api/v1/activations/act_1/check-in', activationId: 'act_1' };
  const sign = (overrides: Partial<Parameters<typeof signResponseAsync>[0]> = {}) =>
    signResponseAsync({
      status: 200,
      request,
      nonce,
      body,
      keyId: KID,
      privateKey: server.privateKey,
      now: NOW,
      ...overrides,
    });

  it('writes the header signResponse writes (Ed25519 is deterministic), and verifyResponse accepts it', async () => {
    const header = await sign();
    expect(header).toMatch(new RegExp(`^kid=${KID}, ts=${NOW}, sig=[A-Za-z0-9_-]{86}$`));
    expect(header).toBe(
      signResponse({ status: 200, request, nonce, body, keyId: KID, privateKey: server.privateKey, now: NOW }),
    );
    expect(verifyResponse({ header, status: 200, request, nonce, body, publicKeyFor, now: NOW })).toEqual({
      keyId: KID,
      ts: NOW,
    });
    expect(
      verifyResponse({ header, status: 200, request, nonce, body: Buffer.from(body), publicKeyFor, now: NOW }),
    ).toEqual({
      keyId: KID,
      ts: NOW,
    });
    // Error answers and empty nonces are signed the same way.
    const error = '{"error":{"code":"NOT_FOUND","message":"No such endpoint"}}';
    const errHeader = await sign({ status: 404, nonce: '', body: error });
    expect(
      verifyResponse({ header: errHeader, status: 404, request, nonce: '', body: error, publicKeyFor, now: NOW }),
    ).toEqual({
      keyId: KID,
      ts: NOW,
    });
  });

  it('defaults the timestamp to now', async () => {
    const before = Date.now();
    const header = await signResponseAsync({
      status: 200,
      request,
      nonce,
      body,
      keyId: KID,
      privateKey: server.privateKey,
    });
    const { ts } = verifyResponse({ header, status: 200, request, nonce, body, publicKeyFor });
    expect(ts).toBeGreaterThanOrEqual(before);
    expect(ts).toBeLessThanOrEqual(Date.now());
  });

  it('is refused for a changed status, body, nonce, key, time, method, path or activation', async () => {
    const header = await sign();
    const refused: [string, Parameters<typeof verifyResponse>[0], LicensorCode][] = [
      ['status', { header, status: 201, request, nonce, body, publicKeyFor, now: NOW }, 'RESPONSE_INVALID'],
      ['body', { header, status: 200, request, nonce, body: `${body} `, publicKeyFor, now: NOW }, 'RESPONSE_INVALID'],
      ['empty body', { header, status: 200, request, nonce, body: '', publicKeyFor, now: NOW }, 'RESPONSE_INVALID'],
      ['nonce', { header, status: 200, request, nonce: newNonce(), body, publicKeyFor, now: NOW }, 'RESPONSE_INVALID'],
      [
        'another key under the same kid',
        { header, status: 200, request, nonce, body, publicKeyFor: () => otherServer.publicKey, now: NOW },
        'RESPONSE_INVALID',
      ],
      [
        'unknown kid',
        { header, status: 200, request, nonce, body, publicKeyFor: () => undefined, now: NOW },
        'RESPONSE_INVALID',
      ],
      [
        'changed ts',
        {
          header: header.replace(`ts=${NOW}`, `ts=${NOW + 1}`),
          status: 200,
          request,
          nonce,
          body,
          publicKeyFor,
          now: NOW,
        },
        'RESPONSE_INVALID',
      ],
      [
        'another method',
        { header, status: 200, request: { ...request, method: 'DELETE' }, nonce, body, publicKeyFor, now: NOW },
        'RESPONSE_INVALID',
      ],
      [
        'another path',
        { header, status: 200, request: { ...request, path: '/api/v1/keys' }, nonce, body, publicKeyFor, now: NOW },
        'RESPONSE_INVALID',
      ],
      [
        'another activation',
        { header, status: 200, request: { ...request, activationId: 'act_2' }, nonce, body, publicKeyFor, now: NOW },
        'RESPONSE_INVALID',
      ],
      [
        'no activation',
        { header, status: 200, request: { ...request, activationId: '' }, nonce, body, publicKeyFor, now: NOW },
        'RESPONSE_INVALID',
      ],
      [
        'stale',
        { header, status: 200, request, nonce, body, publicKeyFor, now: NOW + SIGNATURE_WINDOW_MS + 1 },
        'REPLAYED',
      ],
      [
        'unsigned',
        { header: undefined, status: 200, request, nonce, body, publicKeyFor, now: NOW },
        'RESPONSE_INVALID',
      ],
    ];
    for (const [name, opts, code] of refused)
      expect(
        throwCode(() => verifyResponse(opts)),
        name,
      ).toBe(code);
  });

  it('rejects (with a LicensorError) when asked to sign with a public key', async () => {
    let failure: unknown;
    try {
      await signResponseAsync({
        status: 200,
        request,
        nonce,
        body,
        keyId: KID,
        privateKey: server.publicKey,
        now: NOW,
      });
    } catch (err) {
      failure = err;
    }
    expect(failure).toBeInstanceOf(LicensorError);
    expect((failure as LicensorError).code).toBe('INVALID_INPUT');
  });
});
