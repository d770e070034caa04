import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs. Secrets and raw fingerprints are redacted by path wherever they could appear,
 * so a careless `log.info({ req })` cannot leak them.
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
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
