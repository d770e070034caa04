import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestApp, sqliteOnly } from '@licensor/testkit/server';
import { encodeCursor } from '../src/admin/pagination';
import { ORDER_KEYS_BACKFILL } from '../src/db/migrations/019_order_keys';

/**
 * The console's lists at 1M rows (issue 18: "lists page through 1M rows smoothly"): 1M licenses (10% test,
 * a third of them family C with an order), 1M activations, 1M marketplace orders (notified, a third also
 * fetched), 1M marketplace messages (1% failed), 1M audit entries, 1M outbox items and 1M webhook deliveries,
 * in a SQLite file, inserted in one transaction; then the admin API's list pages over a real socket — first
 * page, a page deep in the cursor chain, filters and search — for every list of the console.
 * Usage: node scripts/dev.mjs run packages/server/bench/console-lists-bench.ts [--scale 1] [--only orders,messages] [--skip orders]
 * (scale 1 = 1M rows per table; --only: the lists whose names start with one of the words)
 */

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const scale = Number(arg('--scale') ?? 1);
const only = arg('--only')?.split(',');
const skip = arg('--skip')?.split(',') ?? [];
const N = Math.round(1_000_000 * scale);

const dir = mkdtempSync(join(tmpdir(), 'licensor-console-lists-'));
const t = await createTestApp({ adminAuthFailures: 100_000 }, dir);
// Seeds through the raw better-sqlite3 handle: a SQLite bench.
const db = sqliteOnly(t.db, 'console-lists-bench');

const orderId = (i: number) => `CS${String(i).padStart(10, '0')}`;
const hasTable = (name: string) =>
  Boolean(db.raw.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(name));

const ids: string[] = [];

async function seed() {
  const started = performance.now();
  const ins = (sql: string) => db.raw.prepare(sql);
  const ent = ins(
    `INSERT INTO entitlements (id, family, code, order_id, order_line_id, product_id, sku_code, seats, starts_at, expires_at, status, test, customer_id, customer_name, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const act = ins(
    `INSERT INTO activations (id, entitlement_id, status, seat, fingerprint, device_public_key, device_key_hash, hostname, created_at, last_seen_at)
     VALUES (?, ?, 'active', ?, '{}', 'pk', 'h', ?, ?, ?)`,
  );
  const notice = ins(
    'INSERT INTO order_notifications (order_id, order_line_id, test, received_at, applied_at, outcome) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const order = ins(
    'INSERT INTO orders (order_id, order_line_id, order_type, info, fetched_at) VALUES (?, ?, ?, ?, ?)',
  );
  const message = ins(
    `INSERT INTO marketplace_messages (direction, activity, method, path, entitlement_id, order_id, code, result_code, http_status, latency_ms, error, test, created_at)
     VALUES (?, ?, 'POST', '/api/koogallery/produce', ?, ?, ?, ?, 200, 3.2, ?, ?, ?)`,
  );
  const auditEntry = ins(
    'INSERT INTO audit_log (at, actor, action, entitlement_id, activation_id, before, after, detail) VALUES (?, ?, ?, ?, NULL, NULL, ?, ?)',
  );
  const outboxItem = ins(
    `INSERT INTO outbox (kind, dedupe_key, payload, status, attempts, next_attempt_at, last_error, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const event = ins(`INSERT INTO webhook_events (id, type, dedupe_key, payload, created_at) VALUES (?, ?, NULL, ?, ?)`);
  const delivery = ins(
    `INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, attempts, next_attempt_at, last_error, last_status, delivered_at, created_at, updated_at)
     VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)`,
  );
  const statuses = ['active', 'active', 'active', 'expired', 'frozen', 'suspended', 'revoked', 'released'];
  const far = Date.UTC(2100, 0, 1);
  // Bulk seeding on the raw connection: one synchronous transaction, no per-row promise.
  db.raw
    .transaction(() => {
      const base = Date.UTC(2024, 0, 1);
      for (let i = 0; i < N; i++) {
        const at = new Date(base + i * 60_000).toISOString();
        // i % 3: 0 → family B (the code is the id), 1 → direct (LSR- code), 2 → family C bought with order CS<i>.
        const family = (['B', 'direct', 'C'] as const)[i % 3]!;
        const id = family === 'B' ? `PL${String(i).padStart(10, '0')}` : randomUUID();
        ids.push(id);
        ent.run(
          id,
          family,
          family === 'B' ? id : family === 'direct' ? `LSR-${i}` : null,
          family === 'C' ? orderId(i) : null,
          family === 'C' ? `${orderId(i)}-000001` : null,
          `prod-${i % 20}`,
          `sku-${i % 50}`,
          1 + (i % 5),
          at,
          at,
          statuses[i % statuses.length],
          i % 10 === 0 ? 1 : 0,
          `cust-${i}`,
          `Customer ${i}, Ltd`,
          at,
          at,
        );
      }
      for (let i = 0; i < N; i++) {
        const at = new Date(base + i * 30_000).toISOString();
        act.run(randomUUID(), ids[i % N], Math.floor(i / N), `host-${i}`, at, at);
      }
      // Orders: every one notified (orderNotify), those of family C licenses also fetched through the order API.
      for (let i = 0; i < N; i++) {
        const at = new Date(base + i * 60_000).toISOString();
        const o = orderId(i);
        notice.run(o, `${o}-000001`, i % 10 === 0 ? 1 : 0, at, at, 'NEW applied');
        if (i % 3 === 2) order.run(o, `${o}-000001`, 'NEW', JSON.stringify({ orderId: o, orderType: 'NEW' }), at);
      }
      for (let i = 0; i < N; i++) {
        const at = new Date(base + i * 10_000).toISOString();
        const failed = i % 100 === 1; // not a test message (i % 10 === 0)
        message.run(
          i % 2 ? 'in' : 'out',
          i % 2 ? 'newInstance' : 'license.query',
          ids[i % N],
          orderId(i),
          `PL${String(i).padStart(10, '0')}`,
          failed ? '000003' : '000000',
          failed ? 'no such order' : null,
          i % 10 === 0 ? 1 : 0,
          at,
        );
      }
      for (let i = 0; i < N; i++) {
        const at = new Date(base + i * 10_000).toISOString();
        // One in a thousand by an operator (what "filter by actor" looks for), the rest by the marketplace and the system.
        const actor = i % 1000 === 1 ? 'operator:li.wei' : i % 2 ? 'marketplace:newInstance' : 'system';
        auditEntry.run(at, actor, 'entitlement.changed', ids[i % N], '{"status":"active"}', `{"note":"n${i}"}`);
      }
      for (let i = 0; i < N; i++) {
        const at = new Date(base + i * 10_000).toISOString();
        // Mostly done; one in a thousand failed, one in ten thousand pending (due far in the future: not run here).
        const status = i % 1000 === 0 ? 'failed' : i % 10_000 === 1 ? 'pending' : 'done';
        outboxItem.run(
          'license.query',
          `bench:${i}`,
          `{"code":"PL${i}"}`,
          status,
          status === 'failed' ? 8 : 1,
          far,
          status === 'failed' ? 'HTTP 503' : null,
          at,
          at,
        );
      }
      db.raw.exec(
        `INSERT INTO webhook_endpoints (id, url, events, secret, created_at, updated_at) VALUES
       ('ep_crm', 'https://crm.example/hooks', '["*"]', 'sealed', '2024-01-01', '2024-01-01'),
       ('ep_bi', 'https://bi.example/hooks', '["*"]', 'sealed', '2024-01-01', '2024-01-01')`,
      );
      for (let i = 0; i < N; i++) {
        const at = new Date(base + i * 10_000).toISOString();
        const failed = i % 100 === 0;
        event.run(`msg_${i}`, i % 500 === 0 ? 'license.revoked' : 'license.changed', '{}', at);
        delivery.run(
          `dlv_${i}`,
          `msg_${i}`,
          i % 10 === 0 ? 'ep_bi' : 'ep_crm',
          failed ? 'failed' : 'delivered',
          null,
          failed ? 'HTTP 500' : null,
          failed ? 500 : 200,
          failed ? null : at,
          at,
          at,
        );
      }
      // The orders list's keys (migration 019), filled the way the migration fills existing orders.
      if (hasTable('order_keys')) db.raw.exec(ORDER_KEYS_BACKFILL);
    })
    .immediate();
  await db.exec('ANALYZE');
  return performance.now() - started;
}

async function timeIt(fn: () => Promise<unknown>): Promise<{ p50: number; max: number }> {
  const samples: number[] = [];
  const first = performance.now();
  await fn(); // warms the statement cache; a slow request (> 1 s) is then timed 3 times instead of 9
  const runs = performance.now() - first > 1000 ? 3 : 9;
  for (let i = 0; i < runs; i++) {
    const s = performance.now();
    await fn();
    samples.push(performance.now() - s);
  }
  samples.sort((a, b) => a - b);
  return { p50: samples[Math.floor(runs / 2)]!, max: samples[runs - 1]! };
}

const seedMs = await seed();
const server = createServer(t.licensor.app).listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/admin/v1`;
const headers = { Authorization: 'Bearer admin-test-token' };
const getJson = async (path: string) => {
  const r = await fetch(url + path, { headers });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status} ${await r.text()}`);
  return r.json() as Promise<{ nextCursor: string | null; total?: number; totalCapped?: boolean; items: unknown[] }>;
};

// Deep in the cursor chain: the cursor the API hands out half-way down (rowid-keyed lists).
const middle = encodeCursor([Math.floor(N / 2)]);
const half = Math.floor(N / 2);
// A direct license (i % 3 === 1) and a family C license (i % 3 === 2) half-way through the table.
const code = `LSR-${half + 2}`;
let c = half;
while (c % 3 !== 2 || c % 10 === 0) c++; // a live (non-test) family C license
const orderOfC = orderId(c);
const rows: [string, { p50: number; max: number }, string][] = [];
const bench = async (name: string, pathOrNext: string | (() => Promise<string>)) => {
  if ((only && !only.some((o) => name.startsWith(o))) || skip.some((o) => name.startsWith(o))) return;
  const path = typeof pathOrNext === 'string' ? pathOrNext : await pathOrNext();
  let info = '';
  const r = await timeIt(async () => {
    const page = await getJson(path);
    const total = page.total === undefined ? '' : `, total ${page.total}${page.totalCapped ? '+' : ''}`;
    info = `${page.items.length} items${total}${page.nextCursor ? ', more' : ''}`;
  });
  rows.push([name, r, info]);
  console.error(`${name}: ${r.p50.toFixed(1)} ms`);
};
/** The cursor of the first page's last row: "next page" as the console asks for it. */
const next = (path: string) => async () =>
  `${path}&cursor=${encodeURIComponent((await getJson(path)).nextCursor ?? '')}`;

await bench('licenses: first page', '/entitlements?limit=50');
await bench('licenses: page deep in the cursor chain', `/entitlements?limit=50&cursor=${middle}`);
await bench('licenses: status=frozen&family=B', '/entitlements?status=frozen&family=B&limit=50');
await bench('licenses: productId=prod-7', '/entitlements?productId=prod-7&limit=50');
await bench('licenses: page=2 (page numbers)', '/entitlements?limit=50&page=2');
await bench(`licenses: search code q=${code}`, `/entitlements?q=${code}&limit=50`);
await bench(`licenses: search order q=${orderOfC}`, `/entitlements?q=${orderOfC}&limit=50`);
await bench(`licenses: search customer q=Customer ${half + 3}`, `/entitlements?q=Customer%20${half + 3}&limit=50`);
await bench('licenses: search product q=prod-7', '/entitlements?q=prod-7&limit=50');
await bench('licenses: search SKU q=sku-42', '/entitlements?q=sku-42&limit=50');
await bench('devices: first page', '/activations?limit=50');
await bench('devices: page deep in the cursor chain', `/activations?limit=50&cursor=${middle}`);
await bench('devices: status=active', '/activations?status=active&limit=50');
await bench(`devices: code=${code}`, `/activations?code=${code}&limit=50`);
await bench('devices: search q=host-777777', '/activations?q=host-777777&limit=50');
await bench('orders: first page', '/orders?limit=50');
await bench('orders: next page', next('/orders?limit=50'));
await bench(`orders: search q=${orderOfC}`, `/orders?q=${orderOfC}&limit=50`);
await bench('messages: first page', '/messages?limit=50');
await bench('messages: page deep in the cursor chain', `/messages?limit=50&cursor=${middle}`);
await bench('messages: failed=true (first page)', '/messages?failed=true&limit=50');
await bench('messages: failed=true (next page)', next('/messages?failed=true&limit=50'));
await bench("messages: failed=true&limit=20 (the console's failed-first table)", '/messages?failed=true&limit=20');
await bench(`messages: search q=${orderOfC}`, `/messages?q=${orderOfC}&limit=50`);
await bench('audit: first page', '/audit?limit=50');
await bench('audit: page deep in the cursor chain', `/audit?limit=50&cursor=${middle}`);
await bench('audit: actor=operator:li.wei', '/audit?actor=operator:li.wei&limit=50');
await bench(`audit: entitlementId (a license's trail)`, () =>
  Promise.resolve(`/audit?entitlementId=${ids[c]}&limit=50`),
);
await bench('audit: search q=n777777', '/audit?q=n777777&limit=50');
await bench('outbox: default (pending, running, failed)', '/outbox?limit=50');
await bench('outbox: status=failed', '/outbox?status=failed&limit=50');
await bench('outbox: status=done, deep in the cursor chain', `/outbox?status=done&limit=50&cursor=${middle}`);
await bench('webhooks deliveries: first page', '/webhooks/deliveries?limit=50');
await bench('webhooks deliveries: deep in the cursor chain', `/webhooks/deliveries?limit=50&cursor=${middle}`);
await bench('webhooks deliveries: status=failed', '/webhooks/deliveries?status=failed&limit=50');
await bench('webhooks deliveries: endpointId=ep_bi', '/webhooks/deliveries?endpointId=ep_bi&limit=50');
await bench(
  'webhooks deliveries: eventType=license.revoked',
  '/webhooks/deliveries?eventType=license.revoked&limit=50',
);

server.close();
await t.close();
rmSync(dir, { recursive: true, force: true });

const fmt = (n: number) => n.toFixed(1).padStart(8);
console.log(`\nConsole lists at scale: ${N} rows per table (seeded in ${(seedMs / 1000).toFixed(1)} s)\n`);
console.log(`${'request'.padEnd(64)}  p50 ms   max ms  answer`);
for (const [name, r, info] of rows) console.log(`${name.padEnd(64)}${fmt(r.p50)} ${fmt(r.max)}  ${info}`);
