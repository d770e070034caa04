import { createHash, generateKeyPairSync, type KeyObject, randomUUID, sign, verify } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { devicePublicKeyHash, generateLicenseCode, newNonce, signDeviceRequest } from '@licensor/shared';
import type autocannon from 'autocannon';
import BetterSqlite3 from 'better-sqlite3';
import { openSqliteDatabase } from '../src/db/sqlite';
import { type Child, type LoadResult, load, ROOT, startBareExpress, startFloor, startLicensorServer } from './lib';

/**
 * Activation API throughput: new-device activations and signed check-ins at 50 connections against the real
 * server (child process, file database with WAL + synchronous=FULL), each next to its floor endpoint (floor.ts:
 * the irreducible work of that request on Express, nothing else) and a bare Express JSON endpoint, all measured
 * the same way. Then the same with 100k activations in the database (RSS reported), optionally 1M.
 * A storage micro-benchmark shows what one fsync per write costs and what group commit saves.
 *
 * Usage: pnpm bench:activation [--duration 5] [--million]
 */

const arg = (name: string) => process.argv.indexOf(name);
const duration = Number(process.argv[arg('--duration') + 1]) || 5;
const million = arg('--million') > 0;
const PER_ENTITLEMENT = 3;

export interface Device {
  privateKey: KeyObject;
  publicKey: string;
  components: Record<string, string[]>;
}

const hash = (s: string) => createHash('sha256').update(s).digest('base64url');

export function newDevice(): Device {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const seed = randomUUID();
  return {
    privateKey,
    publicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64url'),
    components: {
      machineId: [hash(`${seed}m`)],
      hardwareUuid: [hash(`${seed}u`)],
      baseboardSerial: [hash(`${seed}b`)],
      cpu: [hash(`${seed}c`)],
      diskSerials: [hash(`${seed}d`)],
      macs: [hash(`${seed}n`)],
    },
  };
}

/** Writes licenses (3 seats each) and, optionally, activations straight into the database before start. */
export async function seed(
  dbPath: string,
  opts: { prefix: string; freeCodes: number; activations: number; keys: Device[] },
) {
  const db = openSqliteDatabase(dbPath);
  const now = new Date().toISOString();
  const expires = new Date(Date.now() + 365 * 86_400_000).toISOString();
  const codes: string[] = [];
  const seeded: { id: string; key: number }[] = [];
  const insertEnt = db.raw.prepare(
    `INSERT INTO entitlements (id, family, code, product_id, seats, starts_at, expires_at, status, created_at, updated_at)
     VALUES (?, 'A', ?, 'bench-product', ?, ?, ?, 'active', ?, ?)`,
  );
  const insertAct = db.raw.prepare(
    `INSERT INTO activations (id, entitlement_id, status, seat, fingerprint, device_public_key, device_key_hash,
       hostname, platform, created_at, last_seen_at)
     VALUES (?, ?, 'active', ?, ?, ?, ?, ?, 'linux', ?, ?)`,
  );
  const keyHashes = opts.keys.map((k) => devicePublicKeyHash(k.publicKey));
  // Batches keep the WAL (and memory) bounded while seeding a million rows.
  const batch = db.raw.transaction((from: number, to: number, fn: (i: number) => void) => {
    for (let i = from; i < to; i++) fn(i);
  });
  const run = (n: number, fn: (i: number) => void) => {
    for (let i = 0; i < n; i += 20_000) batch(i, Math.min(n, i + 20_000), fn);
  };
  run(opts.freeCodes, () => {
    const id = randomUUID();
    const code = generateLicenseCode();
    insertEnt.run(id, code, PER_ENTITLEMENT, now, expires, now, now);
    codes.push(code);
  });
  let entId = '';
  run(opts.activations, (i) => {
    if (i % PER_ENTITLEMENT === 0) {
      entId = randomUUID();
      insertEnt.run(entId, generateLicenseCode(), PER_ENTITLEMENT, now, expires, now, now);
    }
    const key = i % opts.keys.length;
    const id = `act_${opts.prefix}${i}`;
    const device = opts.keys[key]!;
    insertAct.run(
      id,
      entId,
      i % PER_ENTITLEMENT,
      JSON.stringify(device.components),
      device.publicKey,
      keyHashes[key],
      `host-${i}`,
      now,
      now,
    );
    seeded.push({ id, key });
  });
  await db.close();
  return { codes, seeded };
}

/** Activation bodies for never-seen devices, spread over the free codes (3 devices per code). */
export function activationRequests(codes: string[], count: number): string[] {
  const bodies: string[] = [];
  for (let i = 0; i < count; i++) {
    const d = newDevice();
    bodies.push(
      JSON.stringify({
        code: codes[Math.floor(i / PER_ENTITLEMENT) % codes.length],
        fingerprint: { components: d.components },
        devicePublicKey: d.publicKey,
        device: { hostname: `bench-${i}`, platform: 'linux', appVersion: '1.0.0' },
      }),
    );
  }
  return bodies;
}

/** Signed check-ins (each with its own nonce, so none is a replay), signed before the run starts. */
export function checkInRequests(seeded: { id: string; key: number }[], keys: Device[], count: number) {
  const body = JSON.stringify({ appVersion: '1.0.1' });
  return Array.from({ length: count }, (_, i) => {
    const act = seeded[(i * 7919) % seeded.length]!;
    const path = `/api/v1/activations/${act.id}/check-in`;
    return {
      path,
      signature: signDeviceRequest({
        activationId: act.id,
        method: 'POST',
        path,
        body,
        privateKey: keys[act.key]!.privateKey,
        nonce: newNonce(),
      }),
      body,
    };
  });
}

/** The device keys (public key and fingerprint components) the floor endpoint verifies check-ins with. */
export function writeFloorKeys(path: string, keys: Device[]): string {
  writeFileSync(path, JSON.stringify(keys.map((k) => ({ publicKey: k.publicKey, components: k.components }))));
  return path;
}

/** Signed check-ins for the floor endpoint: the id `k<key>_<n>` names the device key, so the floor needs no lookup. */
export function floorCheckInRequests(keys: Device[], count: number) {
  const body = JSON.stringify({ appVersion: '1.0.1' });
  return Array.from({ length: count }, (_, i) => {
    const key = i % keys.length;
    const id = `k${key}_${i}`;
    const path = `/floor/activations/${id}/check-in`;
    return {
      path,
      signature: signDeviceRequest({
        activationId: id,
        method: 'POST',
        path,
        body,
        privateKey: keys[key]!.privateKey,
        nonce: newNonce(),
      }),
      body,
    };
  });
}

export function sequence<T>(items: T[], make: (item: T, req: autocannon.Request) => autocannon.Request) {
  let n = 0;
  return (req: autocannon.Request) => make(items[n++ % items.length]!, req);
}

/** CPU time (user + system, ms) a child process has used so far; /proc counts in clock ticks of 10 ms. */
export function cpuMs(child: Child): number {
  const fields = readFileSync(`/proc/${child.proc.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** A load run plus the server's CPU time per request during it. */
export async function loadWithCpu(
  child: Child,
  name: string,
  url: string,
  opts: Parameters<typeof load>[2],
): Promise<LoadResult & { cpuUs: number }> {
  const before = cpuMs(child);
  const r = await load(name, url, opts);
  return { ...r, cpuUs: ((cpuMs(child) - before) * 1000) / Math.max(1, r.requests) };
}

export const rssMb = (child: Child) => {
  const status = readFileSync(`/proc/${child.proc.pid}/status`, 'utf8');
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
};

/** Seconds of load before each measured run, not counted: JIT, page cache and connection warm-up. */
const WARMUP_SEC = 2;

export async function measure(
  label: string,
  server: Child,
  codes: string[],
  seeded: { id: string; key: number }[],
  keys: Device[],
  floor?: Child,
): Promise<Row[]> {
  // Enough pre-built requests for warm-up and run at a generous rate: each activation is a new device, each
  // check-in has a nonce of its own (a wrapped-around sequence would show up as non-2xx answers).
  const seconds = WARMUP_SEC + duration;
  const activationBodies = activationRequests(codes, Math.min(codes.length * PER_ENTITLEMENT, 4000 * seconds));
  const activationsAt = (path: string) =>
    sequence(activationBodies, (body, req) => ({
      ...req,
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json' },
      body,
    }));
  const activations = activationsAt('/api/v1/activations');
  const checkIns = sequence(checkInRequests(seeded, keys, 5000 * seconds), (c, req) => ({
    ...req,
    method: 'POST',
    path: c.path,
    headers: { 'content-type': 'application/json', 'licensor-device-signature': c.signature },
    body: c.body,
  }));
  const rows: Row[] = [];
  await load('warm-up', server.url, { durationSec: WARMUP_SEC, setupRequest: activations });
  const activation: Row = await loadWithCpu(server, `activation, new device (${label})`, server.url, {
    durationSec: duration,
    setupRequest: activations,
  });
  rows.push(activation);
  if (floor) {
    // Each floor run right after its scenario: the same conditions on a shared machine.
    const floorActivations = activationsAt('/floor/activations');
    await load('warm-up', floor.url, { durationSec: WARMUP_SEC, setupRequest: floorActivations });
    activation.floor = await loadWithCpu(floor, 'floor: activation work only', floor.url, {
      durationSec: duration,
      setupRequest: floorActivations,
    });
  }
  await load('warm-up', server.url, { durationSec: WARMUP_SEC, setupRequest: checkIns });
  const checkIn: Row = await loadWithCpu(server, `check-in, signed (${label})`, server.url, {
    durationSec: duration,
    setupRequest: checkIns,
  });
  rows.push(checkIn);
  if (floor) {
    const floorCheckIns = sequence(floorCheckInRequests(keys, 5000 * seconds), (c, req) => ({
      ...req,
      method: 'POST',
      path: c.path,
      headers: { 'content-type': 'application/json', 'licensor-device-signature': c.signature },
      body: c.body,
    }));
    await load('warm-up', floor.url, { durationSec: WARMUP_SEC, setupRequest: floorCheckIns });
    checkIn.floor = await loadWithCpu(floor, 'floor: check-in work only', floor.url, {
      durationSec: duration,
      setupRequest: floorCheckIns,
    });
  }
  return rows;
}

/** What an fsync per commit costs on this disk, and what sharing one fsync among a batch saves. */
function storageMicrobench(dir: string): string {
  const rows: string[] = ['| commit mode | µs per write | writes/s |', '|---|---:|---:|'];
  const n = 2000;
  for (const [label, mode, batch] of [
    ['synchronous=FULL, one fsync per write', 'FULL', 1],
    ['synchronous=NORMAL, no fsync (loses the last writes on power loss)', 'NORMAL', 1],
    ['group commit: NORMAL writes + one FULL barrier per 50 writes', 'GROUP', 50],
  ] as const) {
    const path = join(dir, `micro-${mode}.db`);
    const db = new BetterSqlite3(path);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${mode === 'NORMAL' ? 'NORMAL' : 'FULL'}`);
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE mark (id INTEGER PRIMARY KEY, at INTEGER)');
    const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
    const mark = db.prepare('INSERT INTO mark (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at');
    const value = 'x'.repeat(400);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      if (mode === 'GROUP') db.pragma('synchronous = NORMAL');
      db.transaction(() => insert.run(value)).immediate();
      if (mode === 'GROUP') {
        db.pragma('synchronous = FULL');
        if ((i + 1) % batch === 0) db.transaction(() => mark.run(Date.now())).immediate();
      }
    }
    const us = ((performance.now() - t0) * 1000) / n;
    rows.push(`| ${label} | ${us.toFixed(0)} | ${Math.round(1e6 / us)} |`);
    db.close();
  }
  return rows.join('\n');
}

/** Ed25519 costs on this CPU: a check-in needs one verify and two signs whatever the server does. */
function cryptoMicrobench(): { signUs: number; verifyUs: number } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const msg = Buffer.alloc(300, 7);
  const signature = sign(null, msg, privateKey);
  const n = 3000;
  let t0 = performance.now();
  for (let i = 0; i < n; i++) sign(null, msg, privateKey);
  const signUs = ((performance.now() - t0) * 1000) / n;
  t0 = performance.now();
  for (let i = 0; i < n; i++) verify(null, msg, publicKey, signature);
  return { signUs, verifyUs: ((performance.now() - t0) * 1000) / n };
}

/** A measured scenario: server CPU per request, and the reference runs it is compared with. */
export type Row = LoadResult & { cpuUs?: number; bare?: Row; floor?: Row };

const ratio = (r: Row, base: Row | undefined) => (base ? `${((r.rps / base.rps) * 100).toFixed(0)}%` : '');

function report(rows: Row[]): string {
  return [
    '| scenario | req/s | p50 ms | p99 ms | server CPU µs/req | vs bare | floor req/s | floor CPU µs/req | vs floor | errors + non-2xx |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.cpuUs === undefined ? '' : r.cpuUs.toFixed(0)} | ${r.bare ? ratio(r, r.bare) : '100%'} | ${
          r.floor ? r.floor.rps.toFixed(0) : ''
        } | ${r.floor?.cpuUs === undefined ? '' : r.floor.cpuUs.toFixed(0)} | ${ratio(r, r.floor)} | ${r.errors + r.non2xx}${
          r.floor ? ` (floor ${r.floor.errors + r.floor.non2xx})` : ''
        } |`,
    ),
  ].join('\n');
}

async function main() {
  const dataDir = join(ROOT, '.data', `activation-bench-${process.pid}`);
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  const dbPath = join(dataDir, 'licensor.db');
  const keys = Array.from({ length: 500 }, () => newDevice());
  const env = { LICENSOR_DATA_DIR: dataDir, LICENSOR_API_RATE_LIMIT: '0' };
  const started = Date.now();
  const children: Child[] = [];
  const stopAll = () => Promise.all(children.splice(0).map((c) => c.stop()));
  try {
    const micro = storageMicrobench(dataDir);
    const crypto = cryptoMicrobench();
    console.log(`\nStorage: one write transaction of ~400 bytes, 2000 times\n\n${micro}\n`);

    const bare = await startBareExpress();
    children.push(bare);
    const floor = await startFloor(writeFloorKeys(join(dataDir, 'floor-keys.json'), keys));
    children.push(floor);
    await load('warm-up', `${bare.url}/bare`, { durationSec: WARMUP_SEC });
    const rows: Row[] = [];
    const notes: string[] = [];
    // Each database size gets its own bare measurement right before it: the machine's other load changes
    // over a run, and a ratio is only meaningful between measurements taken under the same conditions.
    let inDb = 0;
    for (const size of million ? [3000, 97_000, 900_000] : [3000, 97_000]) {
      inDb += size; // seeding adds to the same database: 3k, then 100k, then 1M in all
      const label = `${inDb / 1000}k activations in DB`;
      const { codes, seeded } = await seed(dbPath, {
        prefix: `p${size}_`,
        freeCodes: 20_000 * duration,
        activations: size,
        keys,
      });
      const server = await startLicensorServer(env);
      children.push(server);
      const idle = rssMb(server);
      const baseline: Row = await loadWithCpu(
        bare,
        `bare Express JSON endpoint (before the ${inDb / 1000}k runs)`,
        `${bare.url}/bare`,
        {
          durationSec: duration,
        },
      );
      rows.push(
        baseline,
        ...(await measure(label, server, codes, seeded, keys, floor)).map((r) => ({ ...r, bare: baseline })),
      );
      notes.push(`server RSS with ${label}: ${idle} MB idle after start, ${rssMb(server)} MB after the runs`);
      await server.stop();
    }
    const goals = rows
      .filter((r) => r.floor)
      .map((r) => {
        const share = (r.rps / r.floor!.rps) * 100;
        return `- ${r.name}: ${share.toFixed(0)}% of its floor (goal ≥ 70%, moonshot 85%) ${share >= 70 ? 'met' : 'MISSED'}, p99 ${r.p99} ms (goal < 50) ${r.p99 < 50 ? 'met' : 'MISSED'}`;
      });
    const text = [
      `Activation API, 50 connections, ${duration} s per scenario after ${WARMUP_SEC} s of warm-up, ${new Date().toISOString()}. One 2-core machine runs the server, the bare endpoint and the load generator (autocannon), so req/s are relative; "server CPU µs/req" is the server process's own CPU time divided by the requests it served.`,
      report(rows),
      notes.map((n) => `- ${n}`).join('\n'),
      goals.join('\n'),
      `Ed25519 on this CPU: sign ${crypto.signUs.toFixed(0)} µs, verify ${crypto.verifyUs.toFixed(0)} µs. An activation signs twice (License file, response); a check-in verifies the device signature and signs twice.`,
      `Storage, one write transaction of ~400 bytes, 2000 times (the WAL fsync that group commit amortises; the API's barrier is an fdatasync off the event loop, this table's "group" row a FULL commit per 50 writes):\n\n${micro}`,
    ].join('\n\n');
    console.log(`\n${text}\n\n(total ${((Date.now() - started) / 1000).toFixed(0)} s)`);
    mkdirSync(join(ROOT, 'packages/server/bench/results'), { recursive: true });
    writeFileSync(join(ROOT, 'packages/server/bench/results/activation.md'), `# Activation API benchmark\n\n${text}\n`);
  } finally {
    const floorDirs = children.map((c) => c.dataDir).filter((d) => d.includes('licensor-floor-'));
    await stopAll();
    for (const dir of floorDirs) rmSync(dir, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// Also imported by the repository-wide report (bench/run.ts): run only when started directly.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
