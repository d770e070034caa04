import { describe, expect, it } from 'vitest';
import {
  ERROR_CODES,
  fetchFailureCause,
  httpStatusFor,
  isLicensorCode,
  LICENSE_CODES,
  LicensorError,
  toLicensorError,
} from './errors';

describe('LicensorError', () => {
  it('keeps code, message and detail and serialises without the stack', () => {
    const err = new LicensorError('TOO_MANY_DEVICES', 'All 3 seats are in use', { seats: 3 });
    expect(err).toBeInstanceOf(Error);
    expect(err.httpStatus).toBe(409);
    expect(JSON.parse(JSON.stringify(err))).toEqual({
      code: 'TOO_MANY_DEVICES',
      message: 'All 3 seats are in use',
      detail: { seats: 3 },
    });
  });

  it('wraps unknown failures as INTERNAL and keeps the cause out of the message', () => {
    const cause = new Error('SQLITE_CORRUPT at /secret/path');
    const err = toLicensorError(cause);
    expect(err.code).toBe('INTERNAL');
    expect(err.message).not.toContain('/secret/path');
    expect(err.cause).toBe(cause);
    const same = new LicensorError('REVOKED', 'revoked');
    expect(toLicensorError(same)).toBe(same);
  });

  it('has unique codes and an HTTP status for each', () => {
    const all = [...LICENSE_CODES, ...ERROR_CODES];
    expect(new Set(all).size).toBe(all.length);
    for (const code of all) {
      expect(isLicensorCode(code)).toBe(true);
      expect(httpStatusFor(code)).toBeGreaterThanOrEqual(400);
    }
    expect(isLicensorCode('NOPE')).toBe(false);
    expect(httpStatusFor('RATE_LIMITED')).toBe(429);
    expect(httpStatusFor('FILE_SIGNATURE_INVALID')).toBe(400);
    expect(new LicensorError('SERVER_UNREACHABLE', 'x').retryable).toBe(true);
    expect(new LicensorError('REVOKED', 'x').retryable).toBe(false);
  });
});

describe('fetchFailureCause', () => {
  const undici = (cause: object) => Object.assign(new TypeError('fetch failed'), { cause });
  it('names the reason undici puts in the cause, not its "fetch failed"', () => {
    expect(
      fetchFailureCause(undici(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }))),
    ).toBe('ECONNREFUSED');
    // A port fetch refuses to connect to (1, 6000, …) has a message but no code.
    expect(fetchFailureCause(undici(new Error('bad port')))).toBe('bad port');
    expect(fetchFailureCause(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))).toBe(
      'TimeoutError',
    );
    expect(fetchFailureCause(new TypeError('fetch failed'))).toBe('fetch failed');
    expect(fetchFailureCause(undefined)).toBe('network error');
  });
});
