import { createPrivateKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import {
  checkInRequests,
  type Device,
  loadWithCpu,
  newDevice,
  type Row,
  rssMb,
  seed,
  sequence,
} from './activation-bench';
import { argOption, type Child, load, ROOT, startLicensorServer } from './lib';

/**
 * Check-in throughput against database size as a paired comparison (issue 15, "flat to 1M"): one real server per
 * database, all started before the first run, measured in rounds. On a shared 2-core machine two runs minutes apart
 * differ by more than the effect (bench/results/report.md, hand-written "checkin-flatness"), so:
 * - by default the configurations take turns, the order rotated every round, and each round's ratio to the first
 *   configuration is kept (the median is reported);
 * - with --together every configuration is loaded at the same time (50 connections each): both servers see the
 *   same machine at the same moment, and the throughput ratio is the ratio of what a request costs them.
 * Per request it also reports what differs with size: the server's read and write syscalls and bytes
 * (/proc/pid/io; SQLite reads every page it misses in its own cache with a pread) and page faults.
 *
 * A configuration is `N` (check-ins spread over a database of N seeded activations) or `N@M` (the same database,
 * check-ins spread over its M oldest rows: the table's size without its working set).
 *
 * Usage: tsx packages/server/bench/checkin-size.ts [--configs 10000,1000000] [--rounds 3] [--duration 5]
 *        [--together] [--keep]   (--keep reuses the seeded databases in .data/ and leaves them there)
 */

const argv = process.argv;
const configs = argOption('--configs', '10000,1000000').split(',');
const rounds = Number(argOption('--rounds', '3'));
const duration = Number(argOption('--duration', '5'));
const keep = argv.includes('--keep');
const together = argv.includes('--together');
const WARMUP = 2;

interface Io {
  syscr: number;
  syscw: number;
  rchar: number;
  wchar: number;
  minflt: number;
  majflt: number;
}
const io = (child: Child): Io => {
  const f = Object.fromEntries(
    readFileSync(`/proc/${child.proc.pid}/io`, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(': ') as [string, string])
      .map(([k, v]) => [k, Number(v)]),
  );
  const stat = readFileSync(`/proc/${child.proc.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return {
    syscr: f.syscr ?? 0,
    syscw: f.syscw ?? 0,
    rchar: f.rchar ?? 0,
    wchar: f.wchar ?? 0,
    minflt: Number(stat[7]),
    majflt: Number(stat[9]),
  };
};

interface Db {
  server: Child;
  seeded: { id: string; key: number }[];
  dir: string;
}

/** The device keys, kept beside the databases so --keep can reuse them (the seeded rows name these keys). */
function deviceKeys(): Device[] {
  const file = join(ROOT, '.data', 'checkin-size-keys.json');
  type Stored = Omit<Device, 'privateKey'> & { privateKey: string };
  const keys: Device[] =
    keep && existsSync(file)
      ? (JSON.parse(readFileSync(file, 'utf8')) as Stored[]).map((k) => ({
          ...k,
          privateKey: createPrivateKey(k.privateKey),
        }))
      : Array.from({ length: 500 }, () => newDevice());
  mkdirSync(join(ROOT, '.data'), { recursive: true });
  const stored = keys.map((k) => ({ ...k, privateKey: k.privateKey.export({ type: 'pkcs8', format: 'pem' }) }));
  writeFileSync(file, JSON.stringify(stored));
  return keys;
}

async function main() {
  const keys = deviceKeys();
  const dbs = new Map<number, Db>();
  for (const size of new Set(configs.map((c) => Number(c.split('@')[0])))) {
    const dir = join(ROOT, '.data', `checkin-size-${size}`);
    const list = join(dir, 'seeded.json');
    const t0 = Date.now();
    let seeded: { id: string; key: number }[];
    if (keep && existsSync(list)) seeded = JSON.parse(readFileSync(list, 'utf8'));
    else {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      // As the size table of bench/run.ts: licenses of 3 seats, 500 device keys, free codes beside them.
      const db = join(dir, 'licensor.db');
      seeded = (await seed(db, { prefix: `s${size}_`, freeCodes: 20_000, activations: size, keys })).seeded;
      writeFileSync(list, JSON.stringify(seeded));
    }
    const mb = statSync(join(dir, 'licensor.db')).size / 2 ** 20;
    console.log(
      `${size} activations: ${mb.toFixed(0)} MB (${((Date.now() - t0) / 1000).toFixed(0)} s to seed or reuse)`,
    );
    dbs.set(size, { server: undefined as unknown as Child, seeded, dir });
  }
  for (const [, db] of dbs) {
    db.server = await startLicensorServer({ LICENSOR_DATA_DIR: db.dir, LICENSOR_API_RATE_LIMIT: '0' });
  }

  /** One configuration's warm-up and measured run, with the per-request counters. */
  const prepare = (config: string) => {
    const [n, m] = config.split('@').map(Number) as [number, number | undefined];
    const db = dbs.get(n)!;
    const rows = m ? db.seeded.slice(0, m) : db.seeded;
    const setupRequest = sequence(checkInRequests(rows, keys, 4000 * (WARMUP + duration)), (c, req) => ({
      ...req,
      method: 'POST',
      path: c.path,
      headers: { 'content-type': 'application/json', 'licensor-device-signature': c.signature },
      body: c.body,
    }));
    return {
      warm: () => load('warm-up', db.server.url, { durationSec: WARMUP, setupRequest }),
      run: async () => {
        const before = io(db.server);
        const r = await loadWithCpu(db.server, config, db.server.url, { durationSec: duration, setupRequest });
        const after = io(db.server);
        return { r, db, per: (k: keyof Io) => (after[k] - before[k]) / Math.max(1, r.requests) };
      },
    };
  };
  const results = new Map<string, Row[]>();
  const record = (config: string, round: number, out: Awaited<ReturnType<ReturnType<typeof prepare>['run']>>) => {
    const { r, db, per } = out;
    console.log(
      `round ${round + 1}: ${config.padEnd(14)} ${r.rps.toFixed(0).padStart(5)} req/s  cpu ${r.cpuUs.toFixed(0).padStart(4)} µs/req  p99 ${String(r.p99).padStart(4)} ms  reads ${per('syscr').toFixed(1)} (${(per('rchar') / 1024).toFixed(1)} KiB)  writes ${per('syscw').toFixed(2)} (${(per('wchar') / 1024).toFixed(1)} KiB)  minflt ${per('minflt').toFixed(1)}  majflt ${per('majflt').toFixed(2)}  errors ${r.errors + r.non2xx}  rss ${rssMb(db.server)} MB  load ${loadavg()[0]!.toFixed(1)}`,
    );
    results.set(config, [...(results.get(config) ?? []), r]);
  };
  try {
    for (let round = 0; round < rounds; round++) {
      if (together) {
        const runs = configs.map(prepare);
        await Promise.all(runs.map((p) => p.warm()));
        const outs = await Promise.all(runs.map((p) => p.run()));
        outs.forEach((out, i) => {
          record(configs[i]!, round, out);
        });
        continue;
      }
      for (const config of configs.map((_, i) => configs[(i + round) % configs.length]!)) {
        const p = prepare(config);
        await p.warm();
        record(config, round, await p.run());
      }
    }
  } finally {
    for (const [, db] of dbs) await db.server.stop();
    if (!keep) for (const [, db] of dbs) rmSync(db.dir, { recursive: true, force: true });
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const base = results.get(configs[0]!)!;
  console.log(`\nmedians; ratio = req/s against ${configs[0]} in the same round, per round, then the median:`);
  for (const [config, list] of results) {
    const ratios = list.map((r, i) => r.rps / base[i]!.rps);
    console.log(
      `${config.padEnd(14)} ${median(list.map((r) => r.rps)).toFixed(0)} req/s, cpu ${median(list.map((r) => r.cpuUs ?? 0)).toFixed(0)} µs/req, p99 ${median(list.map((r) => r.p99))} ms, ratio ${median(ratios).toFixed(2)} (${ratios.map((x) => x.toFixed(2)).join(' ')})`,
    );
  }
}

await main();
