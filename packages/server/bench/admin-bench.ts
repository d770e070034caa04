import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestApp, sqliteOnly } from '@licensor/testkit/server';
import { main } from '../src/cli/index';
import { planDay } from '../src/jobs/daily';

/**
 * Admin API and CLI at operator scale: 100k licenses (10% test), 100k activations, 200k marketplace
 * messages, 10k family-B codes used in a day. Measures list pages (first, deep by cursor, deep by page
 * number, filtered, free text), a full CSV export streamed over a real socket, a CLI listing and the daily
 * planning step. Usage: node --import tsx packages/server/bench/admin-bench.ts [--scale 1]
 */

const scale = Number(process.argv[process.argv.indexOf('--scale') + 1]) || 1;
const N_ENT = 100_000 * scale;
const N_ACT = 100_000 * scale;
const N_MSG = 200_000 * scale;
const N_CODES = 10_000 * scale;

const dir = mkdtempSync(join(tmpdir(), 'licensor-admin-bench-'));
const t = await createTestApp({}, dir);
// Seeds through the raw better-sqlite3 handle: a SQLite bench.
const db = sqliteOnly(t.db, 'admin-bench');

async function seed() {
  const started = performance.now();
  const ent = db.raw.prepare(
    `INSERT INTO entitlements (id, family, code, order_id, product_id, seats, starts_at, expires_at, status, test, customer_name, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const act = db.raw.prepare(
    `INSERT INTO activations (id, entitlement_id, status, seat, fingerprint, device_public_key, device_key_hash, hostname, created_at, last_seen_at)
     VALUES (?, ?, 'active', ?, '{}', 'pk', 'h', ?, ?, ?)`,
  );
  const msg = db.raw.prepare(
    `INSERT INTO marketplace_messages (direction, activity, result_code, http_status, latency_ms, error, test, code, created_at)
     VALUES (?, ?, ?, 200, ?, ?, ?, ?, ?)`,
  );
  const usage = db.raw.prepare('INSERT INTO code_usage (code, day, device) VALUES (?, ?, ?)');
  const statuses = ['active', 'active', 'active', 'expired', 'frozen', 'suspended', 'revoked', 'released'];
  const ids: string[] = [];
  // Bulk seeding on the raw connection: one synchronous transaction, no per-row promise.
  db.raw
    .transaction(() => {
      const base = Date.UTC(2024, 0, 1);
      for (let i = 0; i < N_ENT; i++) {
        const at = new Date(base + i * 60_000).toISOString();
        const family = i % 3 === 0 ? 'B' : 'A';
        const id = family === 'B' ? `PL${String(i).padStart(10, '0')}` : randomUUID();
        ids.push(id);
        ent.run(
          id,
          family,
          family === 'B' ? id : `LSR-${i}`,
          `CS${i}`,
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
      const activities = ['getLicense', 'refreshLicense', 'license.query.batch', 'license.usage', 'getLicenseAsync'];
      for (let i = 0; i < N_MSG; i++) {
        const failed = i % 50 === 0;
        msg.run(
          i % 2 ? 'in' : 'out',
          activities[i % activities.length],
          failed ? '000005' : '000000',
          3.2,
          failed ? 'boom' : null,
          i % 10 === 0 ? 1 : 0,
          `PL${i}`,
          new Date(base + i * 10_000).toISOString(),
        );
      }
      for (let i = 0; i < N_CODES; i++) {
        const code = ids[i * 3]!; // family B rows
        for (let d = 0; d < 2; d++) usage.run(code, '2025-06-09', `dev-${i}-${d}`);
      }
    })
    .immediate();
  return performance.now() - started;
}

async function timeIt(fn: () => Promise<unknown> | unknown, runs = 15): Promise<{ p50: number; p95: number }> {
  const samples: number[] = [];
  await fn(); // warm the statement cache
  for (let i = 0; i < runs; i++) {
    const s = performance.now();
    await fn();
    samples.push(performance.now() - s);
  }
  samples.sort((a, b) => a - b);
  return { p50: samples[Math.floor(runs / 2)]!, p95: samples[Math.floor(runs * 0.95)]! };
}

const seedMs = await seed();
const server = createServer(t.licensor.app).listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/admin/v1`;
const headers = { Authorization: 'Bearer admin-test-token' };
const getJson = async (path: string) => {
  const r = await fetch(url + path, { headers });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status} ${await r.text()}`);
  return r.json() as Promise<{ nextCursor: string | null; total: number; items: unknown[] }>;
};

// A cursor half-way through the licenses, reached by following cursors of 200-row pages.
let cursor: string | null = null;
for (let i = 0; i < Math.floor((N_ENT * 0.9) / 2 / 200); i++)
  cursor = (await getJson(`/entitlements?limit=200${cursor ? `&cursor=${cursor}` : ''}`)).nextCursor;

const rows: [string, { p50: number; p95: number }][] = [];
const bench = async (name: string, fn: () => Promise<unknown> | unknown) => rows.push([name, await timeIt(fn)]);
await bench('GET /entitlements?limit=50 (first page + total)', () => getJson('/entitlements?limit=50'));
await bench('GET /entitlements?limit=50&cursor=<middle>', () => getJson(`/entitlements?limit=50&cursor=${cursor}`));
await bench('GET /entitlements?limit=50&page=900 (offset 45k)', () => getJson('/entitlements?limit=50&page=900'));
await bench('GET /entitlements?status=frozen&family=B', () => getJson('/entitlements?status=frozen&family=B'));
await bench('GET /entitlements?q=Customer 4242', () => getJson('/entitlements?q=Customer%204242'));
await bench('GET /activations?limit=50', () => getJson('/activations?limit=50'));
await bench('GET /messages?failed=true&limit=50', () => getJson('/messages?failed=true&limit=50'));
await bench('GET /messages?activity=getLicense&limit=200', () => getJson('/messages?activity=getLicense&limit=200'));
await bench('GET /summary', () => getJson('/summary'));

const rssBefore = process.memoryUsage().rss;
let peakRss = rssBefore;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 5);
const exportStarted = performance.now();
const res = await fetch(`${url}/export/entitlements?format=csv&includeTest=true`, { headers });
let bytes = 0;
let lines = 0;
for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
  bytes += chunk.length;
  for (const b of chunk) if (b === 10) lines++;
}
const exportMs = performance.now() - exportStarted;
clearInterval(sampler);

let cliOut = '';
const cliRun = await timeIt(
  () =>
    main(['--data-dir', dir, 'entitlements', 'list', '--status', 'active', '--limit', '50'], {
      stdout: { write: (s: string) => (cliOut = s) },
      stderr: { write: () => true },
      env: { LICENSOR_KEY_PASSPHRASE: 'test-passphrase' },
    }),
  5,
);

const planStarted = performance.now();
const plan = await planDay(t.licensor.ctx, '2025-06-09');
const planMs = performance.now() - planStarted;

server.close();
await t.close();
rmSync(dir, { recursive: true, force: true });

const fmt = (n: number) => n.toFixed(1).padStart(8);
console.log(
  `\nAdmin API at scale: ${N_ENT} licenses, ${N_ACT} activations, ${N_MSG} messages (seeded in ${(seedMs / 1000).toFixed(1)} s)\n`,
);
console.log(`${'request'.padEnd(52)}  p50 ms   p95 ms`);
for (const [name, r] of rows) console.log(`${name.padEnd(52)}${fmt(r.p50)} ${fmt(r.p95)}`);
console.log(
  `\nCSV export of ${lines - 1} licenses: ${(bytes / 1e6).toFixed(1)} MB in ${exportMs.toFixed(0)} ms (${Math.round(((lines - 1) / exportMs) * 1000)} rows/s), RSS +${((peakRss - rssBefore) / 1e6).toFixed(1)} MB at peak`,
);
console.log(
  `CLI entitlements list --status active --limit 50 (in-process, opens the database): p50 ${cliRun.p50.toFixed(1)} ms (${cliOut.length} chars)`,
);
console.log(
  `Daily planning of ${plan.codes} codes used in a day (${plan.queryBatches}+${plan.usageBatches} outbox items): ${planMs.toFixed(0)} ms`,
);
