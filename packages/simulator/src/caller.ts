import { schemeAAuthToken, schemeBSignature, verifyBodySign } from '@licensor/shared';
import { compactMs, ids } from './ids';

/**
 * The marketplace as the caller of a merchant's production interface: signs every activity the way
 * KooGallery does (scheme A for family A, scheme B for B/C/orderNotify), checks every answer (HTTP 200,
 * JSON, resultCode/resultMsg, a valid Body-Sign over the exact bytes, under 5 s) and prints one line per
 * call like the seller center's debugging console. Failed deliveries are retried on the documented
 * schedule (spec §2.5), compressible in time for tests.
 */

export type InterfaceType = 'basic' | 'licenseCode' | 'generic';

export const FAMILY_A = new Set(['getLicense', 'refreshLicense', 'expireLicense', 'releaseLicense']);
const LICENSE_CODE = new Set(['refreshLicenseCode', 'updateLicenseCodeStatus', 'releaseLicenseCode']);

/** Documented retry schedules: attempts after the first and the pause between them (ms of real time). */
export const RETRY_SCHEDULE: Record<string, { retries: number; everyMs: number }> = {
  getLicense: { retries: 3, everyMs: 3_600_000 },
  newInstance: { retries: 60, everyMs: 120_000 },
  refreshInstance: { retries: 60, everyMs: 120_000 },
  updateInstanceStatus: { retries: 60, everyMs: 120_000 },
  refreshLicenseCode: { retries: 60, everyMs: 120_000 },
  updateLicenseCodeStatus: { retries: 60, everyMs: 120_000 },
  releaseLicenseCode: { retries: 60, everyMs: 120_000 },
  orderNotify: { retries: 3, everyMs: 3_600_000 },
  upgradeInstance: { retries: 3, everyMs: 3_600_000 },
};

export interface CallerOptions {
  /** The production URL, e.g. http://localhost:8080/api/koogallery/produce */
  url: string;
  /** Scheme-A Key (family A). */
  key?: string;
  /** Access keys per interface type; `default` is used where a type has none. */
  accessKeys: Partial<Record<InterfaceType, string>> & { default?: string };
  /** Multiplies the documented retry pauses (e.g. 1/3600: an hour becomes a second). 0 = no retries. */
  retryTimeScale?: number;
  timeoutMs?: number;
  /** Where the console lines go (default: stdout). */
  print?: (line: string) => void;
  /** Shifts the signing clock, to rehearse clock skew. */
  clockSkewMs?: number;
}

export interface CallResult {
  activity: string;
  status: number;
  resultCode: string;
  resultMsg: string;
  body: Record<string, unknown>;
  ms: number;
  /** Problems with the answer itself (signature, status, shape, latency). Empty = well-formed. */
  problems: string[];
  attempts: number;
  /** Well-formed and one of the expected result codes. */
  pass: boolean;
}

export class MarketplaceCaller {
  readonly results: CallResult[] = [];
  private readonly print: (line: string) => void;

  constructor(readonly opts: CallerOptions) {
    this.print = opts.print ?? ((l) => console.log(l));
  }

  private accessKey(activity: string): string {
    const type: InterfaceType = LICENSE_CODE.has(activity)
      ? 'licenseCode'
      : activity === 'orderNotify'
        ? 'generic'
        : 'basic';
    const k = this.opts.accessKeys[type] ?? this.opts.accessKeys.default;
    if (!k) throw new Error(`No access key for ${type} interfaces (--access-key)`);
    return k;
  }

  /** Builds the signed request as the marketplace would send it (`fixed` pins time, nonce and body bytes for vectors). */
  prepare(
    params: Record<string, string | undefined>,
    fixed: { now?: Date; nonce?: string; rawBody?: string } = {},
  ): {
    method: 'GET' | 'POST';
    url: string;
    body?: string;
    key: string;
  } {
    const activity = String(params.activity);
    const now = fixed.now ?? new Date(Date.now() + (this.opts.clockSkewMs ?? 0));
    const clean = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined)) as Record<
      string,
      string
    >;
    if (FAMILY_A.has(activity)) {
      if (!this.opts.key) throw new Error('Family A needs the Key (--key)');
      const all = { ...clean, timeStamp: compactMs(now) };
      const q = new URLSearchParams({ ...all, authToken: schemeAAuthToken(this.opts.key, all) });
      return { method: 'GET', url: `${this.opts.url}?${q}`, key: this.opts.key };
    }
    const key = this.accessKey(activity);
    const body = fixed.rawBody ?? JSON.stringify(clean);
    const nonce = fixed.nonce ?? ids.nonce();
    const timestamp = String(now.getTime());
    const signature = schemeBSignature(key, nonce, timestamp, body);
    return {
      method: 'POST',
      url: `${this.opts.url}?signature=${signature}&timestamp=${timestamp}&nonce=${nonce}`,
      body,
      key,
    };
  }

  private async sendOnce(activity: string, params: Record<string, string | undefined>): Promise<CallResult> {
    const req = this.prepare(params);
    const started = performance.now();
    const problems: string[] = [];
    let status = 0;
    let text = '';
    let bodySign: string | null = null;
    try {
      const res = await fetch(req.url, {
        method: req.method,
        headers:
          req.method === 'POST' ? { 'Content-Type': 'application/json;charset=utf8', Accept: 'application/json' } : {},
        body: req.body,
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5000),
      });
      status = res.status;
      text = await res.text();
      bodySign = res.headers.get('body-sign');
      if (!(res.headers.get('content-type') ?? '').startsWith('application/json'))
        problems.push('Content-Type is not JSON');
    } catch (err) {
      problems.push(
        `no answer: ${(err as Error).name === 'TimeoutError' ? 'timed out after 5 s' : (err as Error).message}`,
      );
    }
    const ms = performance.now() - started;
    let body: Record<string, unknown> = {};
    if (status) {
      if (status !== 200) problems.push(`HTTP ${status}`);
      try {
        body = JSON.parse(text);
      } catch {
        problems.push('body is not JSON');
      }
      if (!bodySign) problems.push('Body-Sign header missing');
      else if (!verifyBodySign(req.key, text, bodySign)) problems.push('Body-Sign does not match the body');
      if (typeof body.resultCode !== 'string' || !/^\d{6}$/.test(body.resultCode)) problems.push('resultCode missing');
      if (typeof body.resultMsg !== 'string') problems.push('resultMsg missing');
      if (ms > 5000) problems.push(`answered in ${ms.toFixed(0)} ms (limit 5000)`);
    }
    return {
      activity,
      status,
      resultCode: String(body.resultCode ?? ''),
      resultMsg: String(body.resultMsg ?? ''),
      body,
      ms,
      problems,
      attempts: 1,
      pass: false,
    };
  }

  /**
   * Sends one activity; when the delivery fails (no answer, malformed answer or 000005) it is retried with a
   * new signature on the activity's documented schedule scaled by `retryTimeScale`.
   * `expect` lists the result codes that count as PASS.
   */
  async call(params: Record<string, string | undefined>, expect: string[] = ['000000']): Promise<CallResult> {
    const activity = String(params.activity);
    const schedule = RETRY_SCHEDULE[activity];
    const scale = this.opts.retryTimeScale ?? 0;
    let result = await this.sendOnce(activity, params);
    let attempts = 1;
    while (
      schedule &&
      scale > 0 &&
      attempts <= schedule.retries &&
      (result.problems.length > 0 || result.resultCode === '000005')
    ) {
      this.report({ ...result, attempts }, expect, 'RETRY');
      await new Promise((r) => setTimeout(r, schedule.everyMs * scale));
      result = await this.sendOnce(activity, params);
      attempts++;
    }
    result.attempts = attempts;
    result.pass = this.passed(result, expect);
    this.results.push(result);
    this.report(result, expect);
    return result;
  }

  passed(r: CallResult, expect: string[]): boolean {
    return r.problems.length === 0 && expect.includes(r.resultCode);
  }

  private report(r: CallResult, expect: string[], tag?: string) {
    const ok = this.passed(r, expect);
    const extras = ['instanceId', 'license']
      .filter((k) => typeof r.body[k] === 'string')
      .map((k) => `${k}=${String(r.body[k]).slice(0, 40)}`)
      .join(' ');
    const why = r.problems.length
      ? ` — ${r.problems.join('; ')}`
      : ok
        ? ''
        : ` — expected ${expect.join('/')}: ${r.resultMsg}`;
    this.print(
      `${(tag ?? (ok ? 'PASS' : 'FAIL')).padEnd(5)} ${r.activity.padEnd(24)} ${(r.resultCode || '------').padEnd(6)} ${r.ms
        .toFixed(0)
        .padStart(5)} ms${r.attempts > 1 ? ` (attempt ${r.attempts})` : ''}${extras ? `  ${extras}` : ''}${why}`,
    );
  }

  summary(): { passed: number; failed: number } {
    const passed = this.results.filter((r) => r.pass).length;
    return { passed, failed: this.results.length - passed };
  }
}
