/**
 * One stable set of machine-readable codes shared by the server, the client library, the CLIs and the
 * Electron shell, and one typed error that carries them. Codes are part of the public contract: never
 * rename one, only add.
 */

/** Verdicts about a license (validation results, check-in answers, activation refusals). */
export const LICENSE_CODES = [
  'VALID',
  'NO_LICENSE',
  'NOT_FOUND',
  'SUSPENDED',
  'EXPIRED',
  'FROZEN',
  'REVOKED',
  'RELEASED',
  'TOO_MANY_DEVICES',
  'FINGERPRINT_MISMATCH',
  'PRODUCT_MISMATCH',
  'FILE_SIGNATURE_INVALID',
  'FILE_EXPIRED',
  'NOT_YET_VALID',
  'TIME_MODIFIED',
  'GRACE_PERIOD_OVER',
  'STATE_TAMPERED',
  'VM_NOT_ALLOWED',
  'USER_NOT_AUTHORIZED',
] as const;

/** Failures of an operation (bad input, authentication, transport, internal). */
export const ERROR_CODES = [
  'INVALID_INPUT',
  'PAYLOAD_TOO_LARGE',
  'UNAUTHORIZED',
  /** A console session that timed out (idle or absolute) or was ended: sign in again. */
  'SESSION_ENDED',
  'FORBIDDEN',
  'RATE_LIMITED',
  'REPLAYED',
  'SIGNATURE_INVALID',
  'CONFLICT',
  'TRANSFER_LIMIT_REACHED',
  /** Lowering a license's seats below the devices holding them (detail.devices lists them). */
  'SEATS_IN_USE',
  'MARKETPLACE_UNAVAILABLE',
  'MARKETPLACE_REJECTED',
  'MARKETPLACE_NOT_CONFIGURED',
  'SERVER_UNREACHABLE',
  'RESPONSE_INVALID',
  'FILE_MALFORMED',
  'FILE_TOO_LARGE',
  'UNSUPPORTED_VERSION',
  'UNSUPPORTED_ALGORITHM',
  'CERTIFICATE_INVALID',
  'KEY_NOT_FOUND',
  'KEY_DECRYPT_FAILED',
  'CONFIG_INVALID',
  'STORAGE_UNAVAILABLE',
  /** A bug, not a condition: a query on the top-level storage inside one of its transactions (test-only check). */
  'STORAGE_MISUSE',
  'INTERNAL',
] as const;

export type LicenseCode = (typeof LICENSE_CODES)[number];
export type ErrorCode = (typeof ERROR_CODES)[number];
export type LicensorCode = LicenseCode | ErrorCode;

const ALL_CODES = new Set<string>([...LICENSE_CODES, ...ERROR_CODES]);

export function isLicensorCode(value: unknown): value is LicensorCode {
  return typeof value === 'string' && ALL_CODES.has(value);
}

/** HTTP status that an API uses for each code when it is the reason a request failed. */
export function httpStatusFor(code: LicensorCode): number {
  switch (code) {
    case 'INVALID_INPUT':
    case 'FILE_MALFORMED':
    // A file sent to an API that fails its signature (e.g. an edited offline request) is bad input.
    case 'FILE_SIGNATURE_INVALID':
    case 'UNSUPPORTED_VERSION':
    case 'UNSUPPORTED_ALGORITHM':
    case 'CONFIG_INVALID':
      return 400;
    case 'UNAUTHORIZED':
    case 'SESSION_ENDED':
    case 'SIGNATURE_INVALID':
    case 'REPLAYED':
      return 401;
    case 'FORBIDDEN':
      return 403;
    case 'NOT_FOUND':
    case 'KEY_NOT_FOUND':
      return 404;
    case 'CONFLICT':
    case 'TOO_MANY_DEVICES':
    case 'TRANSFER_LIMIT_REACHED':
    case 'SEATS_IN_USE':
    case 'FINGERPRINT_MISMATCH':
    case 'VM_NOT_ALLOWED':
    case 'USER_NOT_AUTHORIZED':
      return 409;
    case 'PAYLOAD_TOO_LARGE':
    case 'FILE_TOO_LARGE':
      return 413;
    case 'RATE_LIMITED':
      return 429;
    case 'MARKETPLACE_UNAVAILABLE':
    case 'SERVER_UNREACHABLE':
    case 'STORAGE_UNAVAILABLE':
      return 503;
    case 'MARKETPLACE_REJECTED':
      return 502;
    // The vendor's server cannot ask the marketplace at all: its own configuration, not the request or a blip.
    case 'MARKETPLACE_NOT_CONFIGURED':
    case 'STORAGE_MISUSE':
    case 'INTERNAL':
      return 500;
    default:
      // License verdicts (EXPIRED, FROZEN, REVOKED, …) refuse the operation on a license that exists.
      return 403;
  }
}

/** Codes whose failure may go away by itself; clients retry these with backoff. */
export function isRetryable(code: LicensorCode): boolean {
  return (
    code === 'MARKETPLACE_UNAVAILABLE' ||
    code === 'SERVER_UNREACHABLE' ||
    code === 'STORAGE_UNAVAILABLE' ||
    code === 'RATE_LIMITED'
  );
}

export type ErrorDetail = Record<string, unknown>;

/** The one error type of the project. `message` is for people; `code` and `detail` are for programs. */
export class LicensorError extends Error {
  readonly code: LicensorCode;
  readonly detail: ErrorDetail | undefined;

  constructor(code: LicensorCode, message: string, detail?: ErrorDetail, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LicensorError';
    this.code = code;
    this.detail = detail;
  }

  get httpStatus(): number {
    return httpStatusFor(this.code);
  }

  get retryable(): boolean {
    return isRetryable(this.code);
  }

  toJSON(): { code: LicensorCode; message: string; detail?: ErrorDetail } {
    return this.detail === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, detail: this.detail };
  }
}

/** Turns anything thrown into a LicensorError; unknown failures become INTERNAL without leaking internals. */
export function toLicensorError(err: unknown, fallbackMessage = 'Internal error'): LicensorError {
  if (err instanceof LicensorError) return err;
  return new LicensorError('INTERNAL', fallbackMessage, undefined, { cause: err });
}

/**
 * What a failed `fetch` ran into, as specific as Node says it: undici throws `TypeError('fetch failed')` and puts the
 * reason in `cause` ("ECONNREFUSED", "ENOTFOUND", "CERT_HAS_EXPIRED", "UND_ERR_SOCKET"; a message such as "bad port"
 * where there is no code); a timeout is a `TimeoutError`.
 */
export function fetchFailureCause(err: unknown): string {
  const e = err as { name?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } } | undefined;
  const code = e?.cause?.code;
  if (typeof code === 'string' && code) return code;
  const inner = e?.cause?.message;
  if (typeof inner === 'string' && inner) return inner;
  if (typeof e?.name === 'string' && e.name && e.name !== 'TypeError' && e.name !== 'Error') return e.name;
  return typeof e?.message === 'string' && e.message ? e.message : 'network error';
}
