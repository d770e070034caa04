import { describe, expect, it } from 'vitest';
import { createLogger, logHash } from './logger';

const capture = () => {
  const lines: string[] = [];
  const log = createLogger('info', { write: (s: string) => void lines.push(s) });
  return { log, lines, json: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
};

describe('log redaction of license codes, order ids and tokens', () => {
  it('hashes identifier fields at any depth and identifiers inside messages and error texts', () => {
    const { log, lines, json } = capture();
    log.warn(
      {
        code: 'PLABCDEF1234',
        orderId: 'CS2305231200ABCDE',
        skipped: [{ code: 'PL00000001', errorCode: '92020020' }],
        codes: ['PLAAAAAA01', 'LSR-ABCDE-FGHJK-MNPQR-STVW0'],
        err: { code: 'SQLITE_FULL', message: 'Usage report for PLZZZZZZ99 failed' },
        detail: { order_id: 'MOCKPERIODYEARNEW', license: 'anything at all' },
      },
      'code PL12345678 of order CS2305231200ABCDE-000001 (token lsr_abcdefghijklmnopqrstuvwx)',
    );
    const [line] = json();
    expect(line).toMatchObject({
      code: logHash('PLABCDEF1234'),
      orderId: logHash('CS2305231200ABCDE'),
      skipped: [{ code: logHash('PL00000001'), errorCode: '92020020' }],
      codes: [logHash('PLAAAAAA01'), logHash('LSR-ABCDE-FGHJK-MNPQR-STVW0')],
      err: { code: 'SQLITE_FULL', message: `Usage report for ${logHash('PLZZZZZZ99')} failed` },
      detail: { order_id: logHash('MOCKPERIODYEARNEW'), license: logHash('anything at all') },
      msg: `code ${logHash('PL12345678')} of order ${logHash('CS2305231200ABCDE-000001')} (token [redacted])`,
    });
    for (const clear of ['PLABCDEF1234', 'CS2305231200ABCDE', 'PLZZZZZZ99', 'LSR-ABCDE', 'MOCKPERIOD', 'lsr_abc']) {
      expect(lines[0], clear).not.toContain(clear);
    }
  });

  it('keeps error codes readable and every line valid JSON, quotes and backslashes included', () => {
    const { log, json } = capture();
    log.error({ code: 'NOT_FOUND', orderId: 'we"ird\\id', err: { code: 'ENOENT' } }, 'failed');
    expect(json()[0]).toMatchObject({ code: 'NOT_FOUND', orderId: logHash('we"ird\\id'), err: { code: 'ENOENT' } });
  });
});
