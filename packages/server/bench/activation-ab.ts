import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { activationRequests, newDevice, seed } from './activation-bench';
import { floorLicensePayload } from './floorPayload';
import { inProcessBenchEnv, ROOT } from './lib';

/**
 * Ad hoc A/B in one process: the activation core of two checkouts (their own modules, each on its own seeded
 * database), alternated round by round so the machine's state is the same for both. CPU per activation from
 * process.cpuUsage (thread-pool signing included); no HTTP.
 * Usage: node scripts/dev.mjs run packages/server/bench/activation-ab.ts <rootA> <rootB> [--rounds 8] [--per-round 1000]
 */
const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const [rootA, rootB] = process.argv.slice(2, 4) as [string, string];
const rounds = arg('--rounds', 8);
const perRound = arg('--per-round', 1000);
const CONC = 25;
const keys = Array.from({ length: 300 }, () => newDevice());

async function side(name: string, root: string) {
  const srv = join(root, 'packages/server/src');
  const imp = (p: string) => import(join(srv, p));
  const [
    { createApp },
    { loadConfig },
    { openSqliteDatabase },
    { parseInput },
    { KeyStore },
    act,
    sig,
    { createLogger },
    shared,
  ] = await Promise.all([
    imp('app.ts'),
    imp('config.ts'),
    imp('db/sqlite.ts'),
    imp('http/errors.ts'),
    imp('keys/keystore.ts'),
    imp('licensing/activate.ts'),
    imp('licensing/signing.ts'),
    imp('logger.ts'),
    import(join(root, 'packages/shared/src/index.ts')),
  ]);
  const dir = join(ROOT, '.data', `activation-ab-${process.pid}-${name}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const dbPath = join(dir, 'licensor.db');
  const total = (rounds + 1) * perRound + 50;
  const { codes } = await seed(dbPath, {
    prefix: 'p_',
    freeCodes: Math.ceil(total / 3) + 10,
    activations: 10_000,
    keys,
  });
  const bodies = activationRequests(codes, total).map((b) => JSON.parse(b));
  let next = 0;
  const config = loadConfig(inProcessBenchEnv(dir));
  const db = openSqliteDatabase(dbPath);
  const { store } = KeyStore.open(join(dir, 'keys'));
  const licensor = await createApp({ config, db, log: createLogger('silent'), keys: store });
  const ctx = licensor.ctx;
  const one = async () => {
    const input = parseInput(shared.activateRequestSchema, bodies[next++], 'activation request');
    const result = await act.bindActivation(ctx, input, { batched: true });
    const license = await sig.signLicenseFileAsync(result.payload, ctx.keys.current());
    await sig.signAnswer(ctx.keys.current(), {
      status: 200,
      nonce: '',
      request: { method: 'POST', path: '/api/v1/activations', activationId: undefined },
      body: {
        activationId: result.activation.id,
        license,
        status: 'VALID',
        entitlement: act.entitlementSummary(result.entitlement, result.policy),
        checkInIntervalSeconds: act.checkInIntervalSeconds(result.policy),
        serverTime: ctx.now().toISOString(),
        reactivated: result.reactivated,
      },
    });
  };
  await db.exec(
    'CREATE TABLE IF NOT EXISTS floor_writes (id INTEGER PRIMARY KEY, ref TEXT NOT NULL, data BLOB NOT NULL)',
  );
  const rawBodies = activationRequests(codes, 2000);
  let nextFloor = 0;
  /** floor.ts's activation work without HTTP: parse, one batched write, the License file and the answer signed. */
  const floorOne = async () => {
    const raw = Buffer.from(rawBodies[nextFloor++ % rawBodies.length]!);
    const input = JSON.parse(raw.toString('utf8'));
    const id = `act_${randomUUID()}`;
    await db.batched(async (tx: { run(sql: string, p: unknown[]): Promise<unknown> }) =>
      tx.run('INSERT INTO floor_writes (ref, data) VALUES (?, ?)', [id, raw]),
    );
    const signer = ctx.keys.current();
    const license = await shared.signLicenseAsync(
      floorLicensePayload(id, input.fingerprint.components, shared.devicePublicKeyHash(input.devicePublicKey)),
      signer,
    );
    const text = JSON.stringify({ activationId: id, license, status: 'VALID' });
    await shared.signResponseAsync({
      status: 200,
      nonce: '',
      request: { method: 'POST', path: '/floor/activations', activationId: undefined },
      body: text,
      keyId: signer.keyId,
      privateKey: signer.privateKey,
    });
  };
  const run = async (n: number, floor = false) => {
    const c0 = process.cpuUsage();
    let i = 0;
    const worker = async () => {
      while (i < n) {
        i++;
        await (floor ? floorOne() : one());
      }
    };
    await Promise.all(Array.from({ length: CONC }, worker));
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / n;
  };
  const close = async () => {
    await licensor.stop();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { run, close };
}

const A = await side('a', rootA);
const B = await side('b', rootB);
await A.run(perRound);
await B.run(perRound);
const ra: number[] = [];
const rb: number[] = [];
const rf: number[] = [];
await B.run(perRound, true);
for (let r = 0; r < rounds; r++) {
  if (r % 2 === 0) {
    ra.push(await A.run(perRound));
    rb.push(await B.run(perRound));
    rf.push(await B.run(perRound, true));
  } else {
    rf.push(await B.run(perRound, true));
    rb.push(await B.run(perRound));
    ra.push(await A.run(perRound));
  }
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const fmt = (a: number[]) => a.map((x) => x.toFixed(0)).join(' ');
console.log(`A CPU µs/activation median ${med(ra).toFixed(0)}: ${fmt(ra)}`);
console.log(`B CPU µs/activation median ${med(rb).toFixed(0)}: ${fmt(rb)}`);
console.log(`floor work (B's process, no HTTP) CPU µs median ${med(rf).toFixed(0)}: ${fmt(rf)}`);
console.log(
  `A over floor median ${med(ra.map((a, i) => a - rf[i]!)).toFixed(0)}, B over floor ${med(rb.map((b, i) => b - rf[i]!)).toFixed(0)}; A/floor CPU ${med(ra.map((a, i) => rf[i]! / a)).toFixed(2)}, B ${med(rb.map((b, i) => rf[i]! / b)).toFixed(2)}`,
);
const diffs = ra.map((a, i) => rb[i]! - a);
console.log(`B − A per round: ${fmt(diffs)}; median ${med(diffs).toFixed(1)}`);
await A.close();
await B.close();
