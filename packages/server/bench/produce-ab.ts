import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadWithCpu } from './activation-bench';
import {
  argOption,
  BENCH_SERVER_ENV,
  type Child,
  freePort,
  type LoadResult,
  load,
  spawnNode,
  startBareExpress,
  TS_ARGS,
} from './lib';
import { produceMix } from './produce-bench';

/**
 * A/B of the production interface's signed mix: the server of another checkout (A, e.g. a clone of main) and of
 * this one (B), in alternating rounds, each next to bare Express measured in the same round. Prints req/s, the
 * serving process's CPU µs per request and the share of bare Express, per round and as medians.
 * Usage: node scripts/dev.mjs run packages/server/bench/produce-ab.ts --a /tmp/main-clone [--rounds 5] [--duration 5]
 */

const ROOT_B = join(import.meta.dirname, '..', '..', '..');
const rootA = argOption('--a', '');
const rounds = Number(argOption('--rounds', '5'));
const duration = Number(argOption('--duration', '5'));
if (!rootA) throw new Error('--a <checkout> is required');

/**
 * The server of checkout `root` from its own sources under tsx, both sides the same way (lib.ts's startLicensorServer
 * runs this checkout's build; the other checkout need not be built).
 */
async function startServer(root: string): Promise<Child> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'licensor-ab-'));
  return spawnNode(
    [...TS_ARGS, join(root, 'packages/server/src/main.ts')],
    { ...BENCH_SERVER_ENV, PORT: String(port), LICENSOR_DATA_DIR: dataDir, LICENSOR_API_RATE_LIMIT: '0' },
    `http://127.0.0.1:${port}/healthz`,
    dataDir,
    root,
  );
}

type Measured = LoadResult & { cpuUs: number };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const bare = await startBareExpress();
const servers = { A: await startServer(rootA), B: await startServer(ROOT_B) };
try {
  const mixes = { A: await produceMix(servers.A), B: await produceMix(servers.B) };
  for (const k of ['A', 'B'] as const)
    await load('warm-up', servers[k].url, { durationSec: 2, setupRequest: mixes[k] });
  await load('warm-up', `${bare.url}/bare`, { durationSec: 2 });
  const rows: { round: number; side: 'A' | 'B'; r: Measured; bareRps: number; load: number }[] = [];
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 ? (['A', 'B'] as const) : (['B', 'A'] as const);
    for (const side of order) {
      const b1 = await loadWithCpu(bare, 'bare', `${bare.url}/bare`, { durationSec: duration });
      const r = await loadWithCpu(servers[side], side, servers[side].url, {
        durationSec: duration,
        setupRequest: mixes[side],
      });
      const b2 = await loadWithCpu(bare, 'bare', `${bare.url}/bare`, { durationSec: duration });
      const bareRps = (b1.rps + b2.rps) / 2;
      const row = { round, side, r, bareRps, load: loadavg()[0]! };
      rows.push(row);
      console.log(
        `round ${round} ${side}: ${r.rps.toFixed(0)} req/s, ${r.cpuUs.toFixed(0)} µs CPU/req, bare ${bareRps.toFixed(0)} req/s (${b1.cpuUs.toFixed(0)}/${b2.cpuUs.toFixed(0)} µs) → ${((r.rps / bareRps) * 100).toFixed(1)}%, p99 ${r.p99} ms, errors ${r.errors}, non-2xx ${r.non2xx}, load ${row.load.toFixed(1)}`,
      );
    }
  }
  for (const side of ['A', 'B'] as const) {
    const mine = rows.filter((x) => x.side === side);
    console.log(
      `${side} (${side === 'A' ? rootA : ROOT_B}): median ${median(mine.map((x) => x.r.rps)).toFixed(0)} req/s, ${median(mine.map((x) => x.r.cpuUs)).toFixed(0)} µs CPU/req, ${median(mine.map((x) => (x.r.rps / x.bareRps) * 100)).toFixed(1)}% of bare, p99 ${median(mine.map((x) => x.r.p99))} ms; load ${median(mine.map((x) => x.load)).toFixed(1)}`,
    );
  }
} finally {
  await servers.A.stop();
  await servers.B.stop();
  await bare.stop();
}
