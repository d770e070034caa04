import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createTestApp } from '@licensor/testkit/server';
import { inTx, type Storage } from '../src/db/storage';
import { licenseCodeV2Activities } from '../src/koogallery/licenseCodeV2';
import { licenseV1Activities } from '../src/koogallery/licenseV1';
import { rememberNonce } from '../src/koogallery/nonces';
import type { Answer } from '../src/koogallery/resultCodes';
import { formatCompactTime, formatCompactTimeMs } from '../src/koogallery/time';
import { registerCode } from '../src/licensing';
import { argOption } from './lib';

/**
 * The database side of the production interface's signed mix (produce-bench.ts), one request type at a time, in
 * process and without HTTP: the real handlers through the group commit (`db.batched`, `--concurrency` writes per
 * batch, on an on-disk SQLite file like the server's), with the answer record (GET) or the nonce (POST) that
 * produce.ts adds. Prints per request: CPU µs (this process: handlers, SQLite, commits, checkpoints, the WAL sync's
 * system time), the bytes and write calls the process made (/proc/self/io: WAL frames and checkpoint copies), and
 * the time of each statement. The message log's cost per message is measured the same way. What it leaves out
 * (HTTP, middleware, signatures, the response) is what bare Express and produce-ab.ts cover.
 * Usage: node scripts/dev.mjs run packages/server/bench/produce-parts.ts [--requests 4000] [--concurrency 25] [--rounds 3]
 *   [--types new,retried,refresh,status,log] (the words that pick the types below, by substring of their names)
 */

const requests = Number(argOption('--requests', '4000'));
const concurrency = Number(argOption('--concurrency', '25'));
const rounds = Number(argOption('--rounds', '3'));
const only = argOption('--types', '').split(',').filter(Boolean);

const t = await createTestApp({
  koo: { key: 'KEY', accessKeys: { basic: 'ACCESSKEY', licenseCode: 'ACCESSKEY', generic: 'ACCESSKEY' } } as never,
});
const ctx = t.licensor.ctx;
const db = ctx.db;

const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const io = (): { bytes: number; calls: number } => {
  if (!existsSync('/proc/self/io')) return { bytes: 0, calls: 0 };
  const text = readFileSync('/proc/self/io', 'utf8');
  return { bytes: Number(/wchar: (\d+)/.exec(text)?.[1]), calls: Number(/syscw: (\d+)/.exec(text)?.[1]) };
};

/** Time per statement (wall, µs in all), by its first 70 characters. */
const statements = new Map<string, { us: number; calls: number }>();
const timed = (tx: Storage): Storage =>
  new Proxy(tx, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'run' || prop === 'first' || prop === 'all') {
        return (sql: string, params?: readonly unknown[]) => {
          const started = performance.now();
          // SQLite runs the statement before this call returns; the promise is already settled.
          const result = (value as (s: string, p?: readonly unknown[]) => Promise<unknown>).call(target, sql, params);
          const key = sql.replace(/\s+/g, ' ').slice(0, 70);
          const s = statements.get(key) ?? { us: 0, calls: 0 };
          s.us += (performance.now() - started) * 1000;
          s.calls++;
          statements.set(key, s);
          return result;
        };
      }
      if (prop === 'transaction' || prop === 'batched') {
        return <T>(fn: (inner: Storage) => Promise<T>) =>
          (value as (f: (inner: Storage) => Promise<T>) => Promise<T>).call(target, (inner) => fn(timed(inner)));
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });

/** A family-A GET as produce.ts handles it: the answer recorded under its authToken, in the request's write. */
const get = (params: Record<string, string>) =>
  db.batched(async (raw) => {
    const tx = timed(raw);
    const token = randomUUID();
    const seen = await tx.first<{ answer: string }>('SELECT answer FROM scheme_a_answers WHERE auth_token = ?', [
      token,
    ]);
    if (seen) return JSON.parse(seen.answer) as Answer;
    const answer = await licenseV1Activities[params.activity!]!(inTx(ctx, tx), params);
    await tx.run(
      'INSERT INTO scheme_a_answers (auth_token, activity, answer, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
      [token, params.activity, JSON.stringify(answer), Date.now() + 86_400_000],
    );
    return answer;
  });

/** A scheme-B POST: its nonce and its change in one write. */
const post = (body: Record<string, unknown>) =>
  db.batched(async (raw) => {
    const tx = timed(raw);
    const fresh = await rememberNonce(tx, 'seen_nonces', randomUUID().replace(/-/g, ''), Date.now());
    return fresh ? await licenseCodeV2Activities[body.activity as string]!(inTx(ctx, tx), body) : undefined;
  });

const ts = () => formatCompactTimeMs(new Date());
const orders: string[] = [];
for (let i = 0; i < 50; i++) {
  const params = { activity: 'getLicense', businessId: randomUUID(), customerId: 'c', orderId: `CSSEED${i}` };
  const a = await get({ ...params, productId: 'P1', amount: '3', timeStamp: ts() });
  orders.push(a.instanceId as string);
}
for (let i = 0; i < 50; i++) {
  await db.transaction((tx) => registerCode(inTx(ctx, tx), { code: `PLBENCH${i}`, productId: 'P1' }, 'bench'));
}

// The request types of produce-bench.ts's mix, in its proportions 1:1:1:2.
let n = 0;
const types: Record<string, () => Promise<unknown>> = {
  'getLicense, new order': () =>
    get({
      activity: 'getLicense',
      businessId: randomUUID(),
      customerId: 'c',
      orderId: `CSB${n++}`,
      productId: 'P1',
      timeStamp: ts(),
    }),
  'getLicense, retried order': () =>
    get({
      activity: 'getLicense',
      businessId: randomUUID(),
      customerId: 'c',
      orderId: `CSSEED${n++ % 50}`,
      productId: 'P1',
      timeStamp: ts(),
    }),
  refreshLicense: () => {
    const i = n++;
    return get({
      activity: 'refreshLicense',
      orderId: `CSR${i}`,
      instanceId: orders[i % 50]!,
      expireTime: formatCompactTime(new Date(Date.now() + 400 * 86_400_000)),
      timeStamp: ts(),
    });
  },
  'updateLicenseCodeStatus (POST)': () => {
    const i = n++;
    return post({
      activity: 'updateLicenseCodeStatus',
      license: `PLBENCH${i % 50}`,
      status: i % 2 ? 'FREEZE' : 'UNFREEZE',
    });
  },
  'message log (one message)': async () =>
    ctx.messages.record({
      direction: 'in',
      activity: 'getLicense',
      method: 'GET',
      path: '/api/koogallery/produce',
      entitlementId: randomUUID(),
      orderId: `CSB${n++}`,
      resultCode: '000000',
      httpStatus: 200,
      latencyMs: 1.5,
      error: null,
      test: false,
    }),
};

console.log(`${requests} requests per type and round, ${concurrency} per group commit, ${rounds} rounds\n`);
for (let round = 1; round <= rounds; round++) {
  for (const [name, make] of Object.entries(types)) {
    if (only.length && !only.some((word) => name.includes(word))) continue;
    statements.clear();
    const io0 = io();
    const cpu0 = cpuUs();
    const wall0 = performance.now();
    for (let i = 0; i < requests; i += concurrency) await Promise.all(Array.from({ length: concurrency }, make));
    await ctx.messages.flush();
    const cpu = (cpuUs() - cpu0) / requests;
    const wall = ((performance.now() - wall0) * 1000) / requests;
    const io1 = io();
    console.log(
      `round ${round} ${name}: ${cpu.toFixed(1)} µs CPU, ${wall.toFixed(1)} µs wall, ` +
        `${((io1.bytes - io0.bytes) / requests / 1024).toFixed(1)} KB in ${((io1.calls - io0.calls) / requests).toFixed(1)} writes per request`,
    );
    if (round === rounds) {
      for (const [sql, s] of [...statements].sort((a, b) => b[1].us - a[1].us)) {
        console.log(
          `    ${(s.us / requests).toFixed(1).padStart(6)} µs/req  ×${(s.calls / requests).toFixed(2)}  ${sql}`,
        );
      }
    }
  }
}
await t.destroy();
