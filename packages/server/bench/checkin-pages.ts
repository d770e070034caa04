import { randomUUID } from 'node:crypto';
import { closeSync, fdatasyncSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openSqliteDatabase, type SqliteDatabase } from '../src/db/sqlite';
import { argOption, ROOT } from './lib';

/**
 * The storage part of a check-in alone, in process, between databases of different sizes (seeded by
 * `checkin-size.ts --keep`, which leaves them in .data/): the authentication read on the read connection, then the
 * check-in's statements in the group commit, 25 per batch (what 50 connections give). Slices of each configuration
 * alternate. Reported per check-in: CPU time of this thread, read and write syscalls (/proc/self/io: a page SQLite
 * misses in its own cache is one pread), bytes written, and the time batches held the write connection above 4 ms
 * (the checkpoint SQLite runs inside a COMMIT every 1000 WAL pages is one of those). Then, per size, the time of one
 * such checkpoint on its own, split into copying the pages into the database file and its fdatasync.
 *
 * Usage: tsx packages/server/bench/checkin-pages.ts [--configs 10000,1000000,1000000@10000] [--slices 20] [--per 500]
 * (`N@M`: the N-row database, check-ins over its M oldest rows.)
 */
const configs = argOption('--configs', '10000,1000000,1000000@10000').split(',');
const slices = Number(argOption('--slices', '20'));
const per = Number(argOption('--per', '500'));
const BATCH = 25;

const proc = () => {
  const t = readFileSync('/proc/self/io', 'utf8');
  const n = (k: string) => Number(new RegExp(`${k}: (\\d+)`).exec(t)![1]);
  return { syscr: n('syscr'), syscw: n('syscw'), wchar: n('wchar') };
};

/** Batches that held the write connection more than 4 ms. */
const holds = { n: 0, ms: 0 };

interface Db {
  db: SqliteDatabase;
  path: string;
  ids: string[];
  next: number;
}
const dbs = new Map<number, Db>();
for (const c of configs) {
  const n = Number(c.split('@')[0]);
  if (dbs.has(n)) continue;
  const dir = join(ROOT, '.data', `checkin-size-${n}`);
  const seeded = JSON.parse(readFileSync(join(dir, 'seeded.json'), 'utf8')) as { id: string }[];
  const path = join(dir, 'licensor.db');
  const db = openSqliteDatabase(path, {
    slowHoldMs: 4,
    onSlowHold: (h) => {
      holds.n++;
      holds.ms += h.ms;
    },
  });
  dbs.set(n, { db, path, ids: seeded.map((s) => s.id), next: 0 });
}

/** The statements of a check-in (licensing/device.ts) on the storage, without the signatures. */
async function checkIn(db: SqliteDatabase, id: string, at: string) {
  const act = await db.first<{ id: string }>('SELECT * FROM activations WHERE id = ?', [id]);
  if (!act) throw new Error(`no ${id}`);
  return db.batched(async (tx) => {
    const r = await tx.run(
      'INSERT INTO device_nonces (activation_id, nonce, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
      [id, randomUUID(), Date.now() + 300_000],
    );
    if (r.changes !== 1) throw new Error('replay');
    const seen = await tx.first<{ entitlement_id: string }>(
      `UPDATE activations SET last_seen_at = ?, app_version = COALESCE(?, app_version), offline = 0
       WHERE id = ? AND status != 'released' RETURNING *`,
      [at, '1.0.1', id],
    );
    const ent = await tx.first<{ product_id: string }>('SELECT * FROM entitlements WHERE id = ?', [
      seen!.entitlement_id,
    ]);
    await tx.all(`SELECT product_id, policy FROM product_policies WHERE product_id IN ('*', ?)`, [ent!.product_id]);
  });
}

async function checkIns(d: Db, count: number, span: number) {
  for (let i = 0; i < count; i += BATCH) {
    const at = new Date().toISOString();
    const all: Promise<unknown>[] = [];
    for (let j = 0; j < BATCH; j++) all.push(checkIn(d.db, d.ids[(d.next++ * 7919) % span]!, at));
    await Promise.all(all);
  }
}

async function slice(config: string) {
  const [n, m] = config.split('@').map(Number) as [number, number | undefined];
  const d = dbs.get(n)!;
  const cpu0 = process.cpuUsage();
  const p0 = proc();
  const h0 = { ...holds };
  await checkIns(d, per, m ?? d.ids.length);
  const cpu = process.cpuUsage(cpu0);
  const p1 = proc();
  return {
    cpuUs: (cpu.user + cpu.system) / per,
    reads: (p1.syscr - p0.syscr) / per,
    writes: (p1.syscw - p0.syscw) / per,
    kib: (p1.wchar - p0.wchar) / 1024 / per,
    holdUs: ((holds.ms - h0.ms) * 1000) / per,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results = new Map<string, Awaited<ReturnType<typeof slice>>[]>();
for (const c of configs) await slice(c); // warm-up: caches, JIT
for (let s = 0; s < slices; s++) {
  for (let k = 0; k < configs.length; k++) {
    const c = configs[(k + s) % configs.length]!;
    results.set(c, [...(results.get(c) ?? []), await slice(c)]);
  }
}
const base = results.get(configs[0]!)!;
console.log(`storage part of a check-in, ${slices} slices of ${per} per configuration, medians:`);
for (const [c, rs] of results) {
  const m = (f: (r: (typeof rs)[number]) => number) => median(rs.map(f));
  console.log(
    `${c.padEnd(16)} cpu ${m((r) => r.cpuUs).toFixed(0)} µs (×${median(rs.map((r, i) => r.cpuUs / base[i]!.cpuUs)).toFixed(2)} in the same round)  reads ${m((r) => r.reads).toFixed(1)}  writes ${m((r) => r.writes).toFixed(2)} (${m((r) => r.kib).toFixed(1)} KiB)  batch holds > 4 ms ${m((r) => r.holdUs).toFixed(0)} µs`,
  );
}

// One checkpoint on its own: 1000 check-ins with automatic checkpoints off, the barrier's syncs let finish, then
// what SQLite does inside the COMMIT that crosses 1000 WAL pages — copy the pages, then sync the database file.
const sizes = [...dbs.keys()];
const ckpt = new Map<number, { copy: number[]; sync: number[]; pages: number[] }>();
for (const n of sizes) dbs.get(n)!.db.raw.pragma('wal_autocheckpoint = 0');
for (let round = 0; round < 6; round++) {
  for (const n of round % 2 ? [...sizes].reverse() : sizes) {
    const d = dbs.get(n)!;
    await checkIns(d, 1000, d.ids.length);
    await new Promise((r) => setTimeout(r, 200));
    const w0 = proc().wchar;
    const t0 = performance.now();
    d.db.raw.exec('PRAGMA synchronous = OFF');
    d.db.raw.pragma('wal_checkpoint(PASSIVE)');
    const t1 = performance.now();
    const fd = openSync(d.path, 'r+');
    fdatasyncSync(fd);
    closeSync(fd);
    const t2 = performance.now();
    d.db.raw.exec('PRAGMA synchronous = FULL');
    const c = ckpt.get(n) ?? { copy: [], sync: [], pages: [] };
    c.copy.push(t1 - t0);
    c.sync.push(t2 - t1);
    c.pages.push((proc().wchar - w0) / 4096);
    ckpt.set(n, c);
  }
}
console.log('\none checkpoint after 1000 check-ins (~1190 WAL pages), 6 rounds alternating, medians:');
for (const [n, c] of ckpt) {
  console.log(
    `${String(n).padEnd(16)} ${median(c.pages).toFixed(0)} pages written, copy ${median(c.copy).toFixed(1)} ms + database fdatasync ${median(c.sync).toFixed(1)} ms (copy ${c.copy.map((x) => x.toFixed(0)).join(' ')}; sync ${c.sync.map((x) => x.toFixed(0)).join(' ')})`,
  );
}
for (const [, d] of dbs) await d.db.close();
