import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteDatabase, type SqliteDatabase } from '../src/db/sqlite';
import type { Queryable } from '../src/db/storage';
import { type Db, openDatabase } from './legacy/syncFacade';

/**
 * What the asynchronous storage costs on SQLite (docs/design/async-storage.md): a check-in-shaped transaction
 * (read the device and its license, remember the request nonce, touch the device, note the day's use: 2 reads,
 * 3 writes) through the former synchronous facade (legacy/syncFacade.ts) and through the asynchronous one (sqlite.ts: mutex,
 * transaction handle, async group commit), each on a database file of its own with the same rows, in one process
 * and interleaved round by round so that the ratios hold on a loaded machine.
 *
 * Per-transaction rows run with synchronous=NORMAL (the WAL is not synced per commit: the disk is the same for
 * both and the question is the facade's own cost). `batched` rows run as the server does, with synchronous=FULL:
 * both facades commit a batch with NORMAL and answer after one fdatasync of the WAL on the thread pool.
 * Usage:
 *   node scripts/dev.mjs run packages/server/bench/async-storage-bench.ts [--n 20000] [--rounds 5] [--memory] [--only text]
 */

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const N = arg('n', 20_000);
/** --memory: in-memory databases, so only CPU is measured (no WAL; `batched` is then a transaction each). */
const MEMORY = process.argv.includes('--memory');
const ROUNDS = arg('rounds', 5);
const CONCURRENCY = 64;
const BATCH = 32; // requests per event-loop turn in the batched rows

const dir = mkdtempSync(join(tmpdir(), 'licensor-async-bench-'));
const syncDb: Db = openDatabase(MEMORY ? ':memory:' : join(dir, 'sync.db'));
const asyncDb: SqliteDatabase = openSqliteDatabase(MEMORY ? ':memory:' : join(dir, 'async.db'));

const DEVICES = 1000;
const at = '2026-01-01T00:00:00.000Z';
for (const d of [syncDb, migrationConnection(asyncDb)]) {
  d.transaction(() => {
    d.run(
      `INSERT INTO entitlements (id, family, code, seats, status, test, created_at, updated_at)
       VALUES ('ent', 'direct', 'LSR-BENCH', ?, 'active', 0, ?, ?)`,
      [DEVICES, at, at],
    );
    for (let i = 0; i < DEVICES; i++) {
      d.run(
        `INSERT INTO activations (id, entitlement_id, status, seat, fingerprint, device_public_key, device_key_hash,
           created_at, last_seen_at) VALUES (?, 'ent', 'active', ?, '{}', 'pk', 'h', ?, ?)`,
        [`act-${i}`, i, at, at],
      );
    }
  });
}

/** The seeding above through the async database's raw connection (nothing else runs yet). */
function migrationConnection(d: SqliteDatabase): Pick<Db, 'run' | 'transaction'> {
  return {
    run: (sql, params) => d.raw.prepare(sql).run(...((params as unknown[]) ?? [])),
    transaction: (fn) => d.raw.transaction(fn).immediate(),
  };
}

let nonce = 0;
const SQL = {
  device: 'SELECT * FROM activations WHERE id = ?',
  license: 'SELECT * FROM entitlements WHERE id = ?',
  nonce: 'INSERT INTO device_nonces (activation_id, nonce, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
  touch: 'UPDATE activations SET last_seen_at = ?, offline = 0 WHERE id = ?',
  usage: 'INSERT INTO code_usage (code, day, device) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
};

function checkInSync(d: Db, i: number): void {
  const device = d.first<{ id: string; entitlement_id: string }>(SQL.device, [`act-${i % DEVICES}`])!;
  const license = d.first<{ code: string }>(SQL.license, [device.entitlement_id])!;
  d.run(SQL.nonce, [device.id, `n${nonce++}`, Date.now() + 600_000]);
  d.run(SQL.touch, [new Date().toISOString(), device.id]);
  d.run(SQL.usage, [license.code, '2026-01-01', device.id]);
}

async function checkInAsync(q: Queryable, i: number): Promise<void> {
  const device = (await q.first<{ id: string; entitlement_id: string }>(SQL.device, [`act-${i % DEVICES}`]))!;
  const license = (await q.first<{ code: string }>(SQL.license, [device.entitlement_id]))!;
  await q.run(SQL.nonce, [device.id, `n${nonce++}`, Date.now() + 600_000]);
  await q.run(SQL.touch, [new Date().toISOString(), device.id]);
  await q.run(SQL.usage, [license.code, '2026-01-01', device.id]);
}

/** Runs n requests, `concurrency` at a time. */
async function concurrently(n: number, concurrency: number, one: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await one(next++);
    }),
  );
}

/** Requests in turns of BATCH: each turn's calls form one group-commit batch. */
async function inTurns(n: number, one: (i: number) => Promise<unknown>): Promise<void> {
  for (let start = 0; start < n; start += BATCH) {
    await Promise.all(Array.from({ length: Math.min(BATCH, n - start) }, (_, k) => one(start + k)));
  }
}

type Mode = 'NORMAL' | 'FULL';
interface Variant {
  name: string;
  /** The row whose median the ratio divides by. */
  baseline: string;
  mode: Mode;
  run: () => Promise<void> | void;
}
const SYNC_TX = 'sync facade, one transaction each';
const SYNC_BATCH = `sync facade, batched, ${BATCH} per turn`;
const SYNC_BATCH_CONC = `sync facade, batched, ${CONCURRENCY} concurrent`;
const VARIANTS: Variant[] = [
  {
    name: SYNC_TX,
    baseline: SYNC_TX,
    mode: 'NORMAL',
    run: () => {
      for (let i = 0; i < N; i++) syncDb.transaction(() => checkInSync(syncDb, i));
    },
  },
  {
    name: 'async, transaction each, sequential',
    baseline: SYNC_TX,
    mode: 'NORMAL',
    run: async () => {
      for (let i = 0; i < N; i++) await asyncDb.transaction((tx) => checkInAsync(tx, i));
    },
  },
  {
    name: `async, transaction each, ${CONCURRENCY} concurrent (mutex contended)`,
    baseline: SYNC_TX,
    mode: 'NORMAL',
    run: () => concurrently(N, CONCURRENCY, (i) => asyncDb.transaction((tx) => checkInAsync(tx, i))),
  },
  {
    name: SYNC_BATCH,
    baseline: SYNC_BATCH,
    mode: 'FULL',
    run: () => inTurns(N, (i) => syncDb.batched(() => checkInSync(syncDb, i))),
  },
  {
    name: `async, batched, ${BATCH} per turn`,
    baseline: SYNC_BATCH,
    mode: 'FULL',
    run: () => inTurns(N, (i) => asyncDb.batched((tx) => checkInAsync(tx, i))),
  },
  {
    name: SYNC_BATCH_CONC,
    baseline: SYNC_BATCH_CONC,
    mode: 'FULL',
    run: () => concurrently(N, CONCURRENCY, (i) => syncDb.batched(() => checkInSync(syncDb, i))),
  },
  {
    name: `async, batched, ${CONCURRENCY} concurrent`,
    baseline: SYNC_BATCH_CONC,
    mode: 'FULL',
    run: () => concurrently(N, CONCURRENCY, (i) => asyncDb.batched((tx) => checkInAsync(tx, i))),
  },
];

/** --only <text>: the variants whose name contains it (and their baselines). */
const onlyAt = process.argv.indexOf('--only');
if (onlyAt > 0) {
  const only = process.argv[onlyAt + 1] ?? '';
  const keep = new Set(VARIANTS.filter((v) => v.name.includes(only)).flatMap((v) => [v.name, v.baseline]));
  VARIANTS.splice(0, VARIANTS.length, ...VARIANTS.filter((v) => keep.has(v.name)));
}

const setMode = (mode: Mode) => {
  syncDb.raw.exec(`PRAGMA synchronous = ${mode}`);
  asyncDb.raw.exec(`PRAGMA synchronous = ${mode}`);
};

// CPU time (user + system, every thread of the process, so the WAL syncs on the thread pool count) rather than
// wall time: other processes on a loaded machine stretch the wall clock of whichever variant they overlap.
const samples = new Map<string, { cpu: number[]; wall: number[] }>(
  VARIANTS.map((v) => [v.name, { cpu: [], wall: [] }]),
);
const batches = { async: 0 };
for (let round = 0; round < ROUNDS + 1; round++) {
  for (const v of VARIANTS) {
    setMode(v.mode);
    const asyncBatchesBefore = asyncDb.stats.batches;
    const cpu = process.cpuUsage();
    const started = performance.now();
    await v.run();
    const wall = ((performance.now() - started) * 1000) / N;
    const used = process.cpuUsage(cpu);
    if (v.name.startsWith('async, batched')) batches.async += asyncDb.stats.batches - asyncBatchesBefore;
    if (round === 0) continue; // warms up the statement caches and the JIT
    samples.get(v.name)!.cpu.push((used.user + used.system) / N);
    samples.get(v.name)!.wall.push(wall);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(
  `check-in-shaped transaction (2 reads, 3 writes), ${MEMORY ? 'in memory' : 'WAL file'}, ` +
    `${N} per run, median of ${ROUNDS} interleaved rounds; async batches formed: ${batches.async}, ` +
    `barriers: ${asyncDb.stats.barriers}`,
);
console.log(`${''.padEnd(58)}   CPU µs/tx  ratio   wall µs/tx`);
for (const v of VARIANTS) {
  const { cpu, wall } = samples.get(v.name)!;
  const m = median(cpu);
  const base = median(samples.get(v.baseline)!.cpu);
  console.log(
    `${v.name.padEnd(58)} ${m.toFixed(1).padStart(9)}  ×${(m / base).toFixed(2)}  ${median(wall).toFixed(1).padStart(9)}`,
  );
}
syncDb.close();
await asyncDb.close();
rmSync(dir, { recursive: true, force: true });
