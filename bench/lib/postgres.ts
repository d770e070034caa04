import { rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type autocannon from 'autocannon';
import {
  activationRequests,
  checkInRequests,
  cpuMs,
  type Device,
  floorCheckInRequests,
  rssMb,
  sequence,
} from '../../packages/server/bench/activation-bench';
import { type Child, type LoadResult, load, startFloor, startLicensorServer } from '../../packages/server/bench/lib';
import {
  BENCH_PG_ADMIN_URL,
  backendPids,
  cpuMsBetween,
  cpuMsOf,
  createBenchPostgres,
  pgUnreachable,
  seedPostgres,
  xactCounts,
} from '../../packages/server/bench/postgres';

/**
 * The PostgreSQL rows of the benchmark report (issue 16): activation and check-in against the real server on
 * PostgreSQL (LICENSOR_DATABASE_URL), one instance and two instances on the same database (the bench client
 * splits the 50 connections between them, 25 each: round-robin by connection, as a load balancer pins
 * keep-alive connections), next to the PostgreSQL floor endpoint (floor.ts with FLOOR_DATABASE_URL: the same
 * irreducible work, the durable write one autocommitted INSERT). With 100k activations stored, and with 1M when
 * asked (`--large`: seeding 900k more rows takes minutes on a loaded 2-core machine).
 *
 * Beyond req/s and latency, each run reads what PostgreSQL did: rolled-back transactions (pg_stat_database; with
 * no failed request, each is a SERIALIZABLE conflict retried by the facade) and the CPU of the database's
 * backends (/proc of the PIDs pg_stat_activity lists for it), both per request.
 */

const WARMUP_SEC = 2;
const CONNECTIONS = 50;

export interface PgRow extends LoadResult {
  instances: number;
  /** Server (or floor) process CPU, all instances together, per request. */
  cpuUs: number;
  /** PostgreSQL backends' CPU for this database, per request. */
  pgCpuUs: number;
  /** Transactions rolled back per 1000 requests (SERIALIZABLE retries, plus any failed request's). */
  rollbacksPerK: number;
  load: number;
}

export interface PgStep {
  activations: number;
  activation: PgRow;
  activation2: PgRow;
  activationFloor: PgRow;
  checkIn: PgRow;
  checkIn2: PgRow;
  checkInFloor: PgRow;
  seedSec: number;
  rssAfter: number;
}

export interface PgSectionResult {
  steps: PgStep[];
  skipped?: string;
  /** A step that failed (the steps before it are reported). */
  failed?: string;
  seconds: number;
}

type Make = (req: autocannon.Request) => autocannon.Request;

/**
 * One measured run: `makes[i]` feeds the i-th target, each with an equal share of the 50 connections, all at once.
 * Latency percentiles of a split run are not mergeable from autocannon's summaries: p50 is the mean of the
 * targets', p99 the worst target's.
 */
async function run(
  name: string,
  ctx: { db: Parameters<typeof xactCounts>[0]; database: string; duration: number },
  targets: Child[],
  makes: Make[],
): Promise<PgRow> {
  const share = Math.floor(CONNECTIONS / targets.length);
  await Promise.all(
    targets.map((t, i) =>
      load('warm-up', t.url, { connections: share, durationSec: WARMUP_SEC, setupRequest: makes[i]! }),
    ),
  );
  // After the warm-up every pooled connection is open: their backends are the ones to watch.
  const pids = await backendPids(ctx.db, ctx.database);
  const pgBefore = cpuMsOf(pids);
  const xBefore = await xactCounts(ctx.db, ctx.database);
  const cpuBefore = targets.map((t) => cpuMs(t));
  const results = await Promise.all(
    targets.map((t, i) =>
      load(name, t.url, { connections: share, durationSec: ctx.duration, setupRequest: makes[i]! }),
    ),
  );
  const cpu = targets.reduce((sum, t, i) => sum + cpuMs(t) - cpuBefore[i]!, 0);
  const pgCpu = cpuMsBetween(pgBefore, cpuMsOf(pids));
  const xAfter = await xactCounts(ctx.db, ctx.database);
  const requests = results.reduce((s, r) => s + r.requests, 0);
  const per = Math.max(1, requests);
  return {
    name,
    instances: targets.length,
    requests,
    rps: results.reduce((s, r) => s + r.rps, 0),
    p50: Math.round((results.reduce((s, r) => s + r.p50, 0) / results.length) * 10) / 10,
    p99: Math.max(...results.map((r) => r.p99)),
    errors: results.reduce((s, r) => s + r.errors, 0),
    non2xx: results.reduce((s, r) => s + r.non2xx, 0),
    cpuUs: (cpu * 1000) / per,
    pgCpuUs: (pgCpu * 1000) / per,
    rollbacksPerK: ((xAfter.rollbacks - xBefore.rollbacks) * 1000) / per,
    load: loadavg()[0]!,
  };
}

const post =
  (path: string, body: string, headers: Record<string, string> = {}) =>
  (req: autocannon.Request) => ({
    ...req,
    method: 'POST' as const,
    path,
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });

function activationMakes(codes: string[], parts: number, path: string, seconds: number): Make[] {
  const bodies = activationRequests(codes, Math.min(codes.length * 3, 4000 * seconds));
  // Request i goes to target i mod parts: round-robin, so the three devices of one license meet on both instances.
  return Array.from({ length: parts }, (_, p) =>
    sequence(
      bodies.filter((_, i) => i % parts === p),
      (body, req) => post(path, body)(req),
    ),
  );
}

function checkInMakes(seeded: { id: string; key: number }[], keys: Device[], parts: number, seconds: number): Make[] {
  const requests = checkInRequests(seeded, keys, 5000 * seconds);
  return Array.from({ length: parts }, (_, p) =>
    sequence(
      requests.filter((_, i) => i % parts === p),
      (c, req) => post(c.path, c.body, { 'licensor-device-signature': c.signature })(req),
    ),
  );
}

export async function postgresSection(opts: {
  duration: number;
  large: boolean;
  keys: Device[];
  keysFile: string;
  dataDir: string;
  log: (s: string) => void;
  /** Throw instead of skipping when PostgreSQL does not answer. */
  required: boolean;
}): Promise<PgSectionResult> {
  const started = Date.now();
  const why = await pgUnreachable();
  if (why) {
    const skipped = `PostgreSQL is not reachable at ${BENCH_PG_ADMIN_URL} (${why})`;
    if (opts.required) throw new Error(skipped);
    opts.log(`skipping the PostgreSQL section: ${skipped}`);
    return { steps: [], skipped, seconds: 0 };
  }
  const seconds = WARMUP_SEC + opts.duration;
  // Codes for one activation run of one instance and one of two, each run's devices on seats of their own.
  const codesPerRun = Math.ceil((4000 * seconds) / 3);
  const pg = await createBenchPostgres('run');
  const ctx = { db: pg.db, database: pg.database, duration: opts.duration };
  const env = {
    LICENSOR_DATA_DIR: join(opts.dataDir, 'pg-instances'),
    LICENSOR_DATABASE_URL: pg.url,
    LICENSOR_API_RATE_LIMIT: '0',
  };
  const steps: PgStep[] = [];
  let failed: string | undefined;
  const floor = await startFloor(opts.keysFile, pg.url);
  try {
    let inDb = 0;
    for (const size of opts.large ? [100_000, 1_000_000] : [100_000]) {
      try {
        opts.log(`PostgreSQL: seeding up to ${size} activations`);
        const t0 = Date.now();
        const { codes, seeded } = await seedPostgres(pg.db, {
          prefix: `s${size}_`,
          freeCodes: 2 * codesPerRun,
          activations: size - inDb,
          keys: opts.keys,
        });
        const seedSec = (Date.now() - t0) / 1000;
        inDb = size;
        const label = `${size / 1000}k activations, PostgreSQL`;
        // One instance first, then a second one started on the same data folder (signing keys) and database.
        const a = await startLicensorServer(env);
        let b: Child | undefined;
        try {
          opts.log(`PostgreSQL: one instance, ${size} activations`);
          const activation = await run(
            `activation, new device (${label}, 1 instance)`,
            ctx,
            [a],
            activationMakes(codes.slice(0, codesPerRun), 1, '/api/v1/activations', seconds),
          );
          const activationFloor = await run(
            'floor: activation work only (PostgreSQL)',
            ctx,
            [floor],
            activationMakes(codes, 1, '/floor/activations', seconds),
          );
          const checkIn = await run(
            `check-in, signed (${label}, 1 instance)`,
            ctx,
            [a],
            checkInMakes(seeded, opts.keys, 1, seconds),
          );
          const floorCheckIns = floorCheckInRequests(opts.keys, 5000 * seconds);
          const checkInFloor = await run(
            'floor: check-in work only (PostgreSQL)',
            ctx,
            [floor],
            [
              sequence(floorCheckIns, (c, req) =>
                post(c.path, c.body, { 'licensor-device-signature': c.signature })(req),
              ),
            ],
          );
          opts.log(`PostgreSQL: two instances, ${size} activations`);
          b = await startLicensorServer(env);
          const activation2 = await run(
            `activation, new device (${label}, 2 instances)`,
            ctx,
            [a, b],
            activationMakes(codes.slice(codesPerRun), 2, '/api/v1/activations', seconds),
          );
          const checkIn2 = await run(
            `check-in, signed (${label}, 2 instances)`,
            ctx,
            [a, b],
            checkInMakes(seeded, opts.keys, 2, seconds),
          );
          steps.push({
            activations: size,
            activation,
            activation2,
            activationFloor,
            checkIn,
            checkIn2,
            checkInFloor,
            seedSec,
            rssAfter: rssMb(a),
          });
        } finally {
          await Promise.all([a.stop(), b?.stop()]);
        }
      } catch (err) {
        // What was measured so far is still reported, with the failure named.
        failed = `the step with ${size / 1000}k activations failed: ${(err as Error).message}`;
        opts.log(`PostgreSQL: ${failed}`);
        break;
      }
    }
  } finally {
    await floor.stop();
    rmSync(floor.dataDir, { recursive: true, force: true });
    await pg.drop();
  }
  return { steps, failed, seconds: (Date.now() - started) / 1000 };
}

const n0 = (x: number) => x.toFixed(0);
const share = (r: PgRow, base: PgRow) => `${n0((r.rps / base.rps) * 100)}%`;

/** The report section: generated tables, then the hand-written notes block (kept across regenerations). */
export function postgresReport(result: PgSectionResult, opts: { duration: number; large: boolean }): string {
  const head = ['## PostgreSQL (issue 16)', ''];
  const notes = ['<!-- hand-written: postgres-notes -->', '<!-- end hand-written: postgres-notes -->'];
  if (result.skipped) return [...head, `Skipped: ${result.skipped}.`, '', ...notes, ''].join('\n');
  if (!result.steps.length) return [...head, `Failed: ${result.failed}.`, '', ...notes, ''].join('\n');
  const rowOf = (r: PgRow, floor?: PgRow) =>
    `| ${r.name} | ${n0(r.rps)} | ${floor ? share(r, floor) : '—'} | ${n0(r.cpuUs)} | ${n0(r.pgCpuUs)} | ${r.rollbacksPerK.toFixed(1)} | ${r.p50} | ${r.p99} | ${r.errors + r.non2xx} | ${r.load.toFixed(1)} |`;
  const table = [
    '| scenario (50 connections in all) | req/s | vs PG floor | server CPU µs/req (all instances) | PostgreSQL CPU µs/req | rollbacks per 1000 req | p50 ms | p99 ms | errors + non-2xx | machine load |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...result.steps.flatMap((s) => [
      rowOf(s.activation, s.activationFloor),
      rowOf(s.activation2, s.activationFloor),
      rowOf(s.activationFloor),
      rowOf(s.checkIn, s.checkInFloor),
      rowOf(s.checkIn2, s.checkInFloor),
      rowOf(s.checkInFloor),
    ]),
  ].join('\n');
  const first = result.steps[0]!;
  const last = result.steps.at(-1)!;
  const flat =
    result.steps.length > 1
      ? [
          '',
          `Flatness, one instance, as a share of the PostgreSQL floor measured in the same step (so machine load cancels out): activation ${share(first.activation, first.activationFloor)} at ${first.activations / 1000}k → ${share(last.activation, last.activationFloor)} at ${last.activations / 1000}k; check-in ${share(first.checkIn, first.checkInFloor)} → ${share(last.checkIn, last.checkInFloor)}. Raw req/s ratio ${last.activations / 1000}k / ${first.activations / 1000}k: activation ${n0((last.activation.rps / first.activation.rps) * 100)}%, check-in ${n0((last.checkIn.rps / first.checkIn.rps) * 100)}%.`,
        ]
      : [];
  const seeding = result.steps.map((s) => `${s.activations / 1000}k: ${n0(s.seedSec)} s`).join(', ');
  return [
    ...head,
    `The real server on PostgreSQL (\`LICENSOR_DATABASE_URL=postgres://…\`, a database created for the run with \`TEMPLATE template0\` and C.UTF-8 collation, dropped after; \`synchronous_commit=on\`: a commit waits for its WAL flush; transactions SERIALIZABLE with retries, \`db/postgres/storage.ts\`, except activation and check-in: READ COMMITTED behind a row lock, \`ACTIVATION_ISOLATION\` and \`CHECK_IN_ISOLATION\` in \`packages/server/src/licensing/\`), pool of 10 connections per instance. "2 instances": a second server process on the same database and data folder, the bench client splitting the 50 connections 25/25 between them (p50 is the mean of the two, p99 the worse). The PostgreSQL floor is \`floor.ts\` with \`FLOOR_DATABASE_URL\`: the same parsing and Ed25519 work, the durable write one autocommitted INSERT of the same bytes. "PostgreSQL CPU" is the CPU of the database's backend processes per request; "rollbacks" counts transactions PostgreSQL rolled back during the run (with no failed request, each is a serialization failure, deadlock or seat-slot collision the facade retried). ${opts.duration} s per run after ${WARMUP_SEC} s of warm-up; seeded with SQL (\`generate_series\`, not through the API), with activation_keys rows, then VACUUM ANALYZE; seeding took ${seeding}.${opts.large ? '' : ' 1M activations only with `--large` (seeding 900k more rows takes minutes on this machine).'}`,
    '',
    table,
    ...(result.failed ? ['', `Not measured: ${result.failed}.`] : []),
    ...flat,
    '',
    `Server RSS after the runs: ${result.steps.map((s) => `${s.rssAfter} MB at ${s.activations / 1000}k`).join(', ')}. PostgreSQL section time: ${n0(result.seconds)} s.`,
    '',
    ...notes,
    '',
  ].join('\n');
}

const SECTION = /<!-- postgres section -->\n[\s\S]*?<!-- end postgres section -->\n?/;
export const wrapSection = (text: string) => `<!-- postgres section -->\n${text}<!-- end postgres section -->\n`;

/** The previous report with its PostgreSQL section replaced (or appended): what `--pg-only` writes. */
export function replaceSection(previous: string, section: string): string {
  if (SECTION.test(previous)) return previous.replace(SECTION, section);
  return `${previous.replace(/\n*$/, '\n\n')}${section}`;
}
