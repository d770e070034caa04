/**
 * The benchmark report, in one command and one run:
 * `pnpm bench [--duration 5] [--max 1000000] [--no-profile] [--large] [--no-pg | --pg-only]`.
 *
 *   1. Throughput, latency and server CPU per request at 50 connections of the bare Express reference endpoint,
 *      the production interface (signed mix), activation and check-in against the real server (child process,
 *      file database, WAL + synchronous=FULL), each of the last two next to its floor endpoint (the irreducible
 *      work of that request on Express: packages/server/bench/floor.ts), plus offline License verification
 *      in-process; server RSS.
 *   2. Activation and check-in throughput against database size, 10k → 1M activations (seeded straight into
 *      SQLite), as a table and an SVG chart.
 *   3. For every goal missed: a CPU profile (`node --cpu-prof`) of the server under that load, hot spots listed.
 *   4. PostgreSQL (bench/lib/postgres.ts), when a cluster answers at LICENSOR_BENCH_PG_URL (default
 *      127.0.0.1:5432, user postgres): activation and check-in on one and on two instances next to the
 *      PostgreSQL floor, with 100k activations stored (and 1M with --large). --no-pg leaves it out; --pg-only runs
 *      only this section and replaces it in the existing report, keeping everything else.
 *
 * Writes bench/results/report.md (keeping its hand-written sections: bench/lib/handWritten.ts) and
 * bench/results/throughput-vs-db-size.svg. The scenarios themselves are the
 * package benchmarks' (packages/server/bench/produce-bench.ts, activation-bench.ts), reused, not copied.
 */

import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import {
  loadWithCpu,
  measure,
  newDevice,
  type Row,
  rssMb,
  seed,
  writeFloorKeys,
} from '../packages/server/bench/activation-bench';
import {
  type Child,
  type LoadResult,
  load,
  ROOT,
  startBareExpress,
  startFloor,
  startLicensorServer,
} from '../packages/server/bench/lib';
import { produceMix } from '../packages/server/bench/produce-bench';
import { lineChartSvg } from './lib/chart';
import { keepHandWritten } from './lib/handWritten';
import { type OpStats, offlineVerifyBench } from './lib/offline';
import { postgresReport, postgresSection, replaceSection, wrapSection } from './lib/postgres';
import { hotSpots, latestProfile, startProfiledServer, timeByLayer } from './lib/profile';

const argv = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = argv.indexOf(name);
  const v = i >= 0 ? Number(argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} needs a positive number`);
  return v;
};
// activation-bench reads --duration from the same command line, so every scenario runs this long.
const duration = option('--duration', 5);
const maxActivations = option('--max', 1_000_000);
const profileMissed = !argv.includes('--no-profile');
const pgOnly = argv.includes('--pg-only');
const withPg = pgOnly || !argv.includes('--no-pg');
const large = argv.includes('--large');
const SIZES = [10_000, 30_000, 100_000, 300_000, 1_000_000].filter((s) => s <= maxActivations);
/** Codes without devices for each measured step: the activation run needs new devices on free seats. */
const freeCodes = 4000 * duration;

/** Issue 15's goals: shares of the floor (moonshot 85%), of bare Express, of the 10k figure; p99 and RSS. */
const GOALS = { produce: 40, floor: 70, moonshot: 85, p99Ms: 50, rssMb: 200, flat: 90 };

interface SizeRow {
  activations: number;
  /** The step's own activations: check-ins are drawn from them (spread over the whole table). */
  seeded: Awaited<ReturnType<typeof seed>>['seeded'];
  activation: Row;
  checkIn: Row;
  rssIdle: number;
  /** Bare Express measured right after this step: the reference its ratios use. */
  bare: LoadResult;
  rssAfter: number;
  /** 1-minute load average of the machine right after this step's runs. */
  load: number;
}

const pct = (r: LoadResult, base: LoadResult) => (r.rps / base.rps) * 100;
/** Two bare runs averaged: the reference for a scenario measured between them. */
const around = (a: LoadResult, b: LoadResult): LoadResult => ({ ...a, rps: (a.rps + b.rps) / 2 });
const mark = (ok: boolean) => (ok ? '✔' : '✖');

async function activateOnce(server: Child, code: string): Promise<string> {
  const d = newDevice();
  const res = await fetch(`${server.url}/api/v1/activations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code, fingerprint: { components: d.components }, devicePublicKey: d.publicKey }),
  });
  const body = (await res.json()) as { license?: string };
  if (!body.license) throw new Error(`activation for the offline benchmark failed: ${JSON.stringify(body)}`);
  return body.license;
}

async function main() {
  const started = Date.now();
  const dataDir = join(ROOT, '.data', `bench-${process.pid}`);
  const profDir = join(dataDir, 'profiles');
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(profDir, { recursive: true });
  const dbPath = join(dataDir, 'licensor.db');
  const env = { LICENSOR_DATA_DIR: dataDir, LICENSOR_API_RATE_LIMIT: '0' };
  const keys = Array.from({ length: 500 }, () => newDevice());
  // Other processes share the machine: the 1-minute load average at every step goes into the report.
  const loads: number[] = [];
  const log = (s: string) => {
    loads.push(loadavg()[0]!);
    console.log(`[bench ${((Date.now() - started) / 1000).toFixed(0)} s] ${s} (load ${loads.at(-1)!.toFixed(1)})`);
  };

  const keysFile = writeFloorKeys(join(dataDir, 'floor-keys.json'), keys);
  const out = join(ROOT, 'bench', 'results');
  const reportPath = join(out, 'report.md');
  const pgSection = async (required: boolean) => {
    const result = await postgresSection({ duration, large, keys, keysFile, dataDir, log, required });
    return wrapSection(postgresReport(result, { duration, large }));
  };
  if (pgOnly) {
    try {
      const section = await pgSection(true);
      const previous = existsSync(reportPath) ? readFileSync(reportPath, 'utf8') : '# Licensor benchmark report\n';
      writeFileSync(reportPath, keepHandWritten(replaceSection(previous, section), previous));
      console.log(`\n${section}\nWritten: the PostgreSQL section of bench/results/report.md`);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
    return;
  }
  const bare = await startBareExpress();
  const floor = await startFloor(keysFile);
  try {
    // ------------------------------------------------------------------ 1. all scenarios, one server, 10k rows
    let inDb = SIZES[0] ?? 10_000;
    log(`seeding ${inDb} activations`);
    let seeded = await seed(dbPath, { prefix: `s${inDb}_`, freeCodes, activations: inDb, keys });
    let server = await startLicensorServer(env);
    // Other work on the machine shifts every number; bare Express is measured next to each scenario (before and
    // after) so each ratio compares like with like.
    const bareRuns: Row[] = [];
    const measureBare = async () => {
      const r = await loadWithCpu(bare, 'bare Express JSON endpoint', `${bare.url}/bare`, { durationSec: duration });
      bareRuns.push(r);
      return r;
    };
    let baseline: Row;
    let produceBase: LoadResult;
    let produce: Row;
    let offline: OpStats[];
    let rssAfterProduce: number;
    const sizes: SizeRow[] = [];
    try {
      const rssIdle = rssMb(server);
      log('bare Express');
      const b1 = await measureBare();
      log('production interface');
      produce = await loadWithCpu(server, 'production interface (signed mix)', server.url, {
        durationSec: duration,
        setupRequest: await produceMix(server),
      });
      rssAfterProduce = rssMb(server);
      const b2 = await measureBare();
      produceBase = around(b1, b2);
      log('activation and check-in');
      const [activation, checkIn] = await measure(
        `${inDb / 1000}k activations in DB`,
        server,
        seeded.codes,
        seeded.seeded,
        keys,
        floor,
      );
      const rssAfter = rssMb(server);
      const b3 = await measureBare();
      sizes.push({
        activations: inDb,
        seeded: seeded.seeded,
        activation: activation!,
        checkIn: checkIn!,
        rssIdle,
        rssAfter,
        bare: around(b2, b3),
        load: loadavg()[0]!,
      });
      const mean = (f: (r: Row) => number) => bareRuns.reduce((sum, r) => sum + f(r), 0) / bareRuns.length;
      baseline = { ...b1, rps: mean((r) => r.rps), cpuUs: mean((r) => r.cpuUs ?? 0) };
      log('offline verification');
      const license = await activateOnce(server, seeded.codes.at(-1)!);
      offline = offlineVerifyBench(license, readFileSync(join(dataDir, 'keys', 'root.crt.pem'), 'utf8'));
    } finally {
      await server.stop();
    }

    // -------------------------------------------------------------- 2. activation/check-in against DB size
    for (const size of SIZES.slice(1)) {
      log(`seeding up to ${size} activations`);
      seeded = await seed(dbPath, { prefix: `s${size}_`, freeCodes, activations: size - inDb, keys });
      inDb = size;
      server = await startLicensorServer(env);
      try {
        const rssIdle = rssMb(server);
        log(`activation and check-in with ${size} activations`);
        const [activation, checkIn] = await measure(
          `${size / 1000}k activations in DB`,
          server,
          seeded.codes,
          seeded.seeded,
          keys,
        );
        sizes.push({
          activations: size,
          seeded: seeded.seeded,
          activation: activation!,
          checkIn: checkIn!,
          rssIdle,
          rssAfter: rssMb(server),
          bare: await measureBare(),
          load: loadavg()[0]!,
        });
      } finally {
        await server.stop();
      }
    }

    // ----------------------------------------------------------------------------------------- goals
    const first = sizes[0]!;
    const last = sizes.at(-1)!;
    const at100k = sizes.find((s) => s.activations === 100_000);
    const goals: { text: string; ok: boolean; profile?: 'produce' | 'activation' | 'checkIn' }[] = [];
    const produceShare = pct(produce, produceBase);
    goals.push({
      text: `${produce.name}: ${produceShare.toFixed(0)}% of bare Express (goal ≥ ${GOALS.produce}%)`,
      ok: produceShare >= GOALS.produce,
      profile: 'produce',
    });
    goals.push({
      text: `${produce.name}: p99 ${produce.p99} ms (goal < ${GOALS.p99Ms} ms)`,
      ok: produce.p99 < GOALS.p99Ms,
      profile: 'produce',
    });
    for (const key of ['activation', 'checkIn'] as const) {
      const r = first[key];
      if (r.floor) {
        const share = pct(r, r.floor);
        const moonshot = share >= GOALS.moonshot ? `, moonshot ${GOALS.moonshot}% reached` : '';
        goals.push({
          text: `${r.name}: ${share.toFixed(0)}% of its floor endpoint's throughput (goal ≥ ${GOALS.floor}%${moonshot}); server CPU ${r.cpuUs?.toFixed(0)} µs/req vs the floor's ${r.floor.cpuUs?.toFixed(0)}`,
          ok: share >= GOALS.floor,
          profile: key,
        });
      }
      goals.push({
        text: `${r.name}: p99 ${r.p99} ms (goal < ${GOALS.p99Ms} ms)`,
        ok: r.p99 < GOALS.p99Ms,
        profile: key,
      });
    }
    if (at100k) {
      goals.push({
        text: `server RSS after the runs with 100k activations: ${at100k.rssAfter} MB (goal < ${GOALS.rssMb} MB)`,
        ok: at100k.rssAfter < GOALS.rssMb,
      });
    }
    if (sizes.length > 1) {
      for (const k of ['activation', 'checkIn'] as const) {
        // Compared as shares of the bare run next to each, so background load on the machine cancels out.
        const ratio = (pct(last[k], last.bare) / pct(first[k], first.bare)) * 100;
        // When the machine's load changed between the two steps, bare Express moved too and the share may hide it:
        // the raw ratio is shown beside it so the reader can judge.
        const bareMoved = Math.abs(last.bare.rps / first.bare.rps - 1) > 0.15;
        const caveat = bareMoved
          ? `; caution: bare Express itself moved from ${first.bare.rps.toFixed(0)} to ${last.bare.rps.toFixed(0)} req/s between the two steps (machine load ${first.load.toFixed(1)} → ${last.load.toFixed(1)}), raw req/s ratio ${((last[k].rps / first[k].rps) * 100).toFixed(0)}%`
          : '';
        goals.push({
          text: `${k === 'activation' ? 'activation' : 'check-in'} throughput (as a share of bare Express) at ${last.activations / 1000}k vs ${first.activations / 1000}k activations: ${ratio.toFixed(0)}% of the ${first.activations / 1000}k figure (flat: goal ≥ ${GOALS.flat}%${caveat})`,
          ok: ratio >= GOALS.flat,
          profile: k,
        });
      }
    }

    // ------------------------------------------------------------------- 3. profile what missed a goal
    const profiles: string[] = [];
    const missed = [...new Set(goals.filter((g) => !g.ok && g.profile).map((g) => g.profile!))];
    if (profileMissed) {
      for (const scenario of missed) {
        log(`profiling ${scenario}`);
        const dir = join(profDir, scenario);
        mkdirSync(dir, { recursive: true });
        // Fresh codes for new devices; check-ins spread over the largest step's activations, as measured.
        const extra = await seed(dbPath, { prefix: `p${scenario}_`, freeCodes, activations: 0, keys });
        const profiled = await startProfiledServer(env, dir);
        let row: LoadResult;
        try {
          if (scenario === 'produce') {
            row = await load('production interface (signed mix)', profiled.url, {
              durationSec: duration,
              setupRequest: await produceMix(profiled),
            });
          } else {
            const label = `${last.activations / 1000}k activations in DB`;
            const [a, c] = await measure(label, profiled, extra.codes, last.seeded, keys);
            row = scenario === 'activation' ? a! : c!;
          }
        } finally {
          await profiled.stop();
        }
        const file = latestProfile(dir);
        if (!file) {
          profiles.push(`#### ${scenario}\n\nNo profile was written (the server did not exit normally).`);
          continue;
        }
        const { totalMs, spots } = hotSpots(file, ROOT);
        const layers = timeByLayer(file, ROOT);
        profiles.push(
          [
            `#### ${row.name} (${row.rps.toFixed(0)} req/s while profiled, ${(totalMs / 1000).toFixed(1)} s of server time)`,
            '',
            `Where the server's busy time went, by layer: ${layers.map((l) => `${l.layer} ${(l.share * 100).toFixed(0)}%`).join(', ')}.`,
            '',
            '| self time | share | function | where |',
            '|---:|---:|---|---|',
            ...spots.map(
              (s) => `| ${s.selfMs.toFixed(0)} ms | ${(s.share * 100).toFixed(1)}% | \`${s.fn}\` | ${s.where} |`,
            ),
          ].join('\n'),
        );
      }
    }

    // ------------------------------------------------------------------------------------ 4. PostgreSQL
    const postgres = withPg ? await pgSection(false) : undefined;

    // ---------------------------------------------------------------------------------------- report
    const us = (r: Row | undefined) => (r?.cpuUs === undefined ? '—' : r.cpuUs.toFixed(0));
    const row = (r: Row, base: LoadResult, rss: string) =>
      `| ${r.name} | ${r.rps.toFixed(0)} | ${us(r)} | ${pct(r, base).toFixed(0)}% | ${r.floor ? r.floor.rps.toFixed(0) : '—'} | ${us(r.floor)} | ${
        r.floor ? `${pct(r, r.floor).toFixed(0)}%` : '—'
      } | ${r.p50} | ${r.p99} | ${r.errors + r.non2xx}${r.floor ? ` (floor ${r.floor.errors + r.floor.non2xx})` : ''} | ${rss} |`;
    const mainTable = [
      '| scenario (50 connections) | req/s | server CPU µs/req | vs bare | floor req/s | floor CPU µs/req | vs floor | p50 ms | p99 ms | errors + non-2xx | server RSS MB |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      row(baseline, baseline, '—'),
      row(produce, produceBase, `${first.rssIdle} idle → ${rssAfterProduce}`),
      row(first.activation, first.bare, '—'),
      row(first.checkIn, first.bare, `${first.rssAfter} after both`),
    ].join('\n');
    const floorNote =
      'The floor endpoints (`packages/server/bench/floor.ts`) are Express routes doing only the irreducible work of ' +
      'each request: read and parse the JSON body, the same Ed25519 work with the same functions on the thread pool ' +
      '(activation: sign the License file and the answer; check-in: verify the device signature, then sign both), and ' +
      'one durable write of the same data (activation: the request body, i.e. fingerprint, device key and device info; ' +
      "check-in: the nonce record) through the server's group commit (`packages/server/src/db/sqlite.ts`). No " +
      'validation, lookups, rate limits, metrics or middleware. Each floor run follows its scenario in the same run; ' +
      "CPU µs/req is the serving process's own CPU time (user + system) divided by the requests it answered.";
    const floorGoal = (r: Row) => {
      const share = pct(r, r.floor!);
      return `${mark(share >= GOALS.floor)} ${share.toFixed(0)}% (goal ≥ ${GOALS.floor}%${share >= GOALS.moonshot ? `, moonshot ${GOALS.moonshot}% reached` : `; moonshot ${GOALS.moonshot}%`})`;
    };
    const floorRows = [first.activation, first.checkIn].filter((r) => r.floor);
    const floorTable = [
      '| scenario (50 connections) | req/s | server CPU µs/req | floor req/s | floor CPU µs/req | CPU over the floor µs/req | throughput vs floor | p99 ms (goal < 50) | floor p99 ms |',
      '|---|---:|---:|---:|---:|---:|---|---|---:|',
      ...floorRows.map(
        (r) =>
          `| ${r.name} | ${r.rps.toFixed(0)} | ${us(r)} | ${r.floor!.rps.toFixed(0)} | ${us(r.floor)} | ${
            r.cpuUs !== undefined && r.floor!.cpuUs !== undefined ? `+${(r.cpuUs - r.floor!.cpuUs).toFixed(0)}` : '—'
          } | ${floorGoal(r)} | ${mark(r.p99 < GOALS.p99Ms)} ${r.p99} | ${r.floor!.p99} |`,
      ),
    ].join('\n');
    const loadNote =
      `Machine load during this run (1-minute load average of the ${cpus().length}-core machine, sampled at each of ${loads.length} steps): ` +
      `${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}, median ${[...loads].sort((a, b) => a - b)[Math.floor(loads.length / 2)]!.toFixed(1)}. ` +
      'The benchmark itself keeps about two processes busy (the load generator and the server under test); a load well ' +
      'above that means other jobs shared the machine. Absolute req/s and p99 also move with the speed of the machine ' +
      "itself (bare Express's CPU µs per request is its gauge); the ratios compare runs made back to back and are the " +
      'figures to read.';
    const bareNote =
      `Bare Express was measured ${bareRuns.length} times in this run (${bareRuns.map((r) => r.rps.toFixed(0)).join(', ')} req/s); ` +
      'each "vs bare" compares a scenario with the bare runs just before and after it.';
    const offlineTable = [
      '| offline (in-process, one core) | verifications/s | p50 µs | p99 µs |',
      '|---|---:|---:|---:|',
      ...offline.map(
        (o) => `| ${o.name} | ${o.opsPerSec.toFixed(0)} | ${o.p50Us.toFixed(0)} | ${o.p99Us.toFixed(0)} |`,
      ),
    ].join('\n');
    const sizeTable = [
      '| activations in DB | activation req/s | vs bare | activation p99 ms | check-in req/s | vs bare | check-in p99 ms | bare req/s | RSS idle MB | RSS after MB | machine load |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...sizes.map(
        (s) =>
          `| ${s.activations.toLocaleString('en-US')} | ${s.activation.rps.toFixed(0)} | ${pct(s.activation, s.bare).toFixed(0)}% | ${s.activation.p99} | ${s.checkIn.rps.toFixed(0)} | ${pct(s.checkIn, s.bare).toFixed(0)}% | ${s.checkIn.p99} | ${s.bare.rps.toFixed(0)} | ${s.rssIdle} | ${s.rssAfter} | ${s.load.toFixed(1)} |`,
      ),
    ].join('\n');
    const svg = lineChartSvg({
      title: 'Throughput against database size (50 connections)',
      xLabel: 'activations in the database (log scale)',
      yLabel: 'requests per second',
      series: [
        { name: 'check-in (signed)', points: sizes.map((s) => [s.activations, s.checkIn.rps]) },
        { name: 'activation (new device)', points: sizes.map((s) => [s.activations, s.activation.rps]) },
        { name: 'bare Express (reference)', points: sizes.map((s) => [s.activations, s.bare.rps]), dashed: true },
      ],
    });
    const cpu = cpus()[0]?.model ?? 'unknown CPU';
    const report = [
      '# Licensor benchmark report',
      '',
      `\`pnpm bench --duration ${duration} --max ${maxActivations}\` on ${new Date().toISOString()}: ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}.`,
      'One machine runs the load generator (autocannon, 50 connections), the bare Express reference and the server, so',
      'ratios against bare Express (measured in the same run) are the comparable numbers; absolute req/s depend on the machine.',
      loadNote,
      `The server is the real one, started as \`npm start\` starts it (\`node scripts/dev.mjs start\`: the built server, \`packages/server/dist/main.js\`) on a file database (WAL, synchronous=FULL: nothing is acknowledged before it is on disk).`,
      '',
      '## Throughput and latency',
      '',
      mainTable,
      '',
      `Activation and check-in ran with ${first.activations.toLocaleString('en-US')} activations in the database. ${bareNote}`,
      '',
      floorNote,
      '',
      offlineTable,
      '',
      '## Activation and check-in against their floor',
      '',
      `Issue 15's reference for the two requests that sign: the floor endpoint doing only their irreducible work, measured right after each scenario (${first.activations.toLocaleString('en-US')} activations in the database). "CPU over the floor" is what the real server spends per request beyond that work (validation, lookups, seat and state checks, rate limits, metrics, middleware).`,
      '',
      floorTable,
      '',
      '## Against database size',
      '',
      'Seeded straight into SQLite before each step; check-ins are spread over the rows seeded for that step. Bare',
      'Express is measured right after each step: a flat "vs bare" column means throughput does not depend on size.',
      '',
      sizeTable,
      '',
      '![throughput against database size](throughput-vs-db-size.svg)',
      '',
      '## Goals (issue 15)',
      '',
      ...goals.map((g) => `- ${mark(g.ok)} ${g.text}`),
      '',
      // Filled by hand after a run (bench/lib/handWritten.ts keeps it): the goals across runs and machine states.
      '<!-- hand-written: goals-status -->',
      '<!-- end hand-written: goals-status -->',
      '',
      ...(profiles.length
        ? [
            '## Profiles of the scenarios that missed a goal',
            '',
            `\`node --cpu-prof\` on the server during the same load; self time per function on the event-loop thread. The profiler samples wall-clock time: when the thread is descheduled — typically right after handing an Ed25519 job to the thread pool, whose thread then takes the core — the wait is charged to the function it was in, so \`signOneShot\`/\`verifyOneShot\` stand for that hand-off and the cores the pool occupies, not for signing on the event loop (which no longer happens). \`perf\` on the same thread (on-CPU time only) puts V8 and Node internals at ~55%, the kernel at ~15%, SQLite at ~8–11%.`,
            '',
            profiles.join('\n\n'),
            '',
          ]
        : missed.length
          ? ['Profiling skipped (--no-profile).', '']
          : []),
      ...(postgres ? [postgres] : []),
      `Total benchmark time: ${((Date.now() - started) / 1000).toFixed(0)} s.`,
      '',
    ].join('\n');
    mkdirSync(out, { recursive: true });
    const previous = existsSync(reportPath) ? readFileSync(reportPath, 'utf8') : undefined;
    writeFileSync(reportPath, keepHandWritten(report, previous));
    writeFileSync(join(out, 'throughput-vs-db-size.svg'), svg);
    console.log(`\n${report}\nWritten: bench/results/report.md, bench/results/throughput-vs-db-size.svg`);
  } finally {
    await Promise.all([bare.stop(), floor.stop()]);
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(floor.dataDir, { recursive: true, force: true });
  }
}

await main();
