import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openPostgres } from '@licensor/server';
import { RESPONSE_SIGNATURE_HEADER, verifyBodySign } from '@licensor/shared';
import { type Instances, runCli, startInstances } from '@licensor/testkit/instances';
import { type PrivatePostgres, startPrivatePostgres } from '@licensor/testkit/privatePostgres';
import { type CrashDeployment, type CrashReport, crashSummary, type Observation, runCrashTest } from './crash';
import { ACCESS_KEY, type Answer, KOO_KEY, serverEnv, sleep } from './harness';

/**
 * The crash test on PostgreSQL (issue 16, "Durability under failure"): two server processes on one private
 * PostgreSQL cluster (testkit/privatePostgres.ts: synchronous_commit on, never the shared cluster) behind a
 * round-robin, under the mixed load of crash.ts. One instance at a time is SIGKILLed and restarted (alternating),
 * and once, mid-run, PostgreSQL itself is stopped and started again after an outage. Beyond crash.ts's checks
 * (every acknowledged write in the database exactly once, seat limits, the outbox delivered, License files
 * verifying), this deployment checks that
 * - the surviving instance answered while the other was down (every kill);
 * - during the PostgreSQL outage every answer was signed "retry later" — a signed 000005 on the production
 *   interface (nothing was written, so the marketplace sends it again), a signed 503 STORAGE_UNAVAILABLE on the
 *   activation and admin APIs — never a success, never an unsigned or non-503 5xx.
 *
 *   full form:  npx tsx test/crash/pgCrash.ts --kills 20     (also in `npm run test:full`)
 */

export interface PgCrashOptions {
  kills: number;
  workers?: number;
  upMs?: [number, number];
  minAcknowledgedPerUp?: number;
  /** How long PostgreSQL stays down (default 2 s). */
  outageMs?: number;
  log?: (line: string) => void;
}

export interface OutageReport {
  /** Answers to requests sent and answered while PostgreSQL was down, by "status resultCode/error code". */
  byCode: Record<string, number>;
  /** Requests sent in the outage that got no answer at all (should be none: the servers stay up). */
  unanswered: number;
  downMs: number;
  /** How long after PostgreSQL was back the first acknowledged write came (pools reconnecting). */
  recoveryMs: number;
}

export interface PgCrashReport extends CrashReport {
  /** Answers the surviving instance gave during each kill (from the kill to the restarted one being ready). */
  survivorAnswers: number[];
  outage?: OutageReport;
}

const signedByServer = (o: Observation, a: Answer): boolean => {
  const marketplace = /getLicense|refreshLicense|newInstance|LicenseCode|getLicenseAsync/.test(o.op);
  if (marketplace) {
    const header = a.headers.get('body-sign');
    return verifyBodySign(KOO_KEY, a.text, header) || verifyBodySign(ACCESS_KEY, a.text, header);
  }
  return Boolean(a.headers.get(RESPONSE_SIGNATURE_HEADER));
};

const codeOf = (a: Answer) =>
  `${a.status} ${String(a.json.resultCode ?? (a.json.error as { code?: string } | undefined)?.code ?? '')}`.trim();

/** A success: the write was acknowledged (which must then be durable). */
const isSuccess = (a: Answer) =>
  (a.status >= 200 && a.status < 300 && a.json.resultCode === undefined) || a.json.resultCode === '000000';

export async function runPgCrashTest(opts: PgCrashOptions): Promise<PgCrashReport> {
  const log = opts.log ?? (() => undefined);
  const outageMs = opts.outageMs ?? 2000;
  const survivorAnswers: number[] = [];
  const outageFailures: string[] = [];
  let outage: OutageReport | undefined;
  let pg: PrivatePostgres | undefined;
  let running: Instances | undefined;
  let dataDirMade: string | undefined;

  const deployment = async (simUrl: string): Promise<CrashDeployment> => {
    pg = await startPrivatePostgres({ label: 'crash test on PostgreSQL' });
    if (!pg) throw new Error('no private PostgreSQL cluster can run here (see the warning above)');
    const cluster = pg;
    const dataDir = mkdtempSync(join(tmpdir(), 'licensor-pgcrash-'));
    dataDirMade = dataDir;
    const { PORT: _port, ...common } = serverEnv(0, dataDir, simUrl, { LICENSOR_KOO_TIMEOUT_MS: '1500' });
    const env = { ...common, LICENSOR_DATABASE_URL: cluster.url };
    let fleet: Instances | undefined;
    const outputs: string[][] = [];
    try {
      const keys = await runCli(['--json', 'keys', 'init'], env);
      if (keys.code !== 0) throw new Error(`keys init: ${keys.stderr}${keys.stdout}`);
      const migrate = await runCli(['db', 'migrate'], env);
      if (migrate.code !== 0) throw new Error(`db migrate: ${migrate.stderr}${migrate.stdout}`);
      const rootCertificatePem = String(keys.json().rootCertificatePem);
      // A restart on a machine loaded far beyond its cores (load 26 on 2 cores measured) took over 60 s to be ready.
      fleet = await startInstances({ count: 2, env, timeoutMs: 180_000 });
      running = fleet;
      const f = fleet;
      outputs.push(...f.instances.map((i) => i.output));

      // Observation windows: a kill (answers by the survivor) and the PostgreSQL outage (answers by code).
      let killWindow: { survivor: string; answers: number } | undefined;
      let down: { at: number; upAt?: number } | undefined;
      const inOutage: Observation[] = [];
      let firstAckAfterUp: number | undefined;
      const pgRestartAt = Math.floor(opts.kills / 2);

      return {
        dataDir,
        rootCertificatePem,
        base: () => f.next(),
        // The load balancer sends the retry to the other instance at once.
        afterUnanswered: () => sleep(10),
        observe: (o) => {
          if (o.answer && killWindow && o.base === killWindow.survivor) killWindow.answers++;
          if (down && o.sentAt >= down.at && (down.upAt === undefined || o.answeredAt <= down.upAt)) inOutage.push(o);
          if (down?.upAt && firstAckAfterUp === undefined && o.sentAt >= down.upAt && o.answer && isSuccess(o.answer)) {
            firstAckAfterUp = o.answeredAt - down.upAt;
          }
        },
        disrupt: async (k) => {
          const victim = k % 2;
          killWindow = { survivor: f.url(1 - victim), answers: 0 };
          await f.kill(victim);
          if (Math.random() < 0.5) await sleep(Math.floor(Math.random() * 300)); // the port stays closed a while
          const again = await f.restart(victim);
          outputs.push(again.output);
          survivorAnswers.push(killWindow.answers);
          let line = `instance ${victim} killed and restarted; the survivor answered ${killWindow.answers} meanwhile`;
          killWindow = undefined;
          if (k === pgRestartAt) {
            // PostgreSQL goes away under the load, for outageMs, then comes back on the same data.
            down = { at: Number.NaN };
            const stopping = Date.now();
            await cluster.stop();
            down.at = Date.now();
            await sleep(outageMs);
            await cluster.start();
            down.upAt = Date.now();
            // Let the load run against the recovered database before the next kill.
            const deadline = Date.now() + 30_000;
            while (firstAckAfterUp === undefined && Date.now() < deadline) await sleep(50);
            outage = {
              byCode: {},
              unanswered: 0,
              downMs: down.upAt - down.at,
              recoveryMs: firstAckAfterUp ?? -1,
            };
            for (const o of inOutage) {
              if (!o.answer) {
                outage.unanswered++;
                continue;
              }
              const code = codeOf(o.answer);
              outage.byCode[code] = (outage.byCode[code] ?? 0) + 1;
              if (isSuccess(o.answer)) {
                outageFailures.push(
                  `${o.op} answered ${code} while PostgreSQL was down: ${o.answer.text.slice(0, 200)}`,
                );
              } else if (!signedByServer(o, o.answer)) {
                outageFailures.push(`${o.op}: unsigned answer ${code} while PostgreSQL was down`);
              } else if (o.answer.json.resultCode !== undefined) {
                if (!['000004', '000005'].includes(String(o.answer.json.resultCode))) {
                  outageFailures.push(`${o.op}: ${code} while PostgreSQL was down (expected a retry-later code)`);
                }
              } else if (o.answer.status !== 503) {
                outageFailures.push(`${o.op}: HTTP ${code} while PostgreSQL was down (expected 503)`);
              }
            }
            if (firstAckAfterUp === undefined)
              outageFailures.push('no write was acknowledged within 30 s of PostgreSQL being back');
            line += `; PostgreSQL stopped (${down.at - stopping} ms), down ${outage.downMs} ms, first acknowledged write ${outage.recoveryMs} ms after it was back; answers meanwhile ${JSON.stringify(outage.byCode)}`;
          }
          return line;
        },
        healthBase: () => f.next(),
        stop: () => f.stop(),
        openForChecks: async () => {
          const db = openPostgres(cluster.url, {
            settings: {
              poolSize: 2,
              statementTimeoutMs: 60_000,
              connectTimeoutMs: 5000,
              ssl: undefined,
              sslCaFile: undefined,
              applicationName: 'licensor-crash-checks',
            },
          });
          return { db, close: () => db.close() };
        },
        output: () => outputs.flat().join(''),
        cleanup: async (keep) => {
          if (keep) {
            log(`kept for inspection: ${dataDir}, PostgreSQL data ${cluster.dataDir} (stopped)`);
            await cluster.stop().catch(() => undefined);
            return;
          }
          await cluster.destroy();
          rmSync(dataDir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      await fleet?.stop();
      await cluster.destroy();
      rmSync(dataDir, { recursive: true, force: true });
      throw err;
    }
  };

  let report: CrashReport;
  try {
    report = await runCrashTest({ ...opts, drainTimeoutMs: 90_000, deployment });
  } catch (err) {
    // A failure before the checks (start-up, a worker bug): the cluster must not outlive the test.
    await (running as Instances | undefined)?.stop();
    await (pg as PrivatePostgres | undefined)?.destroy();
    if (dataDirMade) rmSync(dataDirMade, { recursive: true, force: true });
    throw err;
  }
  const failures = [...report.failures, ...outageFailures];
  if (!outage && report.kills > Math.floor(opts.kills / 2)) failures.push('PostgreSQL was not restarted');
  survivorAnswers.forEach((n, i) => {
    if (n === 0) failures.push(`kill ${i + 1}: the surviving instance answered nothing while the other was down`);
  });
  return { ...report, failures, survivorAnswers, outage };
}

export function pgCrashSummary(r: PgCrashReport): string {
  const s = r.survivorAnswers;
  return [
    crashSummary(r),
    `survivor answers/kill: min ${Math.min(...s)}, median ${[...s].sort((a, b) => a - b)[Math.floor(s.length / 2)]}, max ${Math.max(...s)}`,
    r.outage
      ? `PostgreSQL outage:     down ${r.outage.downMs} ms; answers sent and received meanwhile ${JSON.stringify(r.outage.byCode)}, ${r.outage.unanswered} unanswered; first acknowledged write ${r.outage.recoveryMs} ms after it was back`
      : 'PostgreSQL outage:     none',
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name: string, fallback: number) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? Number(process.argv[i + 1]) : fallback;
  };
  const report = await runPgCrashTest({
    kills: arg('--kills', 20),
    workers: arg('--workers', 12),
    log: (line) => console.log(`  ${line}`),
  });
  console.log(`\nCrash test on PostgreSQL (two instances)\n${pgCrashSummary(report)}`);
  process.exit(report.failures.length === 0 ? 0 : 1);
}
