import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpenApiCheck } from '@licensor/testkit/openapi';
import { createTestApp, freePort, signedGetUrl } from '@licensor/testkit/server';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../config';
import { formatCompactTime } from '../koogallery/time';
import { type RunningServer, startServer } from '../server';

/** Go-live readiness against a real listening server whose LICENSOR_PUBLIC_URL is its own address. */
let dir: string;
let running: RunningServer;
const TOKEN = 'readiness-admin-token';
interface Readiness {
  productionUrl: string | null;
  keys: Record<string, boolean>;
  lastSuccess: Record<string, { live: string | null; test: string | null; activities: string[] }>;
}
const api = (path: string, init: RequestInit = {}) =>
  fetch(`${running.url}/api/admin/v1${path}`, {
    ...init,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...init.headers },
  });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'licensor-readiness-'));
  const port = await freePort();
  running = await startServer(
    testConfig({
      dataDir: dir,
      port,
      host: '127.0.0.1',
      publicUrl: `http://127.0.0.1:${port}`,
      adminToken: TOKEN,
      produceRateLimit: 0,
    }),
  );
  // Longer than the clients' idle keep-alive (undici: 4 s; the server's 5 s is production's): otherwise, on a busy
  // machine, the server may close an idle connection just as a request goes out on it (ECONNRESET).
  running.server.keepAliveTimeout = 65_000;
});
afterAll(async () => {
  await running?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('go-live readiness', () => {
  it('names the configured keys and no interface answered yet', async () => {
    const r = (await (await api('/readiness')).json()) as Readiness;
    expect(r.productionUrl).toBe(`${running.url}/api/koogallery/produce`);
    expect(r.keys).toMatchObject({ familyA: true, basic: true, licenseCode: true, generic: true, kit: true });
    expect(r.lastSuccess.familyA).toEqual({ live: null, test: null, activities: [] });
  });

  it("plays a family's dial-test suite against its own production address and remembers the answers", async () => {
    const a = await api('/readiness/dial-test', { method: 'POST', body: JSON.stringify({ family: 'A' }) });
    const report = (await a.json()) as { ok: boolean; cases: { name: string; ok: boolean; codes: string[] }[] };
    expect(a.status, JSON.stringify(report)).toBe(200);
    const spec = await OpenApiCheck.load(join(import.meta.dirname, '..', '..', 'openapi-admin.yaml'));
    const headers = Object.fromEntries(a.headers.entries());
    expect(spec.problems('post', '/readiness/dial-test', { status: a.status, headers, body: report })).toEqual([]);
    expect(report.ok, JSON.stringify(report.cases)).toBe(true);
    expect(report.cases.length).toBeGreaterThan(1);
    expect(report.cases.every((c) => c.codes.length === 2)).toBe(true);

    const b = await api('/readiness/dial-test', {
      method: 'POST',
      body: JSON.stringify({ family: 'B', productId: 'OFFI0001' }),
    });
    const bReport = (await b.json()) as { ok: boolean; cases: unknown[] };
    expect(bReport.ok, JSON.stringify(bReport)).toBe(true);

    // Family C (License code delivered by the marketplace: basic interface plus license-code sync).
    const c = await api('/readiness/dial-test', { method: 'POST', body: JSON.stringify({ family: 'C' }) });
    const cReport = (await c.json()) as { ok: boolean; cases: { name: string; activity: string }[] };
    expect(c.status, JSON.stringify(cReport)).toBe(200);
    expect(cReport.ok, JSON.stringify(cReport)).toBe(true);
    expect(cReport.cases.length).toBeGreaterThan(1);

    const r = (await (await api('/readiness')).json()) as Readiness;
    expect(r.lastSuccess.familyA!.test).not.toBeNull();
    expect(r.lastSuccess.licenseCode!.test).not.toBeNull();
    expect(r.lastSuccess.basic!.test).not.toBeNull(); // family C's subscription calls
    expect(r.lastSuccess.familyA!.live).toBeNull(); // dial tests are debug traffic (testFlag=1)
    const audit = await running.db.all<{ detail: string }>(
      "SELECT detail FROM audit_log WHERE action = 'readiness.dial_test'",
    );
    expect(audit).toHaveLength(3);
  });

  it('refuses an unknown family with a clear message', async () => {
    const res = await api('/readiness/dial-test', { method: 'POST', body: JSON.stringify({ family: 'Z' }) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/family/);
  });
});

describe('bound marketplace keys', () => {
  const warningsOf = async (app: Parameters<typeof request>[0]) =>
    (await request(app).get('/api/admin/v1/readiness').set('Authorization', 'Bearer bound-token')).body as {
      warnings: { interface: string; kind: string; message: string }[];
      fingerprints: Record<string, string | null>;
    };

  it('names a key bound once it answered live traffic, and warns when the key or the address changed since', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'licensor-bound-'));
    const key = 'bound-family-a-key-7f3a9c';
    // Each interface type its own access key, as 卖家中心 issues them (one key for several: see the next test).
    const accessKeys = { basic: 'ak-basic-1', licenseCode: 'ak-lc-1', generic: 'ak-generic-1', kit: 'ak-kit-1' };
    const config = {
      adminToken: 'bound-token',
      publicUrl: 'https://licensor.example.com',
      koo: { key, accessKeys } as never,
    };
    try {
      const first = await createTestApp(config, dataDir);
      expect((await warningsOf(first.licensor.app)).warnings).toEqual([]); // nothing answered live yet
      const order = await request(first.licensor.app).get(
        signedGetUrl(
          {
            activity: 'getLicense',
            businessId: 'biz-bound-1',
            customerId: 'customer-1',
            orderId: 'CS2612019001',
            productId: 'OFFI0001',
            expireTime: formatCompactTime(new Date(Date.now() + 365 * 86_400_000)),
            periodType: 'year',
            periodNumber: '1',
            amount: '1',
          },
          key,
        ),
      );
      expect(order.body.resultCode).toBe('000000');
      const bound = await warningsOf(first.licensor.app);
      expect(bound.warnings).toEqual([
        { interface: 'familyA', kind: 'bound', message: expect.stringContaining('https://licensor.example.com') },
      ]);
      expect(bound.warnings[0]!.message).toMatch(/Rotating it or changing LICENSOR_PUBLIC_URL breaks orders/);
      expect(JSON.stringify(bound)).not.toContain(key); // fingerprints only, never the key
      await first.close();

      // Restarted with a new family-A key and a new address: both changes are named.
      const moved = await createTestApp(
        { ...config, publicUrl: 'https://new.example.com', koo: { key: 'a-rotated-key', accessKeys } as never },
        dataDir,
      );
      const after = await warningsOf(moved.licensor.app);
      expect(after.warnings.map((w) => w.kind).sort()).toEqual(['addressChanged', 'bound', 'keyChanged']);
      expect(after.warnings.find((w) => w.kind === 'keyChanged')!.message).toMatch(/LICENSOR_KOO_KEY/);
      expect(after.warnings.find((w) => w.kind === 'addressChanged')!.message).toMatch(
        /https:\/\/licensor\.example\.com\/api\/koogallery\/produce to https:\/\/new\.example\.com/,
      );
      expect(after.fingerprints.familyA).not.toBe(bound.fingerprints.familyA);
      await moved.close();

      // Back to the bound configuration: only the standing notice remains.
      const restored = await createTestApp(config, dataDir);
      expect((await warningsOf(restored.licensor.app)).warnings.map((w) => w.kind)).toEqual(['bound']);
      await restored.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('warns when one access key is configured for interface types that 卖家中心 keys separately', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'licensor-shared-key-'));
    try {
      // LICENSOR_KOO_ACCESS_KEY alone fills all four interface types with one key.
      const shared = await createTestApp(
        {
          adminToken: 'bound-token',
          koo: {
            accessKeys: { basic: 'one-key', licenseCode: 'one-key', generic: 'one-key', kit: 'one-key' },
          } as never,
        },
        dataDir,
      );
      const all = (await warningsOf(shared.licensor.app)).warnings;
      expect(all).toEqual([{ interface: 'basic', kind: 'sharedKey', message: expect.any(String) }]);
      expect(all[0]!.message).toMatch(
        /LICENSOR_KOO_ACCESS_KEY_BASIC, LICENSOR_KOO_ACCESS_KEY_LICENSE_CODE, LICENSOR_KOO_ACCESS_KEY_GENERIC, LICENSOR_KOO_ACCESS_KEY_KIT/,
      );
      expect(JSON.stringify(all)).not.toContain('one-key');
      await shared.close();

      // Two types sharing a key are named; distinct keys give no warning.
      const two = await createTestApp(
        {
          adminToken: 'bound-token',
          koo: { accessKeys: { basic: 'k1', licenseCode: 'k2', generic: 'k1', kit: 'k3' } } as never,
        },
        dataDir,
      );
      const pair = (await warningsOf(two.licensor.app)).warnings;
      expect(pair.map((w) => [w.interface, w.kind])).toEqual([['basic', 'sharedKey']]);
      expect(pair[0]!.message).toMatch(/基础接口 access key.*, 通用接口 access key/);
      expect(pair[0]!.message).not.toMatch(/LICENSE_CODE/);
      await two.close();
      const distinct = await createTestApp(
        {
          adminToken: 'bound-token',
          koo: { accessKeys: { basic: 'k1', licenseCode: 'k2', generic: 'k4', kit: 'k3' } } as never,
        },
        dataDir,
      );
      expect((await warningsOf(distinct.licensor.app)).warnings).toEqual([]);
      await distinct.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
