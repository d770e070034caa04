import { createTestApp, type TestApp, testDatabaseEnv } from '@licensor/testkit/server';
import { Command } from 'commander';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAdminToken } from '../admin/auth';
import { type KitRunner, registerKitCommands } from '../cli/commands/kit';
import type { CliIo } from '../cli/output';
import { Session } from '../cli/session';
import { buildOrgTree, isKitUserAuthorized } from './queries';
import { type KitInterface, parseKitRequest } from './schemas';
import { SecretBox } from './secretBox';
import {
  applyAllOrgSync,
  applyApplicationSync,
  applyAuthSync,
  applySingleOrgSync,
  applyTenantSync,
  KitWriter,
} from './store';

let t: TestApp;
const ADMIN = { Authorization: 'Bearer admin-test-token' };
const SECRET = 'very-secret-client-secret';

/** Applies a Kit request the way the router does (validated, one transaction), without HTTP. */
async function sync(kind: KitInterface, body: Record<string, unknown>) {
  const r = parseKitRequest(kind, { testFlag: 0, timeStamp: '20250601120000000', ...body });
  if ('error' in r) throw new Error(r.error);
  await t.db.transaction(async (tx) => {
    const w = new KitWriter(tx, new Date());
    if (r.kind === 'tenantSync') await applyTenantSync(w, r.data, r.ts);
    if (r.kind === 'applicationSync')
      await applyApplicationSync(w, () => SecretBox.forDataDir(t.config.dataDir), r.data, r.ts);
    if (r.kind === 'authSync') await applyAuthSync(w, r.data, r.ts);
    if (r.kind === 'singleOrgSync') await applySingleOrgSync(w, r.data, r.ts);
    if (r.kind === 'allOrgSync') await applyAllOrgSync(w, tx, r.data, r.ts);
  });
}

async function seed() {
  await sync('tenantSync', {
    instanceId: 'INST-1',
    tenantId: 'T1',
    tenantCode: 'acme',
    name: 'Acme 有限公司',
    domainName: 'https://acme.example',
    orderId: 'CS1',
    flag: 1,
  });
  await sync('applicationSync', {
    instanceId: 'INST-1',
    tenantId: 'T1',
    appId: 'APP',
    clientId: 'cid',
    clientSecret: SECRET,
    flag: 1,
  });
  await sync('allOrgSync', {
    instanceId: 'INST-1',
    tenantId: 'T1',
    orgInfoList: [
      { orgCode: 'HQ', orgName: '总部', parentCode: '' },
      { orgCode: 'RD', orgName: '研发部', parentCode: 'HQ' },
      { orgCode: 'QA', orgName: '测试部', parentCode: 'RD' },
      { orgCode: 'LOST', orgName: 'Orphan', parentCode: 'GONE' },
    ],
  });
  await sync('authSync', {
    instanceId: 'INST-1',
    tenantId: 'T1',
    appId: 'APP',
    flag: 1,
    userList: [
      { userName: 'alice', name: 'Alice', orgCode: 'RD', role: 'admin', enable: 'true', email: 'alice@acme.example' },
      { userName: 'bob', name: 'Bob', orgCode: 'QA', role: 'user', enable: 'false' },
    ],
  });
  // Users synced for a tenant whose tenantSync never arrived.
  await sync('authSync', {
    instanceId: 'INST-2',
    tenantId: 'T2',
    appId: 'APP',
    flag: 1,
    userList: [{ userName: 'carol', enable: true }],
  });
  // Debug traffic and the seller's own credential application (empty instance id).
  await sync('tenantSync', {
    instanceId: '',
    tenantId: 'SELLER',
    tenantCode: 'seller',
    name: 'Seller test',
    flag: 1,
    testFlag: 1,
  });
}

beforeEach(async () => {
  t = await createTestApp();
  await seed();
});
afterEach(async () => {
  await t.destroy();
});

describe('admin API', () => {
  const app = () => t.licensor.app;

  it('requires an admin token', async () => {
    const res = await request(app()).get('/api/admin/v1/kit/tenants');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('UNAUTHORIZED');
  });

  it('lists tenants with counts, hides debug data unless asked, and shows tenants known only from their data', async () => {
    const res = await request(app()).get('/api/admin/v1/kit/tenants').set(ADMIN);
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(2);
    const byTenant = Object.fromEntries(res.body.items.map((i: { tenantId: string }) => [i.tenantId, i]));
    expect(byTenant.T1).toMatchObject({
      instanceId: 'INST-1',
      tenantSynced: true,
      tenantCode: 'acme',
      name: 'Acme 有限公司',
      apps: 1,
      orgUnits: 4,
      users: 2,
      enabledUsers: 1,
      test: false,
    });
    expect(byTenant.T2).toMatchObject({
      instanceId: 'INST-2',
      tenantSynced: false,
      name: null,
      users: 1,
      enabledUsers: 1,
    });
    const all = await request(app()).get('/api/admin/v1/kit/tenants?includeTest=true').set(ADMIN);
    expect(all.body.total).toBe(3);
    const seller = await request(app()).get('/api/admin/v1/kit/tenants?includeTest=true&instanceId=-').set(ADMIN);
    expect(seller.body.items.map((i: { tenantId: string }) => i.tenantId)).toEqual(['SELLER']);
    const search = await request(app())
      .get(`/api/admin/v1/kit/tenants?q=${encodeURIComponent('有限')}`)
      .set(ADMIN);
    expect(search.body.items.map((i: { tenantId: string }) => i.tenantId)).toEqual(['T1']);
  });

  it('pages with limit and cursor, and rejects bad filters with the field named', async () => {
    const first = await request(app()).get('/api/admin/v1/kit/tenants?limit=1&includeTest=1').set(ADMIN);
    expect(first.body.items).toHaveLength(1);
    const seen = [first.body.items[0].tenantId];
    let cursor = first.body.nextCursor as string | null;
    while (cursor) {
      const next = await request(app())
        .get(`/api/admin/v1/kit/tenants?limit=1&includeTest=1&cursor=${cursor}`)
        .set(ADMIN);
      seen.push(...next.body.items.map((i: { tenantId: string }) => i.tenantId));
      cursor = next.body.nextCursor;
    }
    expect(seen.sort()).toEqual(['SELLER', 'T1', 'T2']);
    const bad = await request(app()).get('/api/admin/v1/kit/tenants?limit=0&colour=red').set(ADMIN);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('INVALID_INPUT');
    expect(bad.body.error.message).toMatch(/limit/);
  });

  it('shows one tenant: apps without the secret, the org tree, users, and the entitlement when present', async () => {
    const now = new Date().toISOString();
    await t.db.run(
      `INSERT INTO entitlements (id, family, status, seats, created_at, updated_at) VALUES ('INST-1', 'C', 'active', 5, ?, ?)`,
      [now, now],
    );
    const res = await request(app()).get('/api/admin/v1/kit/tenants/INST-1/T1').set(ADMIN);
    expect(res.status).toBe(200);
    expect(res.text).not.toContain(SECRET);
    expect(res.text).not.toContain('client_secret');
    expect(res.body.entitlement).toEqual({ id: 'INST-1', family: 'C', status: 'active', expiresAt: null });
    expect(res.body.apps).toEqual([expect.objectContaining({ appId: 'APP', clientId: 'cid', hasClientSecret: true })]);
    expect(res.body.orgUnits).toBe(4);
    expect(res.body.orgTree).toEqual([
      expect.objectContaining({ orgCode: 'LOST', parentMissing: true, children: [] }),
      expect.objectContaining({
        orgCode: 'HQ',
        children: [
          expect.objectContaining({
            orgCode: 'RD',
            users: 1,
            children: [expect.objectContaining({ orgCode: 'QA', users: 1 })],
          }),
        ],
      }),
    ]);
    expect(res.body.users.map((u: { userName: string; enabled: boolean }) => [u.userName, u.enabled])).toEqual([
      ['alice', true],
      ['bob', false],
    ]);
    const seller = await request(app()).get('/api/admin/v1/kit/tenants/-/SELLER').set(ADMIN);
    expect(seller.body).toMatchObject({
      instanceId: '',
      tenant: { tenantCode: 'seller', test: true },
      entitlement: null,
    });
    const implicit = await request(app()).get('/api/admin/v1/kit/tenants/INST-2/T2').set(ADMIN);
    expect(implicit.body).toMatchObject({ tenant: null, users: [expect.objectContaining({ userName: 'carol' })] });
  });

  it('answers 404 for a tenant with nothing synced, and works with a read-scope token', async () => {
    const { token } = await createAdminToken(t.db, 'viewer', 'read');
    const res = await request(app())
      .get('/api/admin/v1/kit/tenants/INST-1/NOPE')
      .set({ Authorization: `Bearer ${token}` });
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/GET \/kit\/tenants/) });
  });
});

describe('CLI (licensor kit …)', () => {
  async function cli(args: string[]): Promise<{ out: string; err: string; failed: unknown }> {
    let out = '';
    let err = '';
    const io: CliIo = {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
      env: { LICENSOR_DATA_DIR: t.dataDir, LICENSOR_LOG_LEVEL: 'silent', ...testDatabaseEnv(t.dataDir) },
    };
    const program = new Command('licensor').option('--json').exitOverride();
    const run: KitRunner =
      (fn) =>
      async (...a) => {
        const cmd = a[a.length - 1] as Command;
        const session = new Session(io, { json: Boolean(cmd.optsWithGlobals().json) });
        try {
          await (fn as (s: Session, ...rest: unknown[]) => unknown)(session, ...a.slice(0, -1));
        } finally {
          await session.close();
        }
      };
    registerKitCommands(program, run);
    let failed: unknown;
    try {
      await program.parseAsync(args, { from: 'user' });
    } catch (e) {
      failed = e;
    }
    return { out, err, failed };
  }

  it('lists tenants as a table and as JSON', async () => {
    const table = await cli(['kit', 'tenants']);
    expect(table.failed).toBeUndefined();
    expect(table.out).toMatch(/^INSTANCE\s+TENANT\s+CODE\s+NAME/);
    expect(table.out).toContain('Acme 有限公司');
    expect(table.out).toContain('(tenantSync not received)');
    expect(table.out).toMatch(/2 of 2\n$/);
    const json = JSON.parse((await cli(['--json', 'kit', 'tenants', '--include-test', '--instance', '-'])).out);
    expect(json.items.map((i: { tenantId: string }) => i.tenantId)).toEqual(['SELLER']);
  });

  it('shows a tenant with its tree, never the secret; unknown tenants are NOT_FOUND', async () => {
    const { out } = await cli(['kit', 'tenant', 'INST-1', 'T1']);
    expect(out).not.toContain(SECRET);
    expect(out).toContain('stored (encrypted)');
    expect(out).toContain('└─ 总部 (HQ)');
    expect(out).toContain('   └─ 研发部 (RD) · 1 user');
    expect(out).toContain('Orphan (LOST) [parent GONE not synced]');
    expect(out).toMatch(/Users \(2, 1 enabled\)/);
    const missing = await cli(['kit', 'tenant', 'INST-1', 'NOPE']);
    expect(missing.failed).toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('named-user licensing check', () => {
  it('is true only for synced, enabled users of that instance (the SQL the licensing engineer runs)', async () => {
    expect(await isKitUserAuthorized(t.db, 'INST-1', 'alice')).toBe(true);
    expect(await isKitUserAuthorized(t.db, 'INST-1', 'bob')).toBe(false); // enable=false
    expect(await isKitUserAuthorized(t.db, 'INST-2', 'alice')).toBe(false); // other instance
    expect(await isKitUserAuthorized(t.db, 'INST-1', 'nobody')).toBe(false);
    const query = 'SELECT 1 FROM kit_users WHERE instance_id = ? AND user_name = ? AND enabled = 1';
    if (t.db.dialect === 'sqlite') {
      const plan = (await t.db.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${query}`, ['INST-1', 'alice']))
        .map((r) => r.detail)
        .join(' ');
      expect(plan).toMatch(/USING (COVERING )?INDEX kit_users_by_name/);
    } else {
      // A table of three rows is read whole whatever its indexes: with sequential scans priced out, the plan
      // shows whether the index can answer the query at all.
      const plan = await t.db.transaction(async (tx) => {
        await tx.run('SET LOCAL enable_seqscan = off');
        return (await tx.all<{ 'QUERY PLAN': string }>(`EXPLAIN ${query}`, ['INST-1', 'alice']))
          .map((r) => r['QUERY PLAN'])
          .join(' ');
      });
      expect(plan).toMatch(/Index (Only )?Scan using kit_users_by_name/);
    }
  });
});

describe('buildOrgTree', () => {
  it('cuts parent loops (possible through out-of-order moves) instead of losing or repeating units', () => {
    const tree = buildOrgTree([
      { org_code: 'A', org_name: 'a', parent_code: 'B' },
      { org_code: 'B', org_name: 'b', parent_code: 'A' },
      { org_code: 'C', org_name: 'c', parent_code: 'A' },
      { org_code: 'S', org_name: 's', parent_code: 'S' },
      { org_code: 'TOP', org_name: 'top', parent_code: null },
    ]);
    const flat = (nodes: typeof tree): string[] => nodes.flatMap((n) => [n.orgCode, ...flat(n.children)]);
    expect(flat(tree).sort()).toEqual(['A', 'B', 'C', 'S', 'TOP']);
    expect(tree.filter((n) => n.cycle).map((n) => n.orgCode)).toEqual(['A', 'S']);
    expect(JSON.stringify(tree)).toBeTruthy(); // no circular structure left
  });
});
