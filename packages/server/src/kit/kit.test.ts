import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyBodySign, xSign } from '@licensor/shared';
import { createTestApp, openMemoryTestDatabase, PRODUCE, signedPostUrl, type TestApp } from '@licensor/testkit/server';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../app';
import { testConfig } from '../config';
import type { Storage } from '../db/storage';
import { KeyStore } from '../keys/keystore';
import { createLogger } from '../logger';
import { showTenant } from './queries';
import { kitPath } from './router';
import type { KitInterface } from './schemas';
import { SecretBox } from './secretBox';
import { readClientSecret } from './secrets';

/*
 * Drives the real app (createApp + supertest). The marketplace side is written here from the spec's
 * formulas (Appendix A), independently of the server's verifiers: x-sign = HMAC(ak, ak+nonce+ts+body),
 * authToken = Base64(HMAC(Key+timeStamp, sorted k=v&…)), Body-Sign = Base64(HMAC(key, body)).
 */

const KIT_KEY = 'ACCESSKEY'; // testConfig: every access key, the Kit one included
const V1_KEY = 'KEY'; // testConfig: LICENSOR_KOO_KEY

const hmac = (key: string, data: string | Buffer) => createHmac('sha256', Buffer.from(key, 'utf8')).update(data);
const marketplaceXSign = (ak: string, nonce: string, ts: string, payload: string) =>
  hmac(ak, Buffer.concat([Buffer.from(ak + nonce + ts, 'utf8'), Buffer.from(payload, 'utf8')]))
    .digest('hex')
    .toUpperCase();
function marketplaceAuthToken(key: string, body: Record<string, unknown>): string {
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) {
    if (v === null || v === undefined) continue;
    const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
    if (s.trim() !== '') params[k] = s;
  }
  const joined = Object.keys(params)
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&');
  return hmac(key + String(body.timeStamp), joined).digest('base64');
}

let t: TestApp;
const app = () => t.licensor.app;
const db = () => t.db;
let seq = 0;
const uid = (p: string) => `${p}${Date.now().toString(36)}${(seq++).toString(36)}`;

/** GMT+8 yyyyMMddHHmmssSSS times in a fixed order: stamp(1) < stamp(2) < … */
const stamp = (n: number) => `20250601120000${String(n).padStart(3, '0')}`;

type Answer = { resultCode: string; resultMsg: string };

interface V2Opts {
  key?: string;
  answerKey?: string;
  nonce?: string;
  timestamp?: string;
  omit?: 'x-sign' | 'x-nonce' | 'x-timestamp';
  contentType?: string;
}

async function v2(name: KitInterface, body: Record<string, unknown> | string, o: V2Opts = {}): Promise<Answer> {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const ts = o.timestamp ?? String(Date.now());
  const nonce = o.nonce ?? uid('nonce-');
  const headers: Record<string, string> = {
    'x-sign': marketplaceXSign(o.key ?? KIT_KEY, nonce, ts, raw),
    'x-timestamp': ts,
    'x-nonce': nonce,
  };
  if (o.omit) delete headers[o.omit];
  const res = await request(app())
    .post(kitPath('v2', name))
    .set(headers)
    .set('Content-Type', o.contentType ?? 'application/json;charset=utf8')
    .send(raw);
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(verifyBodySign(o.answerKey ?? KIT_KEY, res.text, res.headers['body-sign'])).toBe(true);
  const answer = JSON.parse(res.text) as Answer;
  expect(Object.keys(answer)).toEqual(['resultCode', 'resultMsg']);
  return answer;
}

async function v1(
  name: KitInterface,
  body: Record<string, unknown>,
  o: { key?: string; token?: string | null; raw?: string } = {},
): Promise<Answer> {
  const req = request(app()).post(kitPath('v1', name)).set('Content-Type', 'application/json;charset=utf8');
  const token = o.token === undefined ? marketplaceAuthToken(o.key ?? V1_KEY, body) : o.token;
  if (token !== null) req.set('authToken', token);
  const res = await req.send(o.raw ?? JSON.stringify(body));
  expect(res.status).toBe(200);
  expect(verifyBodySign(V1_KEY, res.text, res.headers['body-sign'])).toBe(true);
  return JSON.parse(res.text) as Answer;
}

const count = async (table: string, where = '1 = 1', params: unknown[] = []) =>
  (await db().first<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`, params))!.n;
const snapshot = async (table: string) => JSON.stringify(await db().all(`SELECT * FROM ${table} ORDER BY 1, 2, 3`));

const OK = { resultCode: '000000', resultMsg: 'Success' };

function tenantBody(instanceId: string, tenantId: string, extra: Record<string, unknown> = {}) {
  return {
    instanceId,
    orderId: 'CS1906666666ABCDE',
    tenantId,
    tenantCode: 'huawei',
    name: 'huaiweitest',
    domainName: 'https://example.tenantaccount.com',
    flag: 1,
    testFlag: 0,
    timeStamp: stamp(1),
    ...extra,
  };
}

// One key store for the file (generating keys is the slow part of an app); one in-memory app per test.
let sharedDir: string;
let sharedKeys: KeyStore;
beforeAll(() => {
  sharedDir = mkdtempSync(join(tmpdir(), 'licensor-kit-test-'));
  sharedKeys = KeyStore.open(join(sharedDir, 'keys'), 'test-passphrase').store;
});
afterAll(() => rmSync(sharedDir, { recursive: true, force: true }));

/** A real app on an in-memory database (data folder ':memory:'); close/destroy like createTestApp's. */
async function memoryApp(overrides: Parameters<typeof testConfig>[0] = {}): Promise<TestApp> {
  const config = testConfig(overrides);
  const mdb = openMemoryTestDatabase();
  const licensor = await createApp({ config, db: mdb, log: createLogger('silent'), keys: sharedKeys });
  const close = async () => {
    await licensor.stop();
    await mdb.close();
  };
  return { licensor, db: mdb, keys: sharedKeys, config, dataDir: ':memory:', close, destroy: close };
}

beforeEach(async () => {
  t = await memoryApp();
});
afterEach(async () => {
  await t.destroy();
});

describe('x-sign signer (scheme B′) against spec vectors X-1 and X-2', () => {
  const key = 'TestAccessKey0123456789';
  const nonce = '50D83FDECAED6CCD8EF597F2A577950527928BA287D04E6036E92B2806FD17DA';
  const timestamp = '1680508066618';
  const X1 =
    '{"instanceId":"huaiweitest123456","orderId":"CS1906666666ABCDE","tenantId":"68cbc86abc2018ab880d92f36422fa0e","tenantCode":"huawei","name":"huaiweitest","domainName":"https://example.tenantaccount.com","flag":1,"testFlag":0,"timeStamp":"20220413093539534"}';
  const X2 =
    '{"instanceId":"huaiweitest123456","tenantId":"68cbc86abc2018ab880d92f36422fa0e","orgInfoList":[{"orgCode":"00000001","orgName":"产品部","parentCode":"265789314"},{"orgCode":"00000002","orgName":"测试部","parentCode":"265789314"}],"testFlag":0,"timeStamp":"20220413093539534"}';
  const X1_SIGN = '81C346F0AF7670F7DA256C36DEB3FDCE54A326A7362596F184AFC24AE22B06B1';
  const X2_SIGN = 'C18AC69F596B47FBDEA9D952636EDCD3DA65C02D7F18D3C207F411411FC85103';

  it('the test-side signer and the shared one both reproduce the vectors', () => {
    expect(marketplaceXSign(key, nonce, timestamp, X1)).toBe(X1_SIGN);
    expect(marketplaceXSign(key, nonce, timestamp, X2)).toBe(X2_SIGN);
    expect(xSign(key, nonce, timestamp, X1)).toBe(X1_SIGN);
    expect(xSign(key, nonce, timestamp, Buffer.from(X2, 'utf8'))).toBe(X2_SIGN);
  });

  describe('the server accepts the vector requests byte for byte (clock at the vector time)', () => {
    it('X-1 tenantSync and X-2 allOrgSync: 000000, Body-Sign with the Kit key, data stored', async () => {
      const vdb = openMemoryTestDatabase();
      const base = testConfig();
      const config = testConfig({ koo: { accessKeys: { ...base.koo.accessKeys, kit: key } } as never });
      const licensor = await createApp({
        config,
        db: vdb,
        log: createLogger('silent'),
        keys: sharedKeys,
        now: () => new Date(Number(timestamp)),
      });
      const send = (name: KitInterface, payload: string, sign: string, n = nonce) =>
        request(licensor.app)
          .post(kitPath('v2', name))
          .set({ 'Content-Type': 'application/json', 'x-sign': sign, 'x-timestamp': timestamp, 'x-nonce': n })
          .send(payload);
      const r1 = await send('tenantSync', X1, X1_SIGN);
      expect(r1.text).toBe('{"resultCode":"000000","resultMsg":"Success"}');
      expect(verifyBodySign(key, r1.text, r1.headers['body-sign'])).toBe(true);
      expect(verifyBodySign('ACCESSKEY', r1.text, r1.headers['body-sign'])).toBe(false);
      // The vectors share one nonce: the second request is a replay of it, exactly as the window demands.
      const replay = await send('allOrgSync', X2, X2_SIGN);
      expect(JSON.parse(replay.text)).toMatchObject({
        resultCode: '000001',
        resultMsg: expect.stringMatching(/replayed/),
      });
      expect(verifyBodySign(key, replay.text, replay.headers['body-sign'])).toBe(true);
      // The same bytes under a fresh nonce (signed by the spec formula) are accepted.
      const fresh = 'fresh-nonce-0001';
      const r2 = await send('allOrgSync', X2, marketplaceXSign(key, fresh, timestamp, X2), fresh);
      expect(JSON.parse(r2.text)).toEqual(OK);
      const d = (await showTenant(vdb, 'huaiweitest123456', '68cbc86abc2018ab880d92f36422fa0e'))!;
      expect(d.tenant).toMatchObject({ tenantCode: 'huawei', name: 'huaiweitest', orderId: 'CS1906666666ABCDE' });
      expect(d.orgTree.map((n) => [n.orgName, n.parentMissing])).toEqual([
        ['产品部', true],
        ['测试部', true],
      ]);
      await licensor.stop();
      await vdb.close();
    });
  });
});

describe('authentication', () => {
  const body = () => tenantBody(uid('inst-'), uid('ten-'));

  it('v2: wrong key, missing headers, stale or future x-timestamp → 000001, still signed with the Kit key', async () => {
    expect((await v2('tenantSync', body(), { key: 'WRONG' })).resultCode).toBe('000001');
    for (const omit of ['x-sign', 'x-nonce', 'x-timestamp'] as const) {
      const r = await v2('tenantSync', body(), { omit });
      expect(r.resultCode, omit).toBe('000001');
      expect(r.resultMsg).toMatch(/x-sign, x-timestamp and x-nonce/);
    }
    expect((await v2('tenantSync', body(), { timestamp: String(Date.now() - 61_000) })).resultMsg).toMatch(/60 s/);
    expect((await v2('tenantSync', body(), { timestamp: String(Date.now() + 61_000) })).resultCode).toBe('000001');
    expect((await v2('tenantSync', body(), { timestamp: String(Date.now() - 59_000) })).resultCode).toBe('000000');
    expect(await count('kit_tenants')).toBe(1);
  });

  it('v2: a replayed x-nonce inside the window → 000001 and nothing applied', async () => {
    const b = body();
    expect(await v2('tenantSync', b, { nonce: 'same-nonce' })).toEqual(OK);
    const del = { ...b, flag: 0, timeStamp: stamp(9) };
    const replay = await v2('tenantSync', del, { nonce: 'same-nonce' });
    expect(replay).toEqual({
      resultCode: '000001',
      resultMsg: 'Authentication failed: x-nonce already used (replayed request)',
    });
    expect(await count('kit_tenants')).toBe(1);
    expect(await v2('tenantSync', del, { nonce: 'other-nonce' })).toEqual(OK);
    expect(await count('kit_tenants')).toBe(0);
  });

  it('v2 verifies with the Kit access key only (each interface type has its own key)', async () => {
    await t.destroy();
    const base = testConfig();
    t = await memoryApp({ koo: { accessKeys: { ...base.koo.accessKeys, kit: 'KIT-ONLY' } } as never });
    expect((await v2('tenantSync', body(), { key: 'ACCESSKEY', answerKey: 'KIT-ONLY' })).resultCode).toBe('000001');
    expect((await v2('tenantSync', body(), { key: 'KIT-ONLY', answerKey: 'KIT-ONLY' })).resultCode).toBe('000000');
  });

  it('v1: authToken over the body with the Key; wrong key, tampering, missing token → 000001', async () => {
    const b = body();
    expect((await v1('tenantSync', b, { key: 'WRONG' })).resultCode).toBe('000001');
    expect((await v1('tenantSync', b, { token: null })).resultMsg).toMatch(/authToken header is required/);
    const tampered = marketplaceAuthToken(V1_KEY, { ...b, name: 'other' });
    expect((await v1('tenantSync', b, { token: tampered })).resultCode).toBe('000001');
    const { timeStamp: _t, ...noTime } = b;
    expect((await v1('tenantSync', noTime, { token: 'x' })).resultMsg).toMatch(/timeStamp is required/);
    expect(await count('kit_tenants')).toBe(0);
    expect(await v1('tenantSync', b)).toEqual(OK);
    // The examples print the header in quotes; the quotes are not part of the token.
    expect(await v1('tenantSync', b, { token: `"${marketplaceAuthToken(V1_KEY, b)}"` })).toEqual(OK);
    expect(await count('kit_tenants')).toBe(1);
  });

  it('answers 000001 without a Body-Sign when the interface has no key configured', async () => {
    await t.destroy();
    const base = testConfig();
    t = await memoryApp({ koo: { key: undefined, accessKeys: { ...base.koo.accessKeys, kit: undefined } } as never });
    for (const path of [kitPath('v2', 'tenantSync'), kitPath('v1', 'tenantSync')]) {
      const res = await request(app()).post(path).set('Content-Type', 'application/json').send(JSON.stringify(body()));
      expect(res.status).toBe(200);
      expect(res.headers['body-sign']).toBeUndefined();
      expect(JSON.parse(res.text)).toMatchObject({
        resultCode: '000001',
        resultMsg: expect.stringMatching(/not configured: set LICENSOR_KOO/),
      });
    }
  });
});

describe('tenantSync', () => {
  for (const version of ['v1', 'v2'] as const) {
    const call = (b: Record<string, unknown>) => (version === 'v2' ? v2('tenantSync', b) : v1('tenantSync', b));

    it(`${version}: a U+0000 in any field is a 000002 naming it, nothing applied, on both backends (PostgreSQL text cannot hold it)`, async () => {
      const inst = uid('inst-');
      expect(await call(tenantBody(inst, uid('ten-'), { name: 'a\u0000b' }))).toEqual({
        resultCode: '000002',
        resultMsg: 'Invalid parameter name: must not contain the character U+0000',
      });
      // An id (what the stores look up by): on PostgreSQL this was a 000005.
      expect(await call(tenantBody(`${inst}\u0000`, uid('ten-')))).toEqual({
        resultCode: '000002',
        resultMsg: 'Invalid parameter instanceId: must not contain the character U+0000',
      });
      expect(await count('kit_tenants')).toBe(0);
      // The refused calls are logged (the character replaced), and the text "\\u0000" is no U+0000.
      await t.licensor.ctx.messages.flush();
      expect(await count('marketplace_messages', 'entitlement_id = ?', [`${inst}\uFFFD`])).toBe(1);
      expect(await call(tenantBody(inst, uid('ten-'), { name: 'a\\u0000b' }))).toEqual(OK);
    });

    it(`${version}: add, duplicate add, modify (name and domain only), delete, duplicate delete`, async () => {
      const inst = uid('inst-');
      const ten = uid('ten-');
      expect(await call(tenantBody(inst, ten))).toEqual(OK);
      const first = await snapshot('kit_tenants');
      expect(await call(tenantBody(inst, ten, { timeStamp: stamp(2) }))).toEqual(OK);
      expect(await count('kit_tenants')).toBe(1);
      expect(JSON.parse(await snapshot('kit_tenants'))[0].updated_at).toBe(JSON.parse(first)[0].updated_at);
      expect(
        await call(
          tenantBody(inst, ten, {
            flag: 2,
            name: 'Renamed',
            tenantCode: 'ignored',
            domainName: 'https://new',
            timeStamp: stamp(3),
          }),
        ),
      ).toEqual(OK);
      expect((await showTenant(db(), inst, ten))!.tenant).toMatchObject({
        name: 'Renamed',
        domainName: 'https://new',
        tenantCode: 'huawei',
      });
      expect(await call(tenantBody(inst, ten, { flag: 0, timeStamp: stamp(4) }))).toEqual(OK);
      expect(await count('kit_tenants')).toBe(0);
      expect(await call(tenantBody(inst, ten, { flag: 0, timeStamp: stamp(5) }))).toEqual(OK);
      expect(await count('kit_tenants')).toBe(0);
    });
  }

  it('concurrent duplicate adds (one group commit) create one tenant and all succeed', async () => {
    const inst = uid('inst-');
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        i % 2 ? v2('tenantSync', tenantBody(inst, 'T')) : v1('tenantSync', tenantBody(inst, 'T')),
      ),
    );
    expect(answers).toEqual(Array(20).fill(OK));
    expect(await count('kit_tenants')).toBe(1);
    expect(await count('audit_log', "action = 'kit.tenantSync'")).toBe(1);
  });

  it('a delete needs neither the tenant nor the newInstance entitlement to exist', async () => {
    const inst = uid('never-created-');
    expect(await count('entitlements', 'id = ?', [inst])).toBe(0);
    expect(
      await v2('tenantSync', { instanceId: inst, tenantId: 'T', flag: 0, testFlag: 0, timeStamp: stamp(1) }),
    ).toEqual(OK);
    expect(
      await v1('tenantSync', { instanceId: inst, tenantId: 'T', flag: 0, testFlag: 0, timeStamp: stamp(1) }),
    ).toEqual(OK);
    expect(await count('kit_tenants')).toBe(0);
  });

  it('the seller credential application (empty instanceId and orderId) is stored under the empty instance', async () => {
    expect(await v2('tenantSync', tenantBody('', 'seller-tenant', { orderId: '' }))).toEqual(OK);
    expect((await showTenant(db(), '-', 'seller-tenant'))!.tenant).toMatchObject({
      tenantCode: 'huawei',
      orderId: null,
    });
  });

  it('deleting a tenant removes its apps, units and users (one transaction)', async () => {
    const inst = uid('inst-');
    await v2('tenantSync', tenantBody(inst, 'T'));
    await v2('applicationSync', {
      instanceId: inst,
      tenantId: 'T',
      appId: 'A',
      clientId: 'c',
      clientSecret: 's',
      flag: 1,
      testFlag: 0,
      timeStamp: stamp(1),
    });
    await v2('singleOrgSync', {
      instanceId: inst,
      tenantId: 'T',
      orgCode: 'O',
      orgName: 'Dept',
      flag: 1,
      testFlag: 0,
      timeStamp: stamp(1),
    });
    await v2('authSync', {
      instanceId: inst,
      tenantId: 'T',
      appId: 'A',
      userList: [{ userName: 'u', name: 'U', orgCode: 'O', role: 'user', enable: 'true' }],
      currentSyncTime: stamp(1),
      flag: 1,
      testFlag: 0,
      timeStamp: stamp(1),
    });
    await v2('tenantSync', tenantBody('other-inst', 'T'));
    expect(
      await v2('tenantSync', { instanceId: inst, tenantId: 'T', flag: 0, testFlag: 0, timeStamp: stamp(2) }),
    ).toEqual(OK);
    expect(await showTenant(db(), inst, 'T')).toBeNull();
    expect(await showTenant(db(), 'other-inst', 'T')).not.toBeNull();
    // A late add older than the delete cannot bring a child back.
    await v2('singleOrgSync', {
      instanceId: inst,
      tenantId: 'T',
      orgCode: 'O',
      orgName: 'Dept',
      flag: 1,
      testFlag: 0,
      timeStamp: stamp(1),
    });
    expect(await count('kit_org_units', 'instance_id = ?', [inst])).toBe(0);
  });
});

describe('applicationSync', () => {
  const body = (inst: string, extra: Record<string, unknown> = {}) => ({
    instanceId: inst,
    tenantId: 'T',
    appId: 'APP1',
    clientId: 'client-1',
    clientSecret: 'Base64RsaOaepCiphertext==',
    flag: 1,
    testFlag: 0,
    timeStamp: stamp(1),
    ...extra,
  });

  it('stores the client secret encrypted, never returns it, and keeps it unchanged on a duplicate add', async () => {
    const inst = uid('inst-');
    expect(await v2('applicationSync', body(inst))).toEqual(OK);
    const row = (await db().first<{ client_secret_enc: string; updated_at: string }>('SELECT * FROM kit_apps'))!;
    expect(row.client_secret_enc).toMatch(/^v1\./);
    expect(JSON.stringify(await db().all('SELECT * FROM kit_apps'))).not.toContain('Base64RsaOaep');
    expect(await readClientSecret(db(), t.config.dataDir, inst, 'T', 'APP1')).toBe('Base64RsaOaepCiphertext==');
    expect(await v1('applicationSync', body(inst, { timeStamp: stamp(2) }))).toEqual(OK);
    const again = (await db().first<{ client_secret_enc: string; updated_at: string }>('SELECT * FROM kit_apps'))!;
    // Same envelope, same updated_at: nothing re-sealed, nothing updated (only the newer source time noted).
    expect({ ...again, source_ts: null }).toEqual({ ...row, source_ts: null });
    expect(await count('kit_apps')).toBe(1);
    expect((await showTenant(db(), inst, 'T'))!.apps).toEqual([
      expect.objectContaining({ appId: 'APP1', clientId: 'client-1', hasClientSecret: true }),
    ]);
    expect(JSON.stringify(await showTenant(db(), inst, 'T'))).not.toContain('Base64RsaOaep');
  });

  it('modify changes the secret; delete and duplicate delete succeed; delete before anything exists succeeds', async () => {
    const inst = uid('inst-');
    expect(await v2('applicationSync', { ...body(inst), flag: 0 })).toEqual(OK);
    expect(await v2('applicationSync', body(inst, { timeStamp: stamp(2) }))).toEqual(OK);
    expect(
      await v2(
        'applicationSync',
        body(inst, { flag: 2, clientId: undefined, clientSecret: 'rotated', timeStamp: stamp(3) }),
      ),
    ).toEqual(OK);
    expect(await readClientSecret(db(), t.config.dataDir, inst, 'T', 'APP1')).toBe('rotated');
    expect(await db().first('SELECT client_id FROM kit_apps')).toEqual({ client_id: 'client-1' });
    expect(await v1('applicationSync', body(inst, { flag: 0, timeStamp: stamp(4) }))).toEqual(OK);
    expect(await v1('applicationSync', body(inst, { flag: 0, timeStamp: stamp(5) }))).toEqual(OK);
    expect(await count('kit_apps')).toBe(0);
  });

  it('the sealed secret survives a restart (key file in the data folder)', async () => {
    await t.destroy();
    t = await createTestApp();
    const inst = uid('inst-');
    await v2('applicationSync', body(inst));
    const dir = t.dataDir;
    await t.close();
    t = await createTestApp({}, dir);
    expect(await readClientSecret(t.db, dir, inst, 'T', 'APP1')).toBe('Base64RsaOaepCiphertext==');
    expect(SecretBox.load(dir).keyId).toBe(SecretBox.forDataDir(dir).keyId);
  });

  it('an add without clientSecret or clientId is malformed', async () => {
    const r = await v2('applicationSync', body(uid('i'), { clientSecret: undefined }));
    expect(r).toEqual({
      resultCode: '000002',
      resultMsg: 'Missing parameter: clientSecret (required when flag is 1 (add))',
    });
    expect((await v1('applicationSync', body(uid('i'), { clientId: '' }))).resultMsg).toMatch(/clientId/);
    expect(await count('kit_apps')).toBe(0);
  });
});

describe('authSync', () => {
  const user = (userName: string, extra: Record<string, unknown> = {}) => ({
    userName,
    name: `Name ${userName}`,
    position: '系统管理员',
    orgCode: 'ORG1',
    role: 'admin',
    enable: 'true',
    employeeCode: 'E1',
    employeeType: 1,
    mobile: '13800000000',
    email: `${userName}@example.com`,
    ...extra,
  });
  const body = (inst: string, userList: unknown, extra: Record<string, unknown> = {}) => ({
    instanceId: inst,
    tenantId: 'T',
    appId: 'APP1',
    userList,
    currentSyncTime: stamp(1),
    flag: 1,
    testFlag: 0,
    timeStamp: stamp(1),
    ...extra,
  });
  const authorized = async (inst: string, userName: string) =>
    (await db().first('SELECT 1 FROM kit_users WHERE instance_id = ? AND user_name = ? AND enabled = 1', [
      inst,
      userName,
    ])) !== undefined;

  it('a U+0000 inside a list sent as a JSON string is a 000002 naming it, nothing stored (v1 and v2)', async () => {
    for (const call of [v1, v2]) {
      const inst = uid('inst-');
      expect(await call('authSync', body(inst, JSON.stringify([user('ok01'), user('zh\u0000ang')])))).toEqual({
        resultCode: '000002',
        resultMsg: 'Invalid parameter userList.1.userName: must not contain the character U+0000',
      });
      expect(await count('kit_users', 'instance_id = ?', [inst])).toBe(0);
    }
  });

  it('v2 list: add, duplicate add, modify (disable), delete, cancel, duplicate delete', async () => {
    const inst = uid('inst-');
    expect(await v2('authSync', body(inst, [user('zhangsan01'), user('lisi02', { role: 'user' })]))).toEqual(OK);
    expect(await authorized(inst, 'zhangsan01')).toBe(true);
    const before = await snapshot('kit_users');
    expect(
      await v2(
        'authSync',
        body(inst, [user('zhangsan01'), user('lisi02', { role: 'user' })], { currentSyncTime: stamp(2) }),
      ),
    ).toEqual(OK);
    expect(JSON.parse(await snapshot('kit_users')).map((r: { updated_at: string }) => r.updated_at)).toEqual(
      JSON.parse(before).map((r: { updated_at: string }) => r.updated_at),
    );
    expect(
      await v2(
        'authSync',
        body(inst, [{ userName: 'zhangsan01', enable: false }], { flag: 2, currentSyncTime: stamp(3) }),
      ),
    ).toEqual(OK);
    expect(await authorized(inst, 'zhangsan01')).toBe(false);
    const kept = (await db().first<Record<string, unknown>>('SELECT * FROM kit_users WHERE user_name = ?', [
      'zhangsan01',
    ]))!;
    expect(kept).toMatchObject({ role: 'admin', email: 'zhangsan01@example.com', name: 'Name zhangsan01', enabled: 0 });
    expect(
      await v2('authSync', body(inst, [{ userName: 'zhangsan01' }], { flag: 0, currentSyncTime: stamp(4) })),
    ).toEqual(OK);
    expect(await v2('authSync', body(inst, [{ userName: 'lisi02' }], { flag: 3, currentSyncTime: stamp(4) }))).toEqual(
      OK,
    );
    expect(await v2('authSync', body(inst, [{ userName: 'lisi02' }], { flag: 0, currentSyncTime: stamp(5) }))).toEqual(
      OK,
    );
    expect(await count('kit_users')).toBe(0);
  });

  it('v1: userList as the documented JSON string, with extension fields', async () => {
    const inst = uid('inst-');
    // The documented v1 value, escaped quotes and all.
    const userList =
      '[{"userName":"zhangsan01","name":"张三","position":"系统管理员","orgCode":"123456789","role":"admin","enable":"true","employeeCode":"","mobile":"","email":"","extension":{"entryDate":"2022-11-9","employeeType":"4","workPlace":"南京"}},{"userName":"lisi02","name":"李四","position":"运营经理","orgCode":"123456789","role":"user","enable":"true","extension":{"entryDate":"2022-11-16","employeeType":"4","workPlace":"南京"}}]';
    expect(await v1('authSync', body(inst, userList))).toEqual(OK);
    const users = (await showTenant(db(), inst, 'T'))!.users;
    expect(
      users.map((u) => [u.userName, u.role, u.enabled, u.workPlace, u.employeeType, u.entryDate, u.mobile]),
    ).toEqual([
      ['lisi02', 'user', true, '南京', '4', '2022-11-16', null],
      ['zhangsan01', 'admin', true, '南京', '4', '2022-11-9', null],
    ]);
    // Duplicate add through v1 with the same users: nothing new.
    expect(await v1('authSync', body(inst, userList, { timeStamp: stamp(2) }))).toEqual(OK);
    expect(await count('kit_users')).toBe(2);
    // A string list with unquoted keys is read too.
    expect(
      await v1('authSync', body(inst, '[{userName:"wangwu", name:"王五", orgCode:"1", role:"user", enable:"false"}]')),
    ).toEqual(OK);
    expect(await authorized(inst, 'wangwu')).toBe(false);
  });

  it('delete and cancel need no user, tenant or instance to exist', async () => {
    const inst = uid('nothing-');
    expect(await v2('authSync', body(inst, [{ userName: 'ghost' }], { flag: 0 }))).toEqual(OK);
    expect(await v1('authSync', body(inst, [{ userName: 'ghost' }], { flag: 3 }))).toEqual(OK);
    expect(await count('kit_users')).toBe(0);
  });

  it('malformed user lists → 000002 naming the field, nothing applied', async () => {
    const inst = uid('inst-');
    const cases: [unknown, RegExp][] = [
      [
        [user('a'), user('b', { enable: 'maybe' })],
        /^Invalid parameter userList\[1\]\.enable: expected true or false$/,
      ],
      [[{ name: 'no user name' }], /^Missing parameter: userList\[0\]\.userName$/],
      [[user('a', { userName: 'x'.repeat(65) })], /userList\[0\]\.userName: at most 64 characters/],
      [[user('a', { email: { not: 'text' } })], /userList\[0\]\.email: expected a string/],
      ['not a list', /^Invalid parameter userList: a string that is not a readable JSON list/],
      [{ userName: 'object, not list' }, /^Invalid parameter userList: expected a list of users/],
      [Array.from({ length: 501 }, (_, i) => user(`u${i}`)), /at most 500 users per call/],
      [['just a string'], /userList\[0\]: expected a user object/],
    ];
    for (const [list, message] of cases) {
      const r = await v2('authSync', body(inst, list));
      expect(r.resultCode, String(message)).toBe('000002');
      expect(r.resultMsg).toMatch(message);
    }
    expect((await v2('authSync', { ...body(inst, [user('a')]), userList: undefined })).resultMsg).toBe(
      'Missing parameter: userList',
    );
    expect((await v2('authSync', body(inst, [user('a')], { flag: 4 }))).resultMsg).toBe(
      'Invalid parameter flag: must be 0 (delete), 1 (add), 2 (modify), 3 (cancel)',
    );
    expect((await v2('authSync', body(inst, [user('a')], { appId: '' }))).resultMsg).toBe(
      'Invalid parameter appId: must not be empty',
    );
    expect(await count('kit_users')).toBe(0);
  });

  it('500 users in one call are applied in one transaction', async () => {
    const inst = uid('inst-');
    const users = Array.from({ length: 500 }, (_, i) => user(`user${i}`));
    const started = performance.now();
    expect(await v2('authSync', body(inst, users))).toEqual(OK);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(await count('kit_users', 'instance_id = ? AND enabled = 1', [inst])).toBe(500);
  });
});

describe('singleOrgSync (incremental)', () => {
  const org = (inst: string, orgCode: string, extra: Record<string, unknown> = {}) => ({
    instanceId: inst,
    tenantId: 'T',
    orgCode,
    orgName: `Dept ${orgCode}`,
    parentCode: '',
    flag: 1,
    testFlag: 0,
    timeStamp: stamp(1),
    ...extra,
  });
  const tree = async (inst: string) => (await showTenant(db(), inst, 'T'))?.orgTree ?? [];
  const shape = (nodes: Awaited<ReturnType<typeof tree>>): unknown =>
    nodes.map((n) => (n.children.length ? { [n.orgCode]: shape(n.children) } : n.orgCode));

  for (const version of ['v1', 'v2'] as const) {
    const call = (b: Record<string, unknown>) => (version === 'v2' ? v2('singleOrgSync', b) : v1('singleOrgSync', b));
    it(`${version}: add, duplicate add, modify (rename and move), delete, duplicate delete`, async () => {
      const inst = uid('inst-');
      expect(await call(org(inst, 'A'))).toEqual(OK);
      expect(await call(org(inst, 'B', { parentCode: 'A' }))).toEqual(OK);
      expect(await call(org(inst, 'B', { parentCode: 'A', timeStamp: stamp(2) }))).toEqual(OK);
      expect(await count('kit_org_units')).toBe(2);
      expect(shape(await tree(inst))).toEqual([{ A: ['B'] }]);
      expect(await call(org(inst, 'B', { flag: 2, orgName: 'Renamed', parentCode: '', timeStamp: stamp(3) }))).toEqual(
        OK,
      );
      expect(shape(await tree(inst))).toEqual(['A', 'B']);
      expect((await tree(inst)).find((n) => n.orgCode === 'B')!.orgName).toBe('Renamed');
      expect(await call(org(inst, 'B', { flag: 0, orgName: undefined, timeStamp: stamp(4) }))).toEqual(OK);
      expect(await call(org(inst, 'B', { flag: 0, orgName: undefined, timeStamp: stamp(5) }))).toEqual(OK);
      expect(shape(await tree(inst))).toEqual(['A']);
    });
  }

  it('a child arriving before its parent is stored with the parent code as given and nests once the parent comes', async () => {
    const inst = uid('inst-');
    expect(await v2('singleOrgSync', org(inst, 'CHILD', { parentCode: 'PARENT' }))).toEqual(OK);
    expect(await tree(inst)).toEqual([
      expect.objectContaining({ orgCode: 'CHILD', parentCode: 'PARENT', parentMissing: true }),
    ]);
    expect(await v2('singleOrgSync', org(inst, 'PARENT'))).toEqual(OK);
    expect(shape(await tree(inst))).toEqual([{ PARENT: ['CHILD'] }]);
    expect((await tree(inst))[0]!.parentMissing).toBeUndefined();
  });

  it('a modify before its add creates the unit, and the late (older) add does not roll it back', async () => {
    const inst = uid('inst-');
    expect(await v2('singleOrgSync', org(inst, 'X', { flag: 2, orgName: 'New name', timeStamp: stamp(5) }))).toEqual(
      OK,
    );
    expect(await v2('singleOrgSync', org(inst, 'X', { flag: 1, orgName: 'Old name', timeStamp: stamp(4) }))).toEqual(
      OK,
    );
    expect((await tree(inst)).map((n) => n.orgName)).toEqual(['New name']);
  });

  it('a late add older than a delete does not resurrect the unit; a newer add does', async () => {
    const inst = uid('inst-');
    expect(await v1('singleOrgSync', org(inst, 'X', { flag: 0, orgName: undefined, timeStamp: stamp(5) }))).toEqual(OK);
    expect(await v1('singleOrgSync', org(inst, 'X', { timeStamp: stamp(4) }))).toEqual(OK);
    expect(await count('kit_org_units')).toBe(0);
    expect(await v1('singleOrgSync', org(inst, 'X', { timeStamp: stamp(6) }))).toEqual(OK);
    expect(await count('kit_org_units')).toBe(1);
    // And a delete older than the add it overtook is ignored.
    expect(await v1('singleOrgSync', org(inst, 'X', { flag: 0, orgName: undefined, timeStamp: stamp(5) }))).toEqual(OK);
    expect(await count('kit_org_units')).toBe(1);
  });

  it('without a usable timeStamp, changes apply in arrival order', async () => {
    const inst = uid('inst-');
    await v2('singleOrgSync', org(inst, 'X', { timeStamp: 'yesterday' }));
    await v2('singleOrgSync', org(inst, 'X', { flag: 0, timeStamp: undefined }));
    await v2('singleOrgSync', org(inst, 'X', { orgName: 'Back', timeStamp: undefined }));
    expect((await tree(inst)).map((n) => n.orgName)).toEqual(['Back']);
  });

  it('tolerates OrgName / name for orgName; refuses a missing name, a self-parent and a bad flag', async () => {
    const inst = uid('inst-');
    const { orgName: _o, ...noName } = org(inst, 'P');
    expect(await v2('singleOrgSync', { ...noName, OrgName: 'Via OrgName' })).toEqual(OK);
    expect(await v1('singleOrgSync', { ...noName, orgCode: 'Q', name: 'Via name' })).toEqual(OK);
    expect((await tree(inst)).map((n) => n.orgName)).toEqual(['Via name', 'Via OrgName']);
    expect(await v2('singleOrgSync', noName)).toEqual({
      resultCode: '000002',
      resultMsg: 'Missing parameter: orgName (required when flag is 1 (add))',
    });
    expect((await v2('singleOrgSync', org(inst, 'S', { parentCode: 'S' }))).resultMsg).toBe(
      'Invalid parameter parentCode: a unit cannot be its own parent',
    );
    expect((await v2('singleOrgSync', org(inst, 'S', { flag: '9' }))).resultMsg).toMatch(
      /^Invalid parameter flag: must be 0 \(delete\)/,
    );
    expect((await v2('singleOrgSync', org(inst, '', {}))).resultMsg).toBe(
      'Invalid parameter orgCode: must not be empty',
    );
    expect((await v2('singleOrgSync', { ...org(inst, 'S'), tenantId: undefined })).resultMsg).toBe(
      'Missing parameter: tenantId',
    );
    expect(await count('kit_org_units')).toBe(2);
  });
});

describe('allOrgSync (full)', () => {
  const units = (...items: [string, string, string?][]) =>
    items.map(([orgCode, orgName, parentCode]) => ({ orgCode, orgName, parentCode: parentCode ?? '' }));
  const full = (inst: string, list: unknown, extra: Record<string, unknown> = {}) => ({
    instanceId: inst,
    tenantId: 'T',
    orgInfoList: list,
    testFlag: 0,
    timeStamp: stamp(10),
    ...extra,
  });
  const codes = async (inst: string) =>
    (
      await db().all<{ org_code: string; parent_code: string | null }>(
        'SELECT org_code, parent_code FROM kit_org_units WHERE instance_id = ? ORDER BY org_code',
        [inst],
      )
    ).map((r) => `${r.org_code}<${r.parent_code ?? ''}`);

  it('replaces the tree (removing units not listed) and a repeat changes nothing', async () => {
    const inst = uid('inst-');
    expect(
      await v2('allOrgSync', full(inst, units(['ROOT', '总部'], ['A', '产品部', 'ROOT'], ['B', '测试部', 'ROOT']))),
    ).toEqual(OK);
    expect(await codes(inst)).toEqual(['A<ROOT', 'B<ROOT', 'ROOT<']);
    const audits = await count('audit_log', "action = 'kit.allOrgSync'");
    expect(
      await v2(
        'allOrgSync',
        full(inst, units(['ROOT', '总部'], ['A', '产品部', 'ROOT'], ['C', '研发部', 'A']), { timeStamp: stamp(11) }),
      ),
    ).toEqual(OK);
    expect(await codes(inst)).toEqual(['A<ROOT', 'C<A', 'ROOT<']);
    const before = await snapshot('kit_org_units');
    const auditsAfter = await count('audit_log', "action = 'kit.allOrgSync'");
    expect(auditsAfter).toBe(audits + 1);
    expect(
      await v2(
        'allOrgSync',
        full(inst, units(['ROOT', '总部'], ['A', '产品部', 'ROOT'], ['C', '研发部', 'A']), { timeStamp: stamp(11) }),
      ),
    ).toEqual(OK);
    expect(await snapshot('kit_org_units')).toBe(before);
    expect(await count('audit_log', "action = 'kit.allOrgSync'")).toBe(auditsAfter); // nothing changed, nothing audited
  });

  it('is atomic: a failure mid-way leaves the previous tree intact and answers 000005', async () => {
    const inst = uid('inst-');
    await v2('allOrgSync', full(inst, units(['A', 'a'], ['B', 'b'])));
    const before = await snapshot('kit_org_units');
    // The request's writes go through its group-commit handle: fail the third org-unit write there.
    const batched = t.db.batched;
    let writes = 0;
    const failing = (tx: Storage): Storage => ({
      dialect: tx.dialect,
      all: (sql, params) => tx.all(sql, params),
      first: (sql, params) => tx.first(sql, params),
      run: async (sql, params) => {
        if (/kit_org_units/.test(sql) && ++writes === 3) throw new Error('disk I/O error');
        return tx.run(sql, params);
      },
      transaction: (fn, o) => tx.transaction((inner) => fn(failing(inner)), o),
      batched: (fn, o) => tx.batched((inner) => fn(failing(inner)), o),
      lockRow: (table, keyColumn, key) => tx.lockRow(table, keyColumn, key),
    });
    t.db.batched = (fn, o) => batched((tx) => fn(failing(tx)), o);
    try {
      const r = await v2('allOrgSync', full(inst, units(['C', 'c'], ['D', 'd'], ['E', 'e']), { timeStamp: stamp(11) }));
      expect(r).toEqual({ resultCode: '000005', resultMsg: 'Internal error; nothing was applied, please retry' });
      expect(writes).toBeGreaterThanOrEqual(3);
    } finally {
      t.db.batched = batched;
    }
    expect(await snapshot('kit_org_units')).toBe(before);
  });

  it('tolerates the documented variants: list as a string with unquoted keys, OrgName, v1 orgInfo with name, flag', async () => {
    const inst = uid('inst-');
    // Byte-for-byte the shape of the v2 example: a JSON string, keys unquoted inside, plus "flag":1.
    const raw = `{"instanceId": "${inst}","tenantId": "T","orgInfoList": "[{orgCode:\\"00000001\\", orgName:\\"产品部\\", parentCode:\\"265789314\\" },{orgCode:\\"00000002\\", orgName:\\"测试部\\", parentCode:\\"265789314\\" }]","flag":1,"testFlag": 0,"timeStamp": "20220413093539534"}`;
    expect(await v2('allOrgSync', raw)).toEqual(OK);
    expect(await codes(inst)).toEqual(['00000001<265789314', '00000002<265789314']);
    expect(await v2('allOrgSync', full(inst, [{ orgCode: 'X', OrgName: 'Older rendering', parentCode: '' }]))).toEqual(
      OK,
    );
    expect(await codes(inst)).toEqual(['X<']);
    const v1Body = {
      instanceId: inst,
      tenantId: 'T',
      orgInfo:
        '[{orgCode:"00000001", name:"产品部", parentCode:"265789314" },{orgCode:"00000002", name:"测试部", parentCode:"265789314"}]',
      testFlag: 0,
      timeStamp: stamp(20),
    };
    expect(await v1('allOrgSync', v1Body)).toEqual(OK);
    expect((await showTenant(db(), inst, 'T'))!.orgTree.map((n) => n.orgName)).toEqual(['产品部', '测试部']);
    expect(await v1('allOrgSync', { ...v1Body, orgInfo: '[]', timeStamp: stamp(21) })).toEqual(OK);
    expect(await codes(inst)).toEqual([]);
  });

  it('keeps a unit changed after the snapshot time, and ignores listed units deleted after it', async () => {
    const inst = uid('inst-');
    const single = (orgCode: string, flag: number, ts: number) =>
      v2('singleOrgSync', {
        instanceId: inst,
        tenantId: 'T',
        orgCode,
        orgName: orgCode,
        flag,
        testFlag: 0,
        timeStamp: stamp(ts),
      });
    await single('NEWER', 1, 30); // created after the snapshot below was taken
    await single('GONE', 0, 30); // deleted after the snapshot
    expect(
      await v2('allOrgSync', full(inst, units(['OLD', 'old'], ['GONE', 'gone']), { timeStamp: stamp(20) })),
    ).toEqual(OK);
    expect(await codes(inst)).toEqual(['NEWER<', 'OLD<']);
  });

  it('refuses malformed lists with 000002 naming the field and changes nothing', async () => {
    const inst = uid('inst-');
    await v2('allOrgSync', full(inst, units(['A', 'a'])));
    const before = await snapshot('kit_org_units');
    const cases: [unknown, string][] = [
      [[{ orgCode: 'B' }], 'Missing parameter: orgInfoList[0].orgName'],
      [[{ orgName: 'no code' }], 'Missing parameter: orgInfoList[0].orgCode'],
      [
        units(['A', 'a'], ['A', 'different']),
        'Invalid parameter orgInfoList[1].orgCode: A appears twice with different data',
      ],
      [units(['A', 'a', 'A']), 'Invalid parameter orgInfoList[0].parentCode: a unit cannot be its own parent'],
      [
        '[{orgCode: 00000001}]',
        'Invalid parameter orgInfoList: a string that is not a readable JSON list (Invalid number: leading zeros are not allowed (quote codes such as "00000001") at position 11)',
      ],
      [
        42,
        'Invalid parameter orgInfoList: expected a list of organisation units (an array, or a JSON string holding one)',
      ],
      [undefined, 'Missing parameter: orgInfoList'],
    ];
    for (const [list, message] of cases) {
      expect(await v2('allOrgSync', full(inst, list, { timeStamp: stamp(50) })), message).toEqual({
        resultCode: '000002',
        resultMsg: message,
      });
    }
    // Identical duplicates are harmless and accepted.
    expect(await v2('allOrgSync', full(inst, units(['A', 'a'], ['A', 'a'])))).toEqual(OK);
    expect(await snapshot('kit_org_units')).toBe(before);
  });
});

describe('transport', () => {
  it('refuses unreadable bodies with a signed 000002 (v2 after authentication, v1 before)', async () => {
    expect(await v2('tenantSync', 'not json')).toEqual({
      resultCode: '000002',
      resultMsg: 'Request body is not valid JSON (Unexpected character "n" at position 0)',
    });
    expect((await v2('tenantSync', '[1,2]')).resultMsg).toBe('Request body must be a JSON object');
    expect((await v2('tenantSync', '')).resultMsg).toBe('Request body is empty; expected a JSON object');
    expect((await v1('tenantSync', {}, { raw: '{"broken": ', token: 'x' })).resultCode).toBe('000002');
    expect((await v2('tenantSync', 'not json', { key: 'WRONG' })).resultCode).toBe('000001');
  });

  it('accepts the printed v1 example body (duplicate instanceId, trailing comma) and any content type', async () => {
    const raw =
      '{ "instanceId": "hua********23456", "instanceId": "hua********23456", "tenantId": "68cbc********0d92f36422fa0e", "orgCode": "10000", "orgName": "开发部", "parentCode": "", "flag": 1, "testFlag": 0, "timeStamp": "20220413093539534" , }';
    const parsed = {
      instanceId: 'hua********23456',
      tenantId: '68cbc********0d92f36422fa0e',
      orgCode: '10000',
      orgName: '开发部',
      parentCode: '',
      flag: 1,
      testFlag: 0,
      timeStamp: '20220413093539534',
    };
    expect(await v1('singleOrgSync', parsed, { raw })).toEqual(OK);
    expect(await v2('singleOrgSync', { ...parsed, orgCode: '10001' }, { contentType: 'text/plain' })).toEqual(OK);
    expect(await count('kit_org_units')).toBe(2);
  });

  it('answers other methods and oversized bodies with a signed 000002', async () => {
    const res = await request(app()).get(kitPath('v2', 'allOrgSync'));
    expect(res.status).toBe(200);
    expect(verifyBodySign(KIT_KEY, res.text, res.headers['body-sign'])).toBe(true);
    expect(JSON.parse(res.text).resultMsg).toMatch(/Method GET not supported/);
    const big = await request(app())
      .post(kitPath('v1', 'allOrgSync'))
      .set('Content-Type', 'application/json')
      .send(`{"x":"${'a'.repeat(1024 * 1024 + 10)}"}`);
    expect(big.status).toBe(200);
    expect(verifyBodySign(V1_KEY, big.text, big.headers['body-sign'])).toBe(true);
    expect(JSON.parse(big.text)).toEqual({ resultCode: '000002', resultMsg: 'Request body larger than 1048576 bytes' });
  });

  it('records every call in the marketplace message log, and audits only real changes', async () => {
    const inst = uid('inst-');
    await v2('tenantSync', tenantBody(inst, 'T', { testFlag: 1 }));
    await v2('tenantSync', tenantBody(inst, 'T', { testFlag: 1 }));
    await v1('tenantSync', tenantBody(inst, 'T'), { key: 'WRONG' });
    await v2('authSync', {
      instanceId: inst,
      tenantId: 'T',
      appId: 'A',
      userList: [],
      flag: 1,
      testFlag: 0,
      timeStamp: stamp(1),
    });
    await t.licensor.ctx.messages.flush();
    const rows = await db().all<Record<string, unknown>>(
      'SELECT activity, path, entitlement_id, order_id, result_code, http_status, error, test FROM marketplace_messages ORDER BY id',
    );
    expect(rows).toEqual([
      expect.objectContaining({
        activity: 'kit.tenantSync',
        path: `${PRODUCE}/produceAPI/v2/tenantSync`,
        entitlement_id: inst,
        order_id: 'CS1906666666ABCDE',
        result_code: '000000',
        http_status: 200,
        error: null,
        test: 1,
      }),
      expect.objectContaining({ activity: 'kit.tenantSync', result_code: '000000' }),
      expect.objectContaining({
        activity: 'kit.tenantSync',
        path: `${PRODUCE}/produceAPI/tenantSync`,
        result_code: '000001',
        error: expect.stringMatching(/authToken does not match/),
        test: 0,
      }),
      expect.objectContaining({ activity: 'kit.authSync', result_code: '000000' }),
    ]);
    expect(await db().all('SELECT actor, action, entitlement_id FROM audit_log')).toEqual([
      { actor: 'marketplace:kit.tenantSync', action: 'kit.tenantSync', entitlement_id: inst },
    ]);
  });

  it('leaves the License production interface (POST/GET /api/koogallery/produce) to its own router', async () => {
    const raw = JSON.stringify({
      activity: 'updateInstanceStatus',
      instanceId: 'missing',
      status: 'FREEZE',
      testFlag: '1',
    });
    const res = await request(app())
      .post(signedPostUrl(raw))
      .set('Content-Type', 'application/json;charset=utf8')
      .send(raw);
    expect(res.status).toBe(200);
    expect(verifyBodySign('ACCESSKEY', res.text, res.headers['body-sign'])).toBe(true);
    expect(JSON.parse(res.text).resultCode).toBe('000003');
    const unknown = await request(app()).post(`${PRODUCE}/produceAPI/v3/tenantSync`).send('{}');
    expect(unknown.status).toBe(404);
  });
});
