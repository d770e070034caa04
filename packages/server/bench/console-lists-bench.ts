import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestApp } from '@licensor/testkit/server';
import { encodeCursor } from '../src/admin/pagination';

/**
 * The console's lists at 1M rows (issue 18: "lists page through 1M rows smoothly"): 1M licenses (10% test)
 * and 1M activations in a SQLite file, inserted in one transaction, then the admin API's list pages over a
 * real socket — first page, a page deep in the cursor chain, page numbers, filters and free-text search.
 * Usage: node scripts/dev.mjs run packages/server/bench/console-lists-bench.ts [--scale 1] (scale 1 = 1M rows)
 */

const scaleArg = process.argv.indexOf('--scale');
const scale = scaleArg > 0 ? Number(process.argv[scaleArg + 1]) : 1;
const N_ENT = Math.round(1_000_000 * scale);
const N_ACT = Math.round(1_000_000 * scale);

const dir = mkdtempSync(join(tmpdir(), 'licensor-console-lists-'));
const t = createTestApp({ adminAuthFailures: 100_000 }, dir);
const { db } = t;

function seed() {
  const started = performance.now();
  const ent = db.raw.prepare(
    `INSERT INTO entitlements (id, family, code, order_id, product_id, seats, starts_at, expires_at, status, test, customer_name, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const act = db.raw.prepare(
    `INSERT INTO activations (id, entitlement_id, status, seat, fingerprint, device_public_key, device_key_hash, hostname, created_at, last_seen_at)
     VALUES (?, ?, 'active', ?, '{}', 'pk', 'h', ?, ?, ?)`,
  );
  const statuses = ['active', 'active', 'active', 'expired', 'frozen', 'suspended', 'revoked', 'released'];
  const ids: string[] = [];
  db.transaction(() => {
    const base = Date.UTC(2024, 0, 1);
    for (let i = 0; i < N_ENT; i++) {
      const at = new Date(base + i * 60_000).toISOString();
      const family = i % 3 === 0 ? 'B' : 'direct';
      const id = family === 'B' ? `PL${String(i).padStart(10, '0')}` : randomUUID();
      ids.push(id);
      ent.run(
        id,
        family,
        family === 'B' ? id : `LSR-${i}`,
        family === 'B' ? null : `CS${i}`,
        `prod-${i % 20}`,
        1 + (i % 5),
        at,
        at,
        statuses[i % statuses.length],
        i % 10 === 0 ? 1 : 0,
        `Customer ${i}, Ltd`,
        at,
        at,
      );
    }
    for (let i = 0; i < N_ACT; i++) {
      const at = new Date(base + i * 30_000).toISOString();
      act.run(randomUUID(), ids[i % N_ENT], Math.floor(i / N_ENT), `host-${i}`, at, at);
    }
  });
  db.exec('ANALYZE');
  return performance.now() - started;
}

async function timeIt(fn: () => Promise<unknown>, runs = 9): Promise<{ p50: number; max: number }> {
  const samples: number[] = [];
  await fn(); // warm the statement cache
  for (let i = 0; i < runs; i++) {
    const s = performance.now();
    await fn();
    samples.push(performance.now() - s);
  }
  samples.sort((a, b) => a - b);
  return { p50: samples[Math.floor(runs / 2)]!, max: samples[runs - 1]! };
}

const seedMs = seed();
const server = createServer(t.licensor.app).listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/admin/v1`;
const headers = { Authorization: 'Bearer admin-test-token' };
const getJson = async (path: string) => {
  const r = await fetch(url + path, { headers });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status} ${await r.text()}`);
  return r.json() as Promise<{ nextCursor: string | null; total: number; items: unknown[] }>;
};

// Deep in the cursor chain: the cursor the API hands out after the 500,000th row (rowid-keyed lists).
const middle = encodeCursor([Math.floor(N_ENT / 2)]);
// A direct license's code (i % 3 !== 0) half-way through the table.
const code = `LSR-${Math.floor(N_ENT / 2) + 2}`;
const rows: [string, { p50: number; max: number }, string][] = [];
const bench = async (name: string, path: string) => {
  let info = '';
  const r = await timeIt(async () => {
    const page = await getJson(path);
    info = `${page.items.length} items, total ${page.total}${(page as { totalCapped?: boolean }).totalCapped ? '+' : ''}`;
  });
  rows.push([name, r, info]);
};
await bench('licenses: first page', '/entitlements?limit=50');
await bench('licenses: page deep in the cursor chain', `/entitlements?limit=50&cursor=${middle}`);
await bench('licenses: status=frozen&family=B', '/entitlements?status=frozen&family=B&limit=50');
await bench('licenses: productId=prod-7', '/entitlements?productId=prod-7&limit=50');
await bench(`licenses: search q=${code}`, `/entitlements?q=${code}&limit=50`);
await bench('licenses: page=2 (page numbers)', '/entitlements?limit=50&page=2');
await bench('devices: first page', '/activations?limit=50');
await bench('devices: page deep in the cursor chain', `/activations?limit=50&cursor=${middle}`);
await bench('devices: status=active', '/activations?status=active&limit=50');
await bench(`devices: code=${code}`, `/activations?code=${code}&limit=50`);
await bench('devices: search q=host-777777', '/activations?q=host-777777&limit=50');

server.close();
await t.close();
rmSync(dir, { recursive: true, force: true });

const fmt = (n: number) => n.toFixed(1).padStart(8);
console.log(
  `\nConsole lists at scale: ${N_ENT} licenses, ${N_ACT} activations (seeded in ${(seedMs / 1000).toFixed(1)} s)\n`,
);
console.log(`${'request'.padEnd(44)}  p50 ms   max ms  answer`);
for (const [name, r, info] of rows) console.log(`${name.padEnd(44)}${fmt(r.p50)} ${fmt(r.max)}  ${info}`);
