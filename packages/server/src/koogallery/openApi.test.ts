import { LicensorError } from '@licensor/shared';
import { MarketplaceSimulator } from '@licensor/simulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../config';
import { OpenApiClient } from './openApi';

const sim = new MarketplaceSimulator('AK', 'SK');
let url = '';
beforeAll(async () => {
  url = await sim.listen();
});
afterAll(() => sim.close());

const client = (over: Partial<ReturnType<typeof testConfig>['koo']> = {}) =>
  new OpenApiClient({ ...testConfig().koo, apiBase: url, apiFallback: undefined, timeoutMs: 500, ...over });

describe('OpenApiClient', () => {
  it('activates, queries, reports usage and queries orders with valid AK/SK signatures', async () => {
    const code = sim.addCode({ amount: 3 }).code;
    const a = await client().activateCode(code);
    expect(a.errorCode).toBe('92020000');
    expect(a.data).toMatchObject({ status: 'ALIVE', amount: 3 });
    expect((await client().activateCode(code)).errorCode).toBe('92020003');
    expect((await client().queryCode(code)).data).toMatchObject({ license_code: code, status: 'ALIVE' });
    expect((await client().queryCodes([code])).data?.license_list?.[0]?.license_code).toBe(code);
    expect((await client().reportUsage([{ license: code, software_usage_Info: [{ active_num: 2 }] }])).errorCode).toBe(
      '92020000',
    );
    expect((await client().queryOrder('MOCKPERIODYEARNEW')).orderLine?.[0]?.chargingMode).toBe('PERIOD');
    expect(sim.calls.every((c) => c.authOk)).toBe(true);
  });

  it('turns bad credentials into a permanent rejection and 5xx into a retryable error', async () => {
    const bad = client({ sk: 'WRONG' });
    await expect(bad.queryOrder('MOCKONETIMENEW')).rejects.toMatchObject({ code: 'MARKETPLACE_REJECTED' });
    sim.faults = { failNext: 1 };
    const err = await client()
      .queryOrder('MOCKONETIMENEW')
      .catch((e: LicensorError) => e);
    expect(err).toBeInstanceOf(LicensorError);
    expect((err as LicensorError).retryable).toBe(true);
    await expect(client().queryOrder('NO-SUCH-ORDER')).rejects.toMatchObject({ code: 'MARKETPLACE_REJECTED' });
  });

  it('falls back to the second host when the first cannot be reached', async () => {
    const c = client({ apiBase: 'http://127.0.0.1:65533', apiFallback: url });
    expect((await c.queryOrder('MOCKONETIMENEW')).orderId).toBe('MOCKONETIMENEW');
    await expect(client({ apiBase: 'http://127.0.0.1:65533' }).queryOrder('X')).rejects.toMatchObject({
      code: 'MARKETPLACE_UNAVAILABLE',
      // Why, for the operator (message log, outbox): undici's own message says only "fetch failed".
      message: 'Marketplace unreachable: fetch failed (ECONNREFUSED)',
    });
  });

  it('uploads a License file the marketplace accepts (multipart, sha256)', async () => {
    await client().uploadLicenseFile('evt-1', 'a.lic', 'LICENSE BYTES');
    expect(sim.uploadsFor('evt-1')[0]).toMatchObject({ type: 'FILE', fileName: 'a.lic', content: 'LICENSE BYTES' });
  });

  it('gives up on a call the marketplace holds open after its timeout, as a retryable failure', async () => {
    sim.faults = { hold: { next: 1, pathIncludes: '/market-event/evt-held/' } };
    const before = sim.calls.length;
    const started = Date.now();
    const err = await client({ timeoutMs: 300 })
      .uploadLicenseFile('evt-held', 'a.lic', 'LICENSE BYTES')
      .catch((e: LicensorError) => e);
    expect(err).toBeInstanceOf(LicensorError);
    expect((err as LicensorError).retryable).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    // Held, never answered, never stored; the client's abort closed the connection.
    expect(sim.held.map((h) => h.path)).toEqual(['/api/mkp-openapi-public/global/v1/market-event/evt-held/file']);
    await expect.poll(() => sim.held[0]?.closedAt).toBeDefined();
    expect(sim.calls.length).toBe(before);
    expect(sim.uploadsFor('evt-held')).toEqual([]);
    // Only the next matching call is held: the retry goes through.
    await client().uploadLicenseFile('evt-held', 'a.lic', 'LICENSE BYTES');
    expect(sim.uploadsFor('evt-held')).toHaveLength(1);
    expect(sim.held).toHaveLength(1);
    sim.faults = {};
  });
});
