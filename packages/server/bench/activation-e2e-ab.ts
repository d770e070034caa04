import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  activationRequests,
  type Device,
  loadWithCpu,
  newDevice,
  seed,
  sequence,
  writeFloorKeys,
} from './activation-bench';
import { BENCH_SERVER_ENV, type Child, freePort, load, ROOT, spawnNode, startFloor } from './lib';

/**
 * Ad hoc end-to-end A/B: the built servers of two checkouts (`node scripts/dev.mjs start` in each, built
 * beforehand) and the floor endpoint run side by side, each on its own data folder with 10k activations, and
 * short new-device activation loads alternate between them round after round (A, B, floor; then floor, B, A), so
 * the machine's state is shared. Server CPU µs per request from /proc, req/s, p99.
 * Usage: node scripts/dev.mjs run packages/server/bench/activation-e2e-ab.ts <rootA> <rootB> [--rounds 10] [--seconds 4]
 */
const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const [rootA, rootB] = process.argv.slice(2, 4) as [string, string];
const rounds = arg('--rounds', 10);
const seconds = arg('--seconds', 4);
const keys: Device[] = Array.from({ length: 300 }, () => newDevice());
const base = join(ROOT, '.data', `activation-e2e-ab-${process.pid}`);
rmSync(base, { recursive: true, force: true });

async function server(name: string, root: string) {
  const dir = join(base, name);
  mkdirSync(dir, { recursive: true });
  const { codes } = await seed(join(dir, 'licensor.db'), {
    prefix: 'p_',
    freeCodes: Math.ceil(((rounds * seconds + 4) * 2500) / 3),
    activations: 10_000,
    keys,
  });
  const port = await freePort();
  const child = await spawnNode(
    [join(root, 'scripts/dev.mjs'), 'start'],
    { ...BENCH_SERVER_ENV, PORT: String(port), LICENSOR_DATA_DIR: dir, LICENSOR_API_RATE_LIMIT: '0' },
    `http://127.0.0.1:${port}/healthz`,
    dir,
    root,
  );
  return { child, codes };
}

const A = await server('a', rootA);
const B = await server('b', rootB);
const floor = await startFloor(writeFloorKeys(join(base, 'floor-keys.json'), keys));
const children: Child[] = [A.child, B.child, floor];
try {
  const reqs = (codes: string[], path: string) =>
    sequence(activationRequests(codes, Math.min(codes.length * 3, (rounds * seconds + 4) * 2500)), (body, req) => ({
      ...req,
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json' },
      body,
    }));
  const targets = [
    { name: 'A', child: A.child, setup: reqs(A.codes, '/api/v1/activations') },
    { name: 'B', child: B.child, setup: reqs(B.codes, '/api/v1/activations') },
    { name: 'floor', child: floor, setup: reqs(A.codes, '/floor/activations') },
  ];
  for (const t of targets) await load('warm-up', t.child.url, { durationSec: 2, setupRequest: t.setup });
  const res = new Map<string, { cpu: number; rps: number; p99: number }[]>();
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? targets : [...targets].reverse();
    for (const t of order) {
      const x = await loadWithCpu(t.child, t.name, t.child.url, { durationSec: seconds, setupRequest: t.setup });
      if (x.errors + x.non2xx > 0) console.log(`${t.name}: ${x.errors} errors, ${x.non2xx} non-2xx`);
      res.set(t.name, [...(res.get(t.name) ?? []), { cpu: x.cpuUs, rps: x.rps, p99: x.p99 }]);
    }
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  const f = res.get('floor')!;
  for (const name of ['A', 'B', 'floor']) {
    const x = res.get(name)!;
    const line = [
      `${name.padEnd(5)} CPU µs/req median ${med(x.map((v) => v.cpu)).toFixed(0)} (${x.map((v) => v.cpu.toFixed(0)).join(' ')})`,
      `req/s median ${med(x.map((v) => v.rps)).toFixed(0)}`,
      `p99 median ${med(x.map((v) => v.p99))} ms`,
    ];
    if (name !== 'floor') {
      line.push(`vs floor (rps, per round) median ${(med(x.map((v, i) => v.rps / f[i]!.rps)) * 100).toFixed(0)}%`);
      line.push(`CPU over floor median +${med(x.map((v, i) => v.cpu - f[i]!.cpu)).toFixed(0)}`);
    }
    console.log(line.join('; '));
  }
  const a = res.get('A')!;
  const b = res.get('B')!;
  console.log(
    `B − A CPU per round: ${b.map((v, i) => (v.cpu - a[i]!.cpu).toFixed(0)).join(' ')}; median ${med(b.map((v, i) => v.cpu - a[i]!.cpu)).toFixed(0)}`,
  );
} finally {
  await Promise.all(children.map((c) => c.stop()));
  rmSync(base, { recursive: true, force: true });
}
