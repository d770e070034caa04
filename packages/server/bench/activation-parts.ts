import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { activateRequestSchema } from '@licensor/shared';
import BetterSqlite3 from 'better-sqlite3';
import { createApp } from '../src/app';
import { loadConfig } from '../src/config';
import { openSqliteDatabase } from '../src/db/sqlite';
import { parseInput } from '../src/http/errors';
import { KeyStore } from '../src/keys/keystore';
import { bindActivation, checkInIntervalSeconds, entitlementSummary } from '../src/licensing/activate';
import { signAnswer, signLicenseFileAsync } from '../src/licensing/signing';
import { createLogger } from '../src/logger';
import { activationRequests, newDevice, seed } from './activation-bench';
import { inProcessBenchEnv, ROOT } from './lib';

/**
 * In-process CPU of one new-device activation, by part (no HTTP): the same requests the benchmark sends, 25 at
 * a time through the group commit, CPU from process.cpuUsage (thread-pool signing included), and the
 * synchronous time of each SQL statement (better-sqlite3's get/all/run wrapped).
 *
 * Usage: node scripts/dev.mjs run packages/server/bench/activation-parts.ts [--rounds 5] [--per-round 2000]
 */
const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const rounds = arg('--rounds', 5);
const perRound = arg('--per-round', 1500);
const CONC = 25;

const dir = join(ROOT, '.data', `activation-parts-${process.pid}`);
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const dbPath = join(dir, 'licensor.db');
const keys = Array.from({ length: 500 }, () => newDevice());
const { codes } = await seed(dbPath, {
  prefix: 'p_',
  freeCodes: Math.ceil(((rounds * 4 + 2) * perRound) / 3) + 10,
  activations: 10_000,
  keys,
});
const bodies = activationRequests(codes, (rounds * 4 + 2) * perRound).map((b) => JSON.parse(b));
let next = 0;

// Per-statement synchronous time (wall, on the event loop: statement execution and row building in better-sqlite3).
const stmtTime = new Map<string, { n: number; ms: number }>();
let timing = false;
const probe = new BetterSqlite3(':memory:').prepare('SELECT 1');
const sp = Object.getPrototypeOf(probe) as Record<string, (...a: unknown[]) => unknown>;
for (const m of ['get', 'all', 'run'] as const) {
  const orig = sp[m]!;
  sp[m] = function (this: { source: string }, ...a: unknown[]) {
    if (!timing) return orig.apply(this, a);
    const t0 = performance.now();
    try {
      return orig.apply(this, a);
    } finally {
      const key = this.source.replace(/\s+/g, ' ').slice(0, 90);
      const s = stmtTime.get(key) ?? { n: 0, ms: 0 };
      s.n++;
      s.ms += performance.now() - t0;
      stmtTime.set(key, s);
    }
  };
}

const config = loadConfig(inProcessBenchEnv(dir));
const db = openSqliteDatabase(dbPath);
const { store: keyStore } = KeyStore.open(join(dir, 'keys'));
const licensor = await createApp({ config, db, log: createLogger('silent'), keys: keyStore });
const ctx = licensor.ctx;

type Mode = 'bind' | 'bind+sign' | 'full' | 'zod';
async function one(mode: Mode) {
  const body = bodies[next++]!;
  const input = parseInput(activateRequestSchema, body, 'activation request');
  if (mode === 'zod') return;
  const result = await bindActivation(ctx, input, { batched: true });
  if (mode === 'bind') return;
  const license = await signLicenseFileAsync(result.payload, ctx.keys.current());
  if (mode === 'bind+sign') return;
  const answer = {
    activationId: result.activation.id,
    license,
    status: 'VALID',
    entitlement: entitlementSummary(result.entitlement, result.policy),
    checkInIntervalSeconds: checkInIntervalSeconds(result.policy),
    serverTime: ctx.now().toISOString(),
    reactivated: result.reactivated,
  };
  const { header } = await signAnswer(ctx.keys.current(), {
    status: 200,
    nonce: '',
    request: { method: 'POST', path: '/api/v1/activations', activationId: undefined },
    body: answer,
  });
  void header;
}

async function run(mode: Mode, n: number): Promise<number> {
  const c0 = process.cpuUsage();
  let i = 0;
  const worker = async () => {
    while (i < n) {
      i++;
      await one(mode);
    }
  };
  await Promise.all(Array.from({ length: CONC }, worker));
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
}

await run('full', 500); // warm-up
const modes: Mode[] = ['zod', 'bind', 'bind+sign', 'full'];
const res = new Map<Mode, number[]>();
for (let r = 0; r < rounds; r++) {
  for (const m of modes) {
    const us = await run(m, m === 'zod' ? 200 : perRound);
    res.set(m, [...(res.get(m) ?? []), us]);
  }
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
for (const m of modes)
  console.log(
    `${m.padEnd(10)} CPU µs/activation: median ${med(res.get(m)!).toFixed(0)}  (${res
      .get(m)!
      .map((x) => x.toFixed(0))
      .join(', ')})`,
  );

timing = true;
const b0 = db.stats.batches;
await run('bind', perRound);
timing = false;
console.log(`batches ${db.stats.batches - b0} for ${perRound}`);
const rows = [...stmtTime.entries()].sort((a, b) => b[1].ms - a[1].ms);
let total = 0;
for (const [sql, s] of rows) {
  total += s.ms;
  console.log(
    `${((s.ms * 1000) / perRound).toFixed(1).padStart(7)} µs/act  ${(s.n / perRound).toFixed(2).padStart(5)}×  ${((s.ms * 1000) / s.n).toFixed(1).padStart(6)} µs each  ${sql}`,
  );
}
console.log(`${((total * 1000) / perRound).toFixed(1)} µs/act in statements (sync)`);
await licensor.stop();
await db.close();
rmSync(dir, { recursive: true, force: true });
