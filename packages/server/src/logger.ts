import { createHash } from 'node:crypto';
import pino, { type Logger } from 'pino';

export type { Logger };

/** A short, stable stand-in for an identifier: the same code always logs the same way, so lines still correlate. */
export const logHash = (value: string): string =>
  `sha256:${createHash('sha256').update(value, 'utf8').digest('hex').slice(0, 12)}`;

/** A JSON string literal's content (escapes included), as it appears in a serialised log line. */
const JSON_STRING = String.raw`"((?:[^"\\]|\\.)*)"`;
/** Fields whose values are license codes or order ids wherever they sit in a log line. */
const IDENTIFIER_FIELD = new RegExp(
  `"(orderId|order_id|orderLineId|order_line_id|license|licenseCode|license_code|code|codes)":` +
    String.raw`(${JSON_STRING}|\[(?:\s*${JSON_STRING}\s*,?)*\])`,
  'g',
);
/**
 * License codes and order ids inside free text (messages, error texts, stack traces): family-B codes (PL…),
 * family-A codes (LSR-…), KooGallery order ids (CS + 10 digits + suffix) and admin tokens (lsr_…).
 */
const IDENTIFIER_TEXT = /\bPL[0-9A-Za-z]{6,}\b|\bLSR-[0-9A-Z]{4,}(?:-[0-9A-Z]{2,})*|\bCS\d{10}[0-9A-Za-z]+(?:-\d+)?\b/g;
const ADMIN_TOKEN_TEXT = /\blsr_[A-Za-z0-9_-]{16,}/g;
/** Error codes (ENOENT, SQLITE_FULL, NOT_FOUND…) also travel as `code`: they are not identifiers. */
const ERROR_CODE = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/;
const LICENSE_CODE = /^(?:PL[0-9A-Za-z]{6,}|LSR-)/;

function hashStringLiteral(literal: string): string {
  const value = JSON.parse(literal) as string;
  return JSON.stringify(logHash(value));
}

/**
 * Rewrites one serialised log line: identifier fields become hashes (error codes in `code` stay readable),
 * identifiers in free text become hashes, admin tokens disappear.
 */
export function redactIdentifiers(line: string): string {
  return line
    .replace(IDENTIFIER_FIELD, (_whole, key: string, value: string) => {
      const literals = value.startsWith('[') ? [...value.matchAll(new RegExp(JSON_STRING, 'g'))] : [[value]];
      const replaced = literals.map(([lit]) => {
        const v = JSON.parse(lit!) as string;
        if (v.startsWith('sha256:')) return lit!;
        if ((key === 'code' || key === 'codes') && ERROR_CODE.test(v) && !LICENSE_CODE.test(v)) return lit!;
        return hashStringLiteral(lit!);
      });
      return `"${key}":${value.startsWith('[') ? `[${replaced.join(',')}]` : replaced[0]}`;
    })
    .replace(IDENTIFIER_TEXT, (m) => logHash(m))
    .replace(ADMIN_TOKEN_TEXT, '[redacted]');
}

/**
 * Structured JSON logs. Secrets and raw fingerprints are redacted by path wherever they could appear,
 * so a careless `log.info({ req })` cannot leak them; license codes, order ids and admin tokens are
 * replaced by short hashes in every line (see redactIdentifiers), whatever field or message carries them.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'licensor' },
      redact: {
        paths: [
          'authorization',
          'headers.authorization',
          'req.headers.authorization',
          '*.token',
          'token',
          'adminToken',
          'passphrase',
          '*.passphrase',
          'privateKey',
          '*.privateKey',
          'sk',
          '*.sk',
          'deviceFingerprint',
          '*.deviceFingerprint',
          'components',
          '*.components',
        ],
        censor: '[redacted]',
      },
      hooks: { streamWrite: redactIdentifiers },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
