import { displayWidth } from '@licensor/shared';
import type { CallResult, MarketplaceCaller } from './caller';
import { compact, daysFromNow, ids, spaced } from './ids';

/**
 * KooGallery's dial tests (拨测, spec §2.5 and §10.2): every morning and afternoon the marketplace replays the
 * debug cases saved in the seller center, with the same bodies and a new signature, timestamp and nonce each
 * time; five failing days freeze trading and hide the product. This plays the suite a merchant saves for each
 * family — round 1 is the debugging session that saved the cases, later rounds are the replays — and reports,
 * per case and round, whether the production interface still answers as it did the first time.
 */

export type DialFamily = 'A' | 'B' | 'C' | 'notify';

/** One saved debug case: the seller-center tab it comes from and the body the marketplace replays. */
export interface DialCase {
  family: DialFamily;
  /** What the case is called in the seller center's debugger (English, then the tab name). */
  name: string;
  params: Record<string, string>;
  /** Answers accepted as success: 000004 is "being processed" for the asynchronous activities. */
  accept: string[];
}

export interface DialOptions {
  caller: MarketplaceCaller;
  rounds: number;
  families: DialFamily[];
  /** A family-B test code the server knows (registered as test data); without it family B is skipped. */
  testCode?: string;
  /** Replays (rounds 2…) send each family's cases in a random order: the marketplace promises no order. */
  shuffle?: boolean;
  /** Called once per round before the cases are sent (e.g. to mark the round in the output). */
  onRound?: (round: number) => void;
}

export interface DialCaseReport {
  family: DialFamily;
  name: string;
  activity: string;
  /** Result code per round ('' = no well-formed answer). */
  codes: string[];
  /** Why a round failed, per round (undefined = passed). */
  problems: (string | undefined)[];
  ok: boolean;
}

export interface DialReport {
  rounds: number;
  cases: DialCaseReport[];
  skipped: string[];
  ok: boolean;
}

const ASYNC = ['000000', '000004'];
/** What the accepted result codes say, for the summary (spec §4, result codes). */
const RESULT_MEANING: Record<string, string> = { '000000': '(done)', '000004': '(being processed)' };

/**
 * Builds the saved cases of round 1. Family A and C cases after the first name the instance that
 * getLicense / newInstance answered, as a merchant copies it into the debugger; `learn` fills it in.
 */
function familyCases(family: DialFamily, testCode: string | undefined): DialCase[] {
  const flag = { testFlag: '1' };
  switch (family) {
    case 'A': {
      const orderId = ids.order();
      const renewal = ids.order();
      return [
        {
          family,
          name: 'getLicense (交付接口调试: 获取License)',
          accept: ['000000'],
          params: {
            activity: 'getLicense',
            businessId: ids.business(),
            customerId: ids.customer(),
            orderId,
            productId: 'OFFI000000000000000001',
            expireTime: compact(daysFromNow(365)),
            periodType: 'year',
            periodNumber: '1',
            amount: '1',
            ...flag,
          },
        },
        {
          family,
          name: 'refreshLicense (License续费)',
          accept: ['000000'],
          params: {
            activity: 'refreshLicense',
            orderId: renewal,
            instanceId: '',
            expireTime: compact(daysFromNow(730)),
            ...flag,
          },
        },
        {
          family,
          name: 'expireLicense (License过期)',
          accept: ['000000'],
          params: { activity: 'expireLicense', orderId, instanceId: '', ...flag },
        },
        {
          family,
          name: 'releaseLicense (License释放)',
          accept: ['000000'],
          params: { activity: 'releaseLicense', orderId, instanceId: '', ...flag },
        },
      ];
    }
    case 'B': {
      if (!testCode) return [];
      const renewal = ids.order();
      return [
        {
          family,
          name: 'refreshLicenseCode (更新授权码有效期)',
          accept: ['000000'],
          params: {
            activity: 'refreshLicenseCode',
            scene: 'RENEWAL',
            license: testCode,
            orderId: renewal,
            orderLineId: ids.orderLine(renewal),
            expireTime: compact(daysFromNow(395)),
            ...flag,
          },
        },
        {
          family,
          name: 'updateLicenseCodeStatus FREEZE (变更授权码状态)',
          accept: ['000000'],
          params: { activity: 'updateLicenseCodeStatus', license: testCode, status: 'FREEZE', ...flag },
        },
        {
          family,
          name: 'updateLicenseCodeStatus UNFREEZE (变更授权码状态)',
          accept: ['000000'],
          params: { activity: 'updateLicenseCodeStatus', license: testCode, status: 'UNFREEZE', ...flag },
        },
        {
          family,
          name: 'releaseLicenseCode (释放授权码)',
          accept: ['000000'],
          params: { activity: 'releaseLicenseCode', license: testCode, ...flag },
        },
      ];
    }
    case 'C': {
      const orderId = ids.order();
      const renewal = ids.order();
      return [
        {
          family,
          name: 'newInstance (创建实例)',
          accept: ASYNC,
          params: {
            activity: 'newInstance',
            businessId: ids.business(),
            orderId,
            orderLineId: ids.orderLine(orderId),
            ...flag,
          },
        },
        {
          family,
          name: 'refreshInstance RENEWAL (更新实例)',
          accept: ['000000'],
          params: {
            activity: 'refreshInstance',
            scene: 'RENEWAL',
            instanceId: '',
            orderId: renewal,
            orderLineId: ids.orderLine(renewal),
            expireTime: compact(daysFromNow(730)),
            ...flag,
          },
        },
        {
          family,
          name: 'updateInstanceStatus FREEZE (更新实例状态)',
          accept: ['000000'],
          params: { activity: 'updateInstanceStatus', instanceId: '', status: 'FREEZE', ...flag },
        },
        {
          family,
          name: 'updateInstanceStatus UNFREEZE (更新实例状态)',
          accept: ['000000'],
          params: { activity: 'updateInstanceStatus', instanceId: '', status: 'UNFREEZE', ...flag },
        },
        {
          family,
          name: 'getLicenseAsync (异步申请License)',
          accept: ASYNC,
          params: {
            activity: 'getLicenseAsync',
            instanceId: '',
            eventId: ids.event(),
            effectiveTime: spaced(new Date()),
            expireTime: spaced(daysFromNow(365)),
            deviceFingerprint: ids.fingerprint(),
            ...flag,
          },
        },
        {
          family,
          name: 'releaseInstance (释放实例)',
          accept: ['000000'],
          params: { activity: 'releaseInstance', instanceId: '', ...flag },
        },
      ];
    }
    case 'notify': {
      const orderId = ids.order();
      return [
        {
          family,
          name: 'orderNotify (订单通知)',
          accept: ['000000'],
          params: { activity: 'orderNotify', orderId, orderLineId: ids.orderLine(orderId), ...flag },
        },
      ];
    }
  }
}

function shuffled<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Plays the saved suites `rounds` times against the production interface the caller points at. */
export async function runDialTest(o: DialOptions): Promise<DialReport> {
  const skipped: string[] = [];
  const suites = o.families.map((family) => familyCases(family, o.testCode));
  if (o.families.includes('B') && !o.testCode) {
    skipped.push('family B: no test code (pass --code with a test code the server knows, or --admin-token)');
  }
  const reports = new Map<DialCase, DialCaseReport>();
  for (const suite of suites)
    for (const c of suite) {
      reports.set(c, {
        family: c.family,
        name: c.name,
        activity: c.params.activity!,
        codes: [],
        problems: [],
        ok: true,
      });
    }
  const firstAnswer = new Map<DialCase, CallResult>();

  for (let round = 1; round <= o.rounds; round++) {
    o.onRound?.(round);
    for (const suite of suites) {
      const order = o.shuffle && round > 1 ? shuffled(suite) : suite;
      for (const c of order) {
        const report = reports.get(c)!;
        // A case that needs the instance id of a first case that never produced one cannot be sent.
        if ('instanceId' in c.params && !c.params.instanceId) {
          report.codes.push('');
          report.problems.push('no instanceId: the first case of this family failed');
          report.ok = false;
          continue;
        }
        const r = await o.caller.call(c.params, c.accept);
        report.codes.push(r.resultCode);
        let problem = r.pass ? undefined : r.problems.length ? r.problems.join('; ') : `${r.resultCode} ${r.resultMsg}`;
        const first = firstAnswer.get(c);
        if (!first) {
          // The baseline is the first successful answer (the one the seller center saved).
          if (r.pass) firstAnswer.set(c, r);
          // The merchant copies the instance id into the family's later saved cases.
          const instanceId = typeof r.body.instanceId === 'string' ? r.body.instanceId : '';
          if (instanceId && (c.params.activity === 'getLicense' || c.params.activity === 'newInstance')) {
            for (const later of suite) if ('instanceId' in later.params) later.params.instanceId = instanceId;
          }
        } else if (!problem) {
          for (const field of ['instanceId', 'license']) {
            if (first.body[field] !== undefined && r.body[field] !== first.body[field]) {
              problem = `${field} changed: ${String(first.body[field])} → ${String(r.body[field])}`;
            }
          }
        }
        report.problems.push(problem);
        if (problem) report.ok = false;
      }
    }
  }
  const cases = [...reports.values()];
  return { rounds: o.rounds, cases, skipped, ok: cases.length > 0 && cases.every((c) => c.ok) };
}

/** The summary a merchant reads before going live: one row per saved case, one column per replay. */
export function formatDialReport(report: DialReport, url: string): string[] {
  const lines: string[] = [];
  const width = Math.max(20, ...report.cases.map((c) => displayWidth(c.name) + 2));
  // Case names carry the seller center's Chinese tab names: pad by terminal cells, not characters.
  const pad = (text: string) => text + ' '.repeat(Math.max(0, width - displayWidth(text)));
  const rounds = Array.from({ length: report.rounds }, (_, i) => `round ${i + 1}`.padEnd(9));
  lines.push('', `Dial test of ${url}: ${report.cases.length} saved debug cases, replayed ${report.rounds} times`, '');
  lines.push(`${'family'.padEnd(7)} ${pad('case')} ${rounds.join(' ')} verdict`);
  for (const c of report.cases) {
    const codes = c.codes.map((code) => (code || '------').padEnd(9)).join(' ');
    lines.push(`${c.family.padEnd(7)} ${pad(c.name)} ${codes} ${c.ok ? 'ok' : 'FAILS'}`);
  }
  for (const c of report.cases) {
    c.problems.forEach((p, i) => {
      if (p) lines.push(`  ${c.family} ${c.activity}, round ${i + 1}: ${p}`);
    });
  }
  for (const s of report.skipped) lines.push(`  skipped ${s}`);
  lines.push('');
  if (report.ok) {
    // A passing case may still have answered differently between rounds, with codes it accepts as success: only
    // the asynchronous activities accept two (000000 done, 000004 being processed).
    const differed = report.cases.filter((c) => new Set(c.codes).size > 1);
    const save =
      'Save these cases in the seller center (调测并保存用例); the twice-daily dial tests will replay them like this.';
    if (differed.length === 0) {
      lines.push(`READY: every case answered the same in all ${report.rounds} rounds. ${save}`);
    } else {
      lines.push(
        `READY: every case succeeded in all ${report.rounds} rounds, but ${differed.length === 1 ? 'one answered' : `${differed.length} answered`} differently between rounds, which the dial tests accept:`,
      );
      for (const c of differed) {
        const meanings = [...new Set(c.codes)].map((code) => `${code} ${RESULT_MEANING[code] ?? 'a success'}`);
        lines.push(
          `  ${c.family} ${c.activity}: ${c.codes.join(' → ')} — ${meanings.join(' and ')} are both success for this asynchronous activity, and the instanceId and license it returned (where it returned them) stayed the same.`,
        );
      }
      lines.push(save);
    }
  } else {
    lines.push(
      'NOT READY: some cases fail when replayed. The marketplace replays saved cases twice a day and freezes ' +
        'trading after 5 failing days — fix the cases marked FAILS before saving them.',
    );
  }
  return lines;
}
