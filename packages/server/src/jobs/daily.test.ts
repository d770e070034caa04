import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seedEntitlement } from '@licensor/testkit/licensing';
import { openTestDatabase, type TestDatabase } from '@licensor/testkit/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp, type LicensorApp } from '../app';
import { testConfig } from '../config';
import type { Queryable } from '../db/storage';
import { KeyStore } from '../keys/keystore';
import { formatCompactTime } from '../koogallery/time';
import { findEntitlementByCode } from '../licensing/entitlements';
import { createLogger } from '../logger';
import { DAILY_PLAN, DAILY_QUERY, DAILY_USAGE, dueDays, planDueDays, registerDailyJobs, startScheduler } from './daily';

const NOW = new Date('2025-06-10T03:00:00.000Z');
const DAY = '2025-06-09';

interface Call {
  path: string;
  body: Record<string, unknown>;
}

type Reply = (call: Call) => { status?: number; json: Record<string, unknown> };

/** A fake marketplace behind `fetch`: records every call and answers with `reply`. */
function fakeFetch(reply: Reply) {
  const calls: Call[] = [];
  const fetchImpl = (async (url: URL | string, init?: RequestInit) => {
    const path = new URL(String(url)).pathname.replace('/api/mkp-openapi-public/global', '');
    const body = JSON.parse(Buffer.from(init!.body as Uint8Array).toString('utf8')) as Record<string, unknown>;
    const call = { path, body };
    calls.push(call);
    const r = reply(call);
    return new Response(JSON.stringify(r.json), {
      status: r.status ?? 200,
      headers: { 'content-type': 'application/json' },
    });
  }) as typeof fetch;
  return { fetchImpl, calls };
}

/** The marketplace's view of codes: status and expiry per code (unknown codes are "not exist"). */
const market = new Map<string, { status: string; expire_time: string }>();
const okReply: Reply = ({ path, body }) => {
  if (path === '/v2/license/heartbeat') {
    const list = body.license_list as string[];
    if (list.some((c) => !market.has(c)))
      return { json: { error_code: '92020020', error_msg: 'Invalid license code exists.' } };
    return {
      json: {
        error_code: '92020000',
        error_msg: 'success',
        data: {
          license_list: list.map((c) => ({
            license_code: c,
            ...market.get(c),
            activate_time: '20250101000000',
            extra_field: 1,
          })),
        },
      },
    };
  }
  if (path === '/v1/license/heartbeat') {
    const c = body.license as string;
    if (!market.has(c)) return { json: { error_code: '92020005', error_msg: 'license code notexist' } };
    return { json: { error_code: '92020000', error_msg: 'success', data: { license_code: c, ...market.get(c) } } };
  }
  if (path === '/v2/license/software-usage-info') {
    return { json: { error_code: '92020000', error_msg: 'success', data: { check_fail_license_list: [] } } };
  }
  return { status: 404, json: { error_code: 'APIGW.0101' } };
};

let dir: string;
let db: TestDatabase;
let keys: KeyStore;
/** A debug-level logger whose lines (parsed) the test reads. */
function capturedLog() {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  return { lines, log: createLogger('debug', { write: (line: string) => lines.push(JSON.parse(line)) }) };
}

const apps: LicensorApp[] = [];

async function app(fetchImpl: typeof fetch, now: () => Date = () => NOW) {
  const licensor = await createApp({
    config: testConfig({ dataDir: dir }),
    db,
    log: createLogger('silent'),
    keys,
    now,
    fetch: fetchImpl,
    outbox: { backoffMs: () => 0, now: () => now().getTime() },
  });
  registerDailyJobs(licensor.ctx);
  apps.push(licensor);
  return licensor;
}

/** Runs the outbox until nothing is due (each batch is one item). */
async function drain(licensor: LicensorApp) {
  for (let i = 0; i < 20 && (await licensor.ctx.outbox.drain()) > 0; i++);
}

async function useCode(code: string, devices: number, day = DAY, on: Queryable = db) {
  for (let d = 0; d < devices; d++)
    await on.run('INSERT INTO code_usage (code, day, device) VALUES (?, ?, ?)', [code, day, `act-${code}-${d}`]);
}

/** Finished jobs (not their batches) of a day, as `day job`. */
const runs = async (day = DAY) =>
  (
    await db.all<{ day: string; job: string }>(
      `SELECT day, job FROM daily_runs WHERE day = ? AND job NOT LIKE '%#%' ORDER BY job`,
      [day],
    )
  ).map((r) => `${r.day} ${r.job}`);

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'licensor-daily-'));
  db = await openTestDatabase(join(dir, 'licensor.db'));
  keys = KeyStore.open(join(dir, 'keys'), 'test-passphrase').store;
  market.clear();
});
afterEach(async () => {
  for (const a of apps.splice(0)) await a.stop();
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('daily marketplace duties', () => {
  it('queries and reports every code used that day in batches of at most 100, and reflects the answers', async () => {
    const codes: string[] = [];
    await db.transaction(async (tx) => {
      for (let i = 0; i < 250; i++) {
        const code = `PL${String(i).padStart(6, '0')}`;
        await seedEntitlement(tx, { family: 'B', code, expiresAt: '2025-07-01T00:00:00.000Z' });
        await useCode(code, (i % 3) + 1, DAY, tx);
        market.set(code, { status: 'ALIVE', expire_time: '20250701000000' });
        codes.push(code);
      }
      await seedEntitlement(tx, { family: 'B', code: 'PLRELEASED', status: 'released' });
      await useCode('PLRELEASED', 1, DAY, tx);
      await seedEntitlement(tx, { family: 'B', code: 'PLTEST', expiresAt: '2025-07-01T00:00:00.000Z' });
      await tx.run(`UPDATE entitlements SET test = 1 WHERE id = 'PLTEST'`);
      await useCode('PLTEST', 2, DAY, tx);
      market.set('PLTEST', { status: 'ALIVE', expire_time: '20250701000000' });
      await seedEntitlement(tx, { family: 'B', code: 'PLOTHERDAY' });
      await useCode('PLOTHERDAY', 1, '2025-06-01', tx); // outside the catch-up window
    });
    market.set('PL000000', { status: 'EXPIRED', expire_time: '20250601000000' });
    market.set('PL000001', { status: 'RELEASED', expire_time: '20250701000000' });
    market.set('PL000002', { status: 'ALIVE', expire_time: '20260701000000' }); // renewed

    const { fetchImpl, calls } = fakeFetch(okReply);
    const licensor = await app(fetchImpl);
    const planned = await planDueDays(licensor.ctx);
    expect(planned).toHaveLength(7); // the catch-up window; only the last day had usage
    expect(planned.at(-1)).toEqual({ day: DAY, planned: true, codes: 251, queryBatches: 3, usageBatches: 3 });
    await drain(licensor);

    const queries = calls.filter((c) => c.path === '/v2/license/heartbeat').map((c) => c.body.license_list as string[]);
    expect(queries.map((q) => q.length)).toEqual([100, 100, 51]);
    expect(queries.flat().sort()).toEqual([...codes, 'PLTEST'].sort());

    const usage = calls
      .filter((c) => c.path === '/v2/license/software-usage-info')
      .map((c) => c.body.usage_info as unknown[]);
    expect(usage.map((u) => u.length)).toEqual([100, 100, 50]);
    const entries = usage.flat() as { license: string; software_usage_Info: { active_num: number }[] }[];
    expect(entries.map((e) => e.license).sort()).toEqual(codes); // no test, no released code
    expect(entries.find((e) => e.license === 'PL000005')!.software_usage_Info).toEqual([{ active_num: 3 }]);
    expect(
      entries.every(
        (e) => e.software_usage_Info.length === 1 && Object.keys(e.software_usage_Info[0]!).join() === 'active_num',
      ),
    ).toBe(true);

    expect(await findEntitlementByCode(db, 'PL000000')).toMatchObject({
      status: 'expired',
      expires_at: '2025-06-01T00:00:00.000Z',
    });
    expect((await findEntitlementByCode(db, 'PL000001'))!.status).toBe('released');
    expect(await findEntitlementByCode(db, 'PL000002')).toMatchObject({
      status: 'active',
      expires_at: '2026-07-01T00:00:00.000Z',
    });
    expect((await findEntitlementByCode(db, 'PL000003'))!.updated_at).toBe(
      (await findEntitlementByCode(db, 'PL000003'))!.created_at,
    );
    const audit = await db.all<{ actor: string; entitlement_id: string }>(
      `SELECT actor, entitlement_id FROM audit_log ORDER BY entitlement_id`,
    );
    expect(audit).toEqual([
      { actor: 'system:daily', entitlement_id: 'PL000000' },
      { actor: 'system:daily', entitlement_id: 'PL000001' },
      { actor: 'system:daily', entitlement_id: 'PL000002' },
    ]);
    // The three batches of each job ran concurrently; the last to finish marked its job finished.
    expect(await runs()).toEqual([`${DAY} ${DAILY_PLAN}`, `${DAY} ${DAILY_QUERY}`, `${DAY} ${DAILY_USAGE}`]);
    expect(
      (await db.first<{ detail: string }>(`SELECT detail FROM daily_runs WHERE day = ? AND job = 'daily.query#0'`, [
        DAY,
      ]))!.detail,
    ).toBe(JSON.stringify({ codes: 100, changed: 3, skipped: 0 }));
    // Days in the window without usage are planned (and finished) too, so they are never scanned again.
    expect((await db.first<{ n: number }>(`SELECT COUNT(*) AS n FROM daily_runs WHERE job = ?`, [DAILY_PLAN]))!.n).toBe(
      7,
    );
  });

  it('does not repeat a planned day, not even after a restart', async () => {
    await seedEntitlement(db, { family: 'B', code: 'PLONE' });
    await useCode('PLONE', 1);
    market.set('PLONE', { status: 'ALIVE', expire_time: '20250701000000' });
    const first = fakeFetch(okReply);
    const a = await app(first.fetchImpl);
    expect(await planDueDays(a.ctx)).toHaveLength(7);
    await drain(a);
    expect(first.calls).toHaveLength(2);
    expect(await planDueDays(a.ctx)).toEqual([]);
    await a.stop();

    const second = fakeFetch(okReply);
    const b = await app(second.fetchImpl);
    expect(await planDueDays(b.ctx)).toEqual([]);
    await drain(b);
    expect(second.calls).toHaveLength(0);

    // The next day is planned once it is over.
    await useCode('PLONE', 1, '2025-06-10');
    const c = await app(second.fetchImpl, () => new Date('2025-06-11T00:06:00.000Z'));
    expect((await planDueDays(c.ctx)).map((r) => r.day)).toEqual(['2025-06-10']);
    await drain(c);
    expect(second.calls.map((x) => x.path)).toEqual(['/v2/license/heartbeat', '/v2/license/software-usage-info']);
  });

  it('logs the catch-up of a first start as one line with the count and range of days (each day at debug)', async () => {
    await seedEntitlement(db, { family: 'B', code: 'PLONE' });
    await useCode('PLONE', 1);
    const a = await app(fakeFetch(okReply).fetchImpl);
    const { lines, log } = capturedLog();
    expect(await planDueDays({ ...a.ctx, log })).toHaveLength(7);
    const info = lines.filter((l) => l.level >= 30);
    expect(info).toEqual([
      expect.objectContaining({
        msg: 'daily runs planned: 7 days, 2025-06-03 to 2025-06-09',
        count: 7,
        from: '2025-06-03',
        to: '2025-06-09',
        days: dueDays(NOW),
        codes: 1,
      }),
    ]);
    expect(lines.filter((l) => l.msg === 'daily run planned').map((l) => [l.level, l.day])).toEqual(
      dueDays(NOW).map((day) => [20, day]),
    );

    // The next tick plans one day, and says so in the singular.
    lines.length = 0;
    const later = () => new Date('2025-06-11T00:06:00.000Z');
    expect(await planDueDays({ ...a.ctx, now: later, log })).toHaveLength(1);
    expect(lines.filter((l) => l.level >= 30).map((l) => l.msg)).toEqual(['daily runs planned: 1 day, 2025-06-10']);
  });

  it('says the days it planned at info level also when a later day fails', async () => {
    await seedEntitlement(db, { family: 'B', code: 'PLONE' });
    await useCode('PLONE', 1);
    const a = await app(fakeFetch(okReply).fetchImpl);
    const { lines, log } = capturedLog();
    const [, , third] = dueDays(NOW);
    // The storage fails when the third day is looked up (a lost connection, say).
    const failing = new Proxy(a.ctx.db, {
      get: (target, key, receiver) =>
        key === 'first'
          ? (sql: string, params?: unknown[]) => {
              if (params?.[0] === third) return Promise.reject(new Error('connection lost'));
              return target.first(sql, params as never);
            }
          : Reflect.get(target, key, receiver),
    });
    await expect(planDueDays({ ...a.ctx, db: failing, log })).rejects.toThrow('connection lost');
    expect(lines.filter((l) => l.level >= 30)).toEqual([
      expect.objectContaining({ msg: 'daily runs planned: 2 days, 2025-06-03 to 2025-06-04', count: 2 }),
    ]);
  });

  it('retries a failed batch through the outbox and finishes the day only when it went through', async () => {
    await seedEntitlement(db, { family: 'B', code: 'PLONE' });
    await useCode('PLONE', 2);
    market.set('PLONE', { status: 'ALIVE', expire_time: '20250701000000' });
    let usageFailures = 2;
    const { fetchImpl, calls } = fakeFetch((call) => {
      if (call.path === '/v2/license/software-usage-info' && usageFailures-- > 0) {
        return { status: 500, json: { error_code: '92020001', error_msg: 'internal error' } };
      }
      return okReply(call);
    });
    const licensor = await app(fetchImpl);
    await planDueDays(licensor.ctx);
    await licensor.ctx.outbox.drain();
    expect(await runs()).not.toContain(`${DAY} ${DAILY_USAGE}`);
    const item = (await db.first<{ status: string; attempts: number; last_error: string }>(
      `SELECT * FROM outbox WHERE kind = ?`,
      [DAILY_USAGE],
    ))!;
    expect(item).toMatchObject({ status: 'pending', attempts: 1 });
    expect(item.last_error).toContain('HTTP 500');
    await drain(licensor);
    expect(calls.filter((c) => c.path === '/v2/license/software-usage-info')).toHaveLength(3);
    expect(await runs()).toContain(`${DAY} ${DAILY_USAGE}`);
    // Every attempt is in the marketplace message log.
    await licensor.ctx.messages.flush();
    expect(
      (await db.first<{ n: number }>(
        `SELECT COUNT(*) AS n FROM marketplace_messages WHERE activity = 'license.usage'`,
      ))!.n,
    ).toBe(3);
  });

  it('falls back to one query per code when one code sinks the batch, and skips the unknown one', async () => {
    for (const code of ['PLA', 'PLB', 'PLGONE']) {
      await seedEntitlement(db, { family: 'B', code, expiresAt: '2025-07-01T00:00:00.000Z' });
      await useCode(code, 1);
    }
    market.set('PLA', { status: 'EXPIRED', expire_time: '20250601000000' });
    market.set('PLB', { status: 'ALIVE', expire_time: '20250801000000' });
    const { fetchImpl, calls } = fakeFetch(okReply);
    const licensor = await app(fetchImpl);
    await planDueDays(licensor.ctx);
    await drain(licensor);
    expect(
      calls
        .filter((c) => c.path === '/v1/license/heartbeat')
        .map((c) => c.body.license)
        .sort(),
    ).toEqual(['PLA', 'PLB', 'PLGONE']);
    expect((await findEntitlementByCode(db, 'PLA'))!.status).toBe('expired');
    expect((await findEntitlementByCode(db, 'PLB'))!.expires_at).toBe('2025-08-01T00:00:00.000Z');
    expect((await findEntitlementByCode(db, 'PLGONE'))!.status).toBe('active');
    expect(await runs()).toContain(`${DAY} ${DAILY_QUERY}`);
  });

  it('gives up on a rejected request (visible as a failed outbox item an operator can retry)', async () => {
    await seedEntitlement(db, { family: 'B', code: 'PLONE' });
    await useCode('PLONE', 1);
    let reject = true;
    const { fetchImpl } = fakeFetch((call) =>
      call.path === '/v2/license/heartbeat' && reject
        ? { json: { error_code: '92020002', error_msg: 'invalid param' } }
        : okReply(call),
    );
    market.set('PLONE', { status: 'ALIVE', expire_time: formatCompactTime(new Date('2025-09-01T00:00:00Z')) });
    const licensor = await app(fetchImpl);
    await planDueDays(licensor.ctx);
    await drain(licensor);
    const item = (await db.first<{ id: number; status: string; last_error: string }>(
      `SELECT * FROM outbox WHERE kind = ?`,
      [DAILY_QUERY],
    ))!;
    expect(item.status).toBe('failed');
    expect(item.last_error).toContain('92020002');
    expect(await runs()).not.toContain(`${DAY} ${DAILY_QUERY}`);
    reject = false;
    expect(await licensor.ctx.outbox.retry(item.id)).toBe(true);
    await drain(licensor);
    expect(await runs()).toContain(`${DAY} ${DAILY_QUERY}`);
    expect((await findEntitlementByCode(db, 'PLONE'))!.expires_at).toBe('2025-09-01T00:00:00.000Z');
  });

  it('keeps merchant holds but follows the marketplace expiry', async () => {
    await seedEntitlement(db, { family: 'B', code: 'PLSUS', status: 'suspended' });
    await seedEntitlement(db, { family: 'B', code: 'PLFROZEN', status: 'frozen' });
    await useCode('PLSUS', 1);
    await useCode('PLFROZEN', 1);
    market.set('PLSUS', { status: 'EXPIRED', expire_time: '20250501000000' });
    market.set('PLFROZEN', { status: 'ALIVE', expire_time: '20260101000000' });
    const licensor = await app(fakeFetch(okReply).fetchImpl);
    await planDueDays(licensor.ctx);
    await drain(licensor);
    expect(await findEntitlementByCode(db, 'PLSUS')).toMatchObject({
      status: 'suspended',
      expires_at: '2025-05-01T00:00:00.000Z',
    });
    expect((await findEntitlementByCode(db, 'PLFROZEN'))!.status).toBe('active');
  });
});

describe('scheduler', () => {
  it('plans due days at start and stops cleanly', async () => {
    await seedEntitlement(db, { family: 'B', code: 'PLONE' });
    await useCode('PLONE', 1);
    market.set('PLONE', { status: 'ALIVE', expire_time: '20250701000000' });
    const { fetchImpl, calls } = fakeFetch(okReply);
    const licensor = await app(fetchImpl);
    const stop = await startScheduler(licensor.ctx, { intervalMs: 60_000 });
    expect(await runs()).toContain(`${DAY} ${DAILY_PLAN}`);
    await drain(licensor);
    expect(calls).toHaveLength(2);
    stop();
  });

  it('waits a few minutes after midnight before a day counts as over', () => {
    expect(dueDays(new Date('2025-06-10T00:03:00Z'), 2)).toEqual(['2025-06-07', '2025-06-08']);
    expect(dueDays(new Date('2025-06-10T00:06:00Z'), 2)).toEqual(['2025-06-08', '2025-06-09']);
  });
});
