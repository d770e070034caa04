import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { schemeAAuthToken, schemeBSignature } from '@licensor/shared';
import type autocannon from 'autocannon';
import { formatCompactTime, formatCompactTimeMs } from '../src/koogallery/time';
import { type Child, type LoadResult, load, ROOT, startBareExpress, startLicensorServer, table } from './lib';

/**
 * Production-interface throughput: a signed mix of getLicense (new and retried orders), refreshLicense and
 * license-code status changes at 50 connections, next to a bare Express JSON endpoint measured in the same
 * run. Usage: pnpm bench:produce [--duration 5]
 */

const duration = Number(process.argv[process.argv.indexOf('--duration') + 1]) || 5;
const P = '/api/koogallery/produce';
const ts = () => formatCompactTimeMs(new Date());
const compact = formatCompactTime;

function getUrl(params: Record<string, string>): string {
  const all = { ...params, timeStamp: ts() };
  return `${P}?${new URLSearchParams({ ...all, authToken: schemeAAuthToken('KEY', all) })}`;
}

function postReq(req: autocannon.Request, body: Record<string, unknown>): autocannon.Request {
  const raw = JSON.stringify(body);
  const nonce = randomUUID().replace(/-/g, '');
  const timestamp = String(Date.now());
  const signature = schemeBSignature('ACCESSKEY', nonce, timestamp, raw);
  return {
    ...req,
    method: 'POST',
    path: `${P}?signature=${signature}&timestamp=${timestamp}&nonce=${nonce}`,
    headers: { 'content-type': 'application/json;charset=utf8' },
    body: raw,
  };
}

/** Seeds orders and codes on a running server; returns the signed request mix (bench/run.ts uses it too). */
export async function produceMix(server: Child): Promise<(req: autocannon.Request) => autocannon.Request> {
  {
    // Seed: some orders (for retries and renewals) and some codes (for status changes).
    const orders: { orderId: string; instanceId: string }[] = [];
    for (let i = 0; i < 50; i++) {
      const orderId = `CSSEED${i}`;
      const r = await fetch(
        server.url +
          getUrl({
            activity: 'getLicense',
            businessId: randomUUID(),
            customerId: 'c',
            orderId,
            productId: 'P1',
            amount: '3',
          }),
      );
      orders.push({ orderId, instanceId: ((await r.json()) as { instanceId: string }).instanceId });
    }
    const codes = Array.from({ length: 50 }, (_, i) => `PLBENCH${i}`);
    for (const code of codes) {
      await fetch(`${server.url}/api/admin/v1/codes`, {
        method: 'POST',
        headers: { authorization: 'Bearer bench-admin-token', 'content-type': 'application/json' },
        body: JSON.stringify({ code, productId: 'P1' }),
      });
    }
    let n = 0;
    const mix = (req: autocannon.Request): autocannon.Request => {
      const i = n++;
      const o = orders[i % orders.length]!;
      switch (i % 5) {
        case 0: // a new purchase
          return {
            ...req,
            method: 'GET',
            path: getUrl({
              activity: 'getLicense',
              businessId: randomUUID(),
              customerId: 'c',
              orderId: `CSB${i}`,
              productId: 'P1',
            }),
          };
        case 1: // a retried purchase (idempotent read)
          return {
            ...req,
            method: 'GET',
            path: getUrl({
              activity: 'getLicense',
              businessId: randomUUID(),
              customerId: 'c',
              orderId: o.orderId,
              productId: 'P1',
            }),
          };
        case 2: // a renewal
          return {
            ...req,
            method: 'GET',
            path: getUrl({
              activity: 'refreshLicense',
              orderId: `CSR${i}`,
              instanceId: o.instanceId,
              expireTime: compact(new Date(Date.now() + 400 * 86_400_000)),
            }),
          };
        default: // license-code freeze / unfreeze (scheme B)
          return postReq(req, {
            activity: 'updateLicenseCodeStatus',
            license: codes[i % codes.length],
            status: i % 2 ? 'FREEZE' : 'UNFREEZE',
          });
      }
    };
    return mix;
  }
}

async function main() {
  const bare = await startBareExpress();
  const server = await startLicensorServer();
  try {
    const mix = await produceMix(server);
    const results: LoadResult[] = [];
    const baseline = await load('bare Express JSON endpoint', `${bare.url}/bare`, { durationSec: duration });
    results.push(baseline);
    results.push(
      await load('production interface (signed mix)', server.url, { durationSec: duration, setupRequest: mix }),
    );
    const md = table(results, baseline);
    console.log(`\nProduction interface, 50 connections, ${duration} s each (one run, one machine):\n\n${md}\n`);
    writeFileSync(join(ROOT, 'bench/results/produce.md'), `# Production interface benchmark\n\n${md}\n`);
  } finally {
    await server.stop();
    await bare.stop();
  }
}

// Run when executed directly; bench/run.ts imports produceMix.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
