import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpenApiCheck } from '@licensor/testkit/openapi';
import { freePort } from '@licensor/testkit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../config';
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

    const r = (await (await api('/readiness')).json()) as Readiness;
    expect(r.lastSuccess.familyA!.test).not.toBeNull();
    expect(r.lastSuccess.licenseCode!.test).not.toBeNull();
    expect(r.lastSuccess.familyA!.live).toBeNull(); // dial tests are debug traffic (testFlag=1)
    const audit = running.db.all<{ detail: string }>(
      "SELECT detail FROM audit_log WHERE action = 'readiness.dial_test'",
    );
    expect(audit).toHaveLength(2);
  });

  it('refuses an unknown family with a clear message', async () => {
    const res = await api('/readiness/dial-test', { method: 'POST', body: JSON.stringify({ family: 'Z' }) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/family/);
  });
});
