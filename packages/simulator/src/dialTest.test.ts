import { describe, expect, it } from 'vitest';
import { type DialCaseReport, type DialReport, formatDialReport } from './dialTest';

const row = (name: string, activity: string, codes: string[]): DialCaseReport => ({
  family: 'C',
  name,
  activity,
  codes,
  problems: codes.map(() => undefined),
  ok: true,
});

const summary = (cases: DialCaseReport[]) => {
  const report: DialReport = { rounds: 3, cases, skipped: [], ok: true };
  return formatDialReport(report, 'https://licensor.example.com/api/koogallery/produce').join('\n');
};

describe('the dial test summary', () => {
  it('says every case answered the same only when it did', () => {
    const same = summary([
      row('newInstance (创建实例)', 'newInstance', ['000000', '000000', '000000']),
      row('releaseInstance (释放实例)', 'releaseInstance', ['000000', '000000', '000000']),
    ]);
    expect(same).toContain('READY: every case answered the same in all 3 rounds. Save these cases');
  });

  it('names the cases whose answers differed between rounds and why that still passes', () => {
    const out = summary([
      row('newInstance (创建实例)', 'newInstance', ['000004', '000000', '000000']),
      row('releaseInstance (释放实例)', 'releaseInstance', ['000000', '000000', '000000']),
    ]);
    expect(out).not.toContain('answered the same');
    expect(out).toContain(
      'READY: every case succeeded in all 3 rounds, but one answered differently between rounds, which the dial tests accept:',
    );
    expect(out).toContain(
      '  C newInstance: 000004 → 000000 → 000000 — 000004 (being processed) and 000000 (done) are both success for this asynchronous activity, and the instanceId and license it returned (where it returned them) stayed the same.',
    );
    expect(out).not.toMatch(/C releaseInstance:/);
    expect(out).toContain('Save these cases in the seller center');
  });
});
