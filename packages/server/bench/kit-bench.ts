/**
 * Latency of the Kit interfaces on a real listening server with a file database (WAL, synchronous=FULL):
 *   node scripts/dev.mjs run packages/server/bench/kit-bench.ts
 * Prints p50/p95/p99/max per scenario. Only 127.0.0.1 is used; the data folder is temporary.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestApp } from '@licensor/testkit/server';
import { kitPath } from '../src/kit/router';
import type { KitInterface } from '../src/kit/schemas';

const KEY = 'ACCESSKEY';
const dir = mkdtempSync(join(tmpdir(), 'licensor-kit-bench-'));
const t = await createTestApp({ produceRateLimit: 0 }, dir);
const server = createServer(t.licensor.app).listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

let n = 0;
async function call(name: KitInterface, body: unknown): Promise<number> {
  const raw = JSON.stringify(body);
  const ts = String(Date.now());
  const nonce = `bench-${n++}-${Math.random()}`;
  const sign = createHmac('sha256', KEY)
    .update(KEY + nonce + ts + raw)
    .digest('hex')
    .toUpperCase();
  const started = performance.now();
  const res = await fetch(base + kitPath('v2', name), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json;charset=utf8', 'x-sign': sign, 'x-timestamp': ts, 'x-nonce': nonce },
    body: raw,
  });
  const answer = (await res.json()) as { resultCode: string; resultMsg: string };
  const ms = performance.now() - started;
  if (answer.resultCode !== '000000') throw new Error(`${name}: ${answer.resultCode} ${answer.resultMsg}`);
  return ms;
}

async function admin(path: string): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${base}/api/admin/v1${path}`, { headers: { Authorization: 'Bearer admin-test-token' } });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status}`);
  return performance.now() - started;
}

const rows: string[][] = [];
function report(label: string, samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!.toFixed(2);
  rows.push([label, String(s.length), q(0.5), q(0.95), q(0.99), s[s.length - 1]!.toFixed(2)]);
}

async function repeat(times: number, fn: (i: number) => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < times; i++) out.push(await fn(i));
  return out;
}

const stamp = (i: number) =>
  `2025060112${String(Math.floor(i / 60000) % 60).padStart(2, '0')}${String(Math.floor(i / 1000) % 60).padStart(2, '0')}${String(i % 1000).padStart(3, '0')}`;
const tenant = (i: number, flag = 1) => ({
  instanceId: `inst-${i % 200}`,
  tenantId: `tenant-${i}`,
  orderId: `CS${i}`,
  tenantCode: `code${i}`,
  name: `Tenant ${i}`,
  domainName: `https://t${i}.example`,
  flag,
  testFlag: 0,
  timeStamp: stamp(i),
});

await repeat(50, (i) => call('tenantSync', tenant(100_000 + i))); // warm-up
report('tenantSync add (new tenant)', await repeat(2000, (i) => call('tenantSync', tenant(i))));
{
  // 16 requests in flight, as when the marketplace pushes a tenant's apps, units and users at once.
  const samples: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < 2000) samples.push(await call('tenantSync', tenant(200_000 + next++)));
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  report(`tenantSync add, 16 in flight (${Math.round(2000 / seconds)} req/s)`, samples);
}
report('tenantSync duplicate add', await repeat(1000, (i) => call('tenantSync', tenant(i))));
report(
  'singleOrgSync add',
  await repeat(1000, (i) =>
    call('singleOrgSync', {
      instanceId: 'inst-0',
      tenantId: 'tenant-0',
      orgCode: `O${i}`,
      orgName: `Dept ${i}`,
      parentCode: i ? `O${i - 1}` : '',
      flag: 1,
      testFlag: 0,
      timeStamp: stamp(i),
    }),
  ),
);
const users = (k: number) =>
  Array.from({ length: 500 }, (_, i) => ({
    userName: `u${k}-${i}`,
    name: `User ${i}`,
    orgCode: `O${i}`,
    role: 'user',
    enable: 'true',
    email: `u${i}@x.example`,
  }));
report(
  'authSync 500 users (new)',
  await repeat(20, (k) =>
    call('authSync', {
      instanceId: 'inst-0',
      tenantId: 'tenant-0',
      appId: 'APP',
      userList: users(k),
      currentSyncTime: stamp(k),
      flag: 1,
      testFlag: 0,
      timeStamp: stamp(k),
    }),
  ),
);
report(
  'authSync 500 users (repeat)',
  await repeat(20, () =>
    call('authSync', {
      instanceId: 'inst-0',
      tenantId: 'tenant-0',
      appId: 'APP',
      userList: users(0),
      currentSyncTime: stamp(1),
      flag: 1,
      testFlag: 0,
      timeStamp: stamp(1),
    }),
  ),
);
const units = (k: number) =>
  Array.from({ length: 5000 }, (_, i) => ({
    orgCode: `F${i}`,
    orgName: `Unit ${i} v${k}`,
    parentCode: i ? `F${Math.floor((i - 1) / 10)}` : '',
  }));
report(
  'allOrgSync 5000 units (all renamed)',
  await repeat(5, (k) =>
    call('allOrgSync', {
      instanceId: 'inst-1',
      tenantId: 'tenant-1',
      orgInfoList: units(k),
      testFlag: 0,
      timeStamp: stamp(10 + k),
    }),
  ),
);
report(
  'allOrgSync 5000 units (repeat)',
  await repeat(5, () =>
    call('allOrgSync', {
      instanceId: 'inst-1',
      tenantId: 'tenant-1',
      orgInfoList: units(4),
      testFlag: 0,
      timeStamp: stamp(14),
    }),
  ),
);
report('admin GET /kit/tenants (2050 tenants)', await repeat(50, () => admin('/kit/tenants?limit=50')));
report('admin GET tenant (10k users, 1000 units)', await repeat(20, () => admin('/kit/tenants/inst-0/tenant-0')));
report('admin GET tenant (5000 units)', await repeat(20, () => admin('/kit/tenants/inst-1/tenant-1')));

// Server-side time of the same requests (handler start to answer sent, from the message log).
await t.licensor.ctx.messages.flush();
for (const activity of ['kit.tenantSync', 'kit.singleOrgSync', 'kit.authSync', 'kit.allOrgSync']) {
  const ms = (
    await t.db.all<{ latency_ms: number }>('SELECT latency_ms FROM marketplace_messages WHERE activity = ?', [activity])
  ).map((r) => r.latency_ms);
  report(`  server-side: ${activity} (all of the above)`, ms);
}

const header = ['scenario', 'n', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
for (const r of [header, ...rows])
  console.log(r.map((c, i) => (i ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  '));

server.close();
await t.destroy();
rmSync(dir, { recursive: true, force: true });
