import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, type RunningServer, startServer, testConfig } from '@licensor/server';
import {
  compact,
  daysFromNow,
  ids,
  MarketplaceCaller,
  MarketplaceSimulator,
  runDialTest,
  runDialTestCommand,
} from '@licensor/simulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * KooGallery's dial tests against a real server on one database: the saved debug suites of every family,
 * replayed with the same bodies and a new signature, timestamp and nonce each time.
 */

const sim = new MarketplaceSimulator('AK', 'SK');
let server: RunningServer;
let dir = '';
let url = '';

beforeAll(async () => {
  const simUrl = await sim.listen();
  dir = mkdtempSync(join(tmpdir(), 'licensor-dial-'));
  server = await startServer(
    testConfig({
      dataDir: dir,
      port: 0,
      host: '127.0.0.1',
      koo: { apiBase: simUrl, apiFallback: undefined, timeoutMs: 1000 } as never,
    }),
    createLogger('silent'),
  );
  url = `${server.url}/api/koogallery/produce`;
});

afterAll(async () => {
  await server.close();
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

const caller = () =>
  new MarketplaceCaller({ url, key: 'KEY', accessKeys: { default: 'ACCESSKEY' }, print: () => undefined });

async function registerTestCode(): Promise<string> {
  const code = ids.code();
  const res = await fetch(`${server.url}/api/admin/v1/codes`, {
    method: 'POST',
    headers: { authorization: 'Bearer admin-test-token', 'content-type': 'application/json' },
    body: JSON.stringify({ code, test: true, productId: 'DIAL-TEST' }),
  });
  expect([200, 201]).toContain(res.status);
  return code;
}

describe('dial tests (testFlag=1 debug cases replayed)', () => {
  it("replays every family's debug suite three times on one database and answers 000000 every time", async () => {
    const before = (await server.db.first<{ n: number }>('SELECT COUNT(*) AS n FROM entitlements'))!.n;
    const testCode = await registerTestCode();
    const report = await runDialTest({ caller: caller(), rounds: 3, families: ['A', 'B', 'C', 'notify'], testCode });
    const table = JSON.stringify(report.cases, null, 1);
    expect(report.ok, table).toBe(true);
    expect(report.cases.map((c) => c.activity)).toEqual([
      'getLicense',
      'refreshLicense',
      'expireLicense',
      'releaseLicense',
      'refreshLicenseCode',
      'updateLicenseCodeStatus',
      'updateLicenseCodeStatus',
      'releaseLicenseCode',
      'newInstance',
      'refreshInstance',
      'updateInstanceStatus',
      'updateInstanceStatus',
      'getLicenseAsync',
      'releaseInstance',
      'orderNotify',
    ]);
    for (const c of report.cases)
      expect(c.codes, `${c.name}: ${c.codes.join(' ')}`).toEqual(['000000', '000000', '000000']);

    // One entitlement per family (the same instanceId every round), all marked as test data.
    const created = await server.db.all<{ family: string; test: number; status: string }>(
      'SELECT family, test, status FROM entitlements ORDER BY created_at LIMIT -1 OFFSET ?',
      [before],
    );
    expect(created.map((e) => e.family).sort()).toEqual(['A', 'B', 'C']);
    expect(created.every((e) => e.test === 1 && e.status === 'released')).toBe(true);
    // Each replayed release actually released: two revivals (rounds 2 and 3) per family.
    const revivals = (await server.db.first<{ n: number }>(
      `SELECT COUNT(*) AS n FROM audit_log WHERE action = 'entitlement.revived_for_dial_test'`,
    ))!.n;
    expect(revivals).toBeGreaterThanOrEqual(6);

    // Isolated: hidden from listings unless asked, nothing chargeable at the marketplace, no failed work.
    const list = async (q: string) => {
      const res = await fetch(`${server.url}/api/admin/v1/entitlements${q}`, {
        headers: { authorization: 'Bearer admin-test-token' },
      });
      return ((await res.json()) as { items: { id: string; test: boolean | number }[] }).items;
    };
    expect(await list('')).toEqual([]);
    expect((await list('?includeTest=true')).length).toBe(3);
    expect(sim.calls.filter((c) => /license\/(activate|software-usage-info)/.test(c.path))).toEqual([]);
    await server.licensor.ctx.outbox.drain();
    expect((await server.licensor.ctx.outbox.depth()).failed).toBe(0);
  }, 120_000);

  it('replays in any order: each family’s cases shuffled in every replay still answer as the first time', async () => {
    const testCode = await registerTestCode();
    const report = await runDialTest({
      caller: caller(),
      rounds: 4,
      families: ['A', 'B', 'C'],
      testCode,
      shuffle: true,
    });
    expect(report.ok, JSON.stringify(report.cases, null, 1)).toBe(true);
  }, 120_000);

  it('live traffic keeps its semantics: after a release a refresh is refused, also by a debug request', async () => {
    const c = caller();
    const orderId = ids.order();
    const orderLineId = ids.orderLine(orderId);
    sim.addOrder({ orderId, orderLineId, expireTime: compact(daysFromNow(365)) });
    const created = await c.call({ activity: 'newInstance', businessId: ids.business(), orderId, orderLineId }, [
      '000000',
      '000004',
    ]);
    const instanceId = String(created.body.instanceId);
    expect((await c.call({ activity: 'releaseInstance', instanceId })).pass).toBe(true);
    const renewal = ids.order();
    const refresh = {
      activity: 'refreshInstance',
      scene: 'RENEWAL',
      instanceId,
      orderId: renewal,
      orderLineId: ids.orderLine(renewal),
      expireTime: compact(daysFromNow(700)),
    };
    expect((await c.call({ ...refresh, testFlag: '0' }, ['000003'])).pass).toBe(true);
    // A debug request never revives live data.
    expect((await c.call({ ...refresh, testFlag: '1' }, ['000003'])).pass).toBe(true);
    expect((await c.call({ activity: 'updateInstanceStatus', instanceId, status: 'FREEZE' }, ['000003'])).pass).toBe(
      true,
    );

    const a = await c.call({
      activity: 'getLicense',
      businessId: ids.business(),
      customerId: ids.customer(),
      orderId: ids.order(),
      productId: 'OFFI000000000000000001',
      testFlag: '0',
    });
    const aId = String(a.body.instanceId);
    expect((await c.call({ activity: 'releaseLicense', orderId: ids.order(), instanceId: aId })).pass).toBe(true);
    const renewA = { activity: 'refreshLicense', instanceId: aId, expireTime: compact(daysFromNow(400)) };
    expect((await c.call({ ...renewA, orderId: ids.order() }, ['000003'])).pass).toBe(true);
    expect((await c.call({ ...renewA, orderId: ids.order(), testFlag: '1' }, ['000003'])).pass).toBe(true);
  }, 60_000);
});

describe('licensor simulate dial-test', () => {
  it('prints a go-live summary: READY when every case answers the same in every round', async () => {
    const lines: string[] = [];
    const exit = await runDialTestCommand(
      { url, key: 'KEY', accessKey: 'ACCESSKEY', rounds: '3', family: 'A,B,C,notify', adminToken: 'admin-test-token' },
      (l) => lines.push(l),
    );
    const out = lines.join('\n');
    expect(exit, out).toBe(0);
    expect(out).toMatch(
      /Dial test of http:\/\/127\.0\.0\.1:\d+\/api\/koogallery\/produce: 15 saved debug cases, replayed 3 times/,
    );
    expect(out).toMatch(/^C\s+releaseInstance \(释放实例\)\s+000000\s+000000\s+000000\s+ok$/m);
    expect(out).toMatch(/READY: every case answered the same in all 3 rounds/);
  }, 120_000);

  it('says NOT READY and names the failing cases when replays fail', async () => {
    const lines: string[] = [];
    const exit = await runDialTestCommand(
      { url, key: 'KEY', accessKey: 'WRONG-ACCESS-KEY', rounds: '2', family: 'A,notify' },
      (l) => lines.push(l),
    );
    const out = lines.join('\n');
    expect(exit).toBe(1);
    expect(out).toMatch(/^notify\s+orderNotify \(订单通知\)\s+000001\s+000001\s+FAILS$/m);
    expect(out).toMatch(/^A\s+getLicense .*\s+ok$/m);
    expect(out).toMatch(/NOT READY/);
    await expect(runDialTestCommand({ url, rounds: '1', family: 'A' }, () => undefined)).rejects.toThrow(
      /--rounds must be a whole number from 2 to 50/,
    );
    await expect(runDialTestCommand({ url, rounds: '2', family: 'A,D' }, () => undefined)).rejects.toThrow(
      /Unknown family D/,
    );
  }, 60_000);
});
