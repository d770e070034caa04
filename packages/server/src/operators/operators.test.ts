import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seedEntitlement } from '@licensor/testkit/licensing';
import { createTestApp, seedOperator, type TestApp, testDatabaseEnv } from '@licensor/testkit/server';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../cli/index';
import { addOperator, PASSWORD_HASH_COST } from './store';

const PASSWORD = 'correct horse battery';
const ADMIN_TOKEN = 'bootstrap-token-123';
let t: TestApp;
let now: Date;

beforeEach(async () => {
  now = new Date('2026-12-01T10:00:00Z');
  t = await createTestApp({ adminToken: ADMIN_TOKEN, adminAuthFailures: 1000 });
});
afterEach(async () => {
  await t.destroy();
});

/** The same app on the same database with a clock the test controls: timeouts and lock-outs without waiting. */
async function withClock() {
  const { createApp } = await import('../app');
  const { createLogger } = await import('../logger');
  return (await createApp({ config: t.config, db: t.db, log: createLogger('silent'), keys: t.keys, now: () => now }))
    .app;
}

async function login(app: Parameters<typeof request>[0], name: string, password = PASSWORD) {
  const res = await request(app).post('/api/console/v1/login').send({ name, password });
  const cookie = res.headers['set-cookie']?.[0]?.split(';')[0] ?? '';
  return { res, cookie, csrf: res.body.csrfToken as string };
}

describe('console sessions', () => {
  it('logs in with an HttpOnly SameSite=Strict cookie, acts as operator:<name> with the CSRF token, refuses without it', async () => {
    const app = await withClock();
    await seedOperator(t.db, { name: 'olga', role: 'operator', password: PASSWORD });
    const ent = await seedEntitlement(t.db);
    const { res, cookie, csrf } = await login(app, 'olga');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ operator: 'olga', role: 'operator', scope: 'write' });
    const setCookie = res.headers['set-cookie']![0]!;
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).not.toMatch(/Secure/); // plain HTTP here; under TLS the cookie is Secure and __Host-

    const noCsrf = await request(app)
      .post(`/api/admin/v1/entitlements/${ent.id}/suspend`)
      .set('Cookie', cookie)
      .send({ reason: 'x' });
    expect(noCsrf.status).toBe(403);
    expect(noCsrf.body.error.message).toMatch(/X-CSRF-Token/);
    const wrongCsrf = await request(app)
      .post(`/api/admin/v1/entitlements/${ent.id}/suspend`)
      .set('Cookie', cookie)
      .set('X-CSRF-Token', `${csrf}x`)
      .send({ reason: 'x' });
    expect(wrongCsrf.status).toBe(403);

    const ok = await request(app)
      .post(`/api/admin/v1/entitlements/${ent.id}/suspend`)
      .set('Cookie', cookie)
      .set('X-CSRF-Token', csrf)
      .send({ reason: 'chargeback' });
    expect(ok.status).toBe(200);
    const audit = await request(app).get('/api/admin/v1/audit').query({ entitlementId: ent.id }).set('Cookie', cookie);
    expect(audit.status).toBe(200);
    expect(audit.body.items[0]).toMatchObject({ actor: 'operator:olga' });

    // An operator cannot manage tokens or operators (admin scope only).
    const tokens = await request(app).get('/api/admin/v1/operators').set('Cookie', cookie);
    expect(tokens.status).toBe(403);
  });

  it('a viewer reads but cannot act', async () => {
    const app = await withClock();
    await seedOperator(t.db, { name: 'vera', role: 'viewer', password: PASSWORD });
    const ent = await seedEntitlement(t.db);
    const { cookie, csrf } = await login(app, 'vera');
    expect((await request(app).get('/api/admin/v1/entitlements').set('Cookie', cookie)).status).toBe(200);
    const act = await request(app)
      .post(`/api/admin/v1/entitlements/${ent.id}/revoke`)
      .set('Cookie', cookie)
      .set('X-CSRF-Token', csrf)
      .send({ reason: 'x' });
    expect(act.status).toBe(403);
    expect(
      (await t.db.first<{ status: string }>('SELECT status FROM entitlements WHERE id = ?', [ent.id]))?.status,
    ).toBe('active');
  });

  it('ends sessions after the idle timeout and the absolute timeout, and on logout', async () => {
    const app = await withClock();
    await seedOperator(t.db, { name: 'olga', role: 'operator', password: PASSWORD });
    const { cookie, csrf } = await login(app, 'olga');
    const session = () => request(app).get('/api/console/v1/session').set('Cookie', cookie);
    expect((await session()).status).toBe(200);
    now = new Date(now.getTime() + 29 * 60_000);
    expect((await session()).status).toBe(200); // active: the idle clock restarts
    now = new Date(now.getTime() + 29 * 60_000);
    expect((await session()).status).toBe(200);
    now = new Date(now.getTime() + 31 * 60_000);
    const idle = await session();
    expect(idle.status).toBe(401); // idle for 31 min
    // A distinct code, on the session door and on the admin API: the console returns to sign-in with a message.
    expect(idle.body.error).toMatchObject({ code: 'SESSION_ENDED', message: 'Your session ended; sign in again' });
    const stale = await request(app).get('/api/admin/v1/summary').set('Cookie', cookie);
    expect(stale.status).toBe(401);
    expect(stale.body.error.code).toBe('SESSION_ENDED');
    const noCookie = await request(app).get('/api/console/v1/session');
    expect(noCookie.body.error.code).toBe('UNAUTHORIZED');
    expect((await request(app).get('/api/admin/v1/summary')).body.error.code).toBe('UNAUTHORIZED');

    const second = await login(app, 'olga');
    const check = () => request(app).get('/api/console/v1/session').set('Cookie', second.cookie);
    for (let h = 0; h < 12; h++) {
      expect((await check()).status).toBe(200);
      now = new Date(now.getTime() + 20 * 60_000);
      expect((await check()).status).toBe(200);
      now = new Date(now.getTime() + 20 * 60_000);
      expect((await check()).status).toBe(200);
      now = new Date(now.getTime() + 20 * 60_000);
    }
    expect((await check()).status).toBe(401); // 12 h after login, however active

    const third = await login(app, 'olga');
    const noCsrfLogout = await request(app).post('/api/console/v1/logout').set('Cookie', third.cookie);
    expect(noCsrfLogout.status).toBe(403);
    const out = await request(app)
      .post('/api/console/v1/logout')
      .set('Cookie', third.cookie)
      .set('X-CSRF-Token', third.csrf);
    expect(out.status).toBe(200);
    expect((await request(app).get('/api/console/v1/session').set('Cookie', third.cookie)).status).toBe(401);
    void csrf;
  });

  it('locks an account for 15 minutes after 5 wrong passwords, with one answer for unknown names', async () => {
    const app = await withClock();
    await seedOperator(t.db, { name: 'olga', role: 'admin', password: PASSWORD });
    const unknown = await login(app, 'nobody');
    expect(unknown.res.status).toBe(401);
    for (let i = 0; i < 5; i++) expect((await login(app, 'olga', 'wrong password!')).res.status).toBe(401);
    const locked = await login(app, 'olga');
    expect(locked.res.status).toBe(429);
    expect(locked.res.body.error.message).toMatch(/locked/);
    expect(Number(locked.res.headers['retry-after'])).toBeGreaterThan(800);
    now = new Date(now.getTime() + 16 * 60_000);
    expect((await login(app, 'olga')).res.status).toBe(200);
    const audit = await t.db.all<{ action: string }>(
      "SELECT action FROM audit_log WHERE actor = 'operator:olga' ORDER BY id",
    );
    expect(audit.map((a) => a.action)).toEqual(['operator.locked', 'operator.login']);
  });

  it('counts concurrent wrong passwords atomically: 8 at once lock the account after exactly 5', async () => {
    const app = await withClock();
    await seedOperator(t.db, { name: 'olga', role: 'admin', password: PASSWORD });
    const answers = await Promise.all(Array.from({ length: 8 }, () => login(app, 'olga', 'wrong password!')));
    const statuses = answers.map((a) => a.res.status).sort();
    // Five tries were checked (and failed); the three beyond the limit were refused unchecked.
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    expect((await login(app, 'olga')).res.status).toBe(429);
    expect(await t.db.all("SELECT action FROM audit_log WHERE action = 'operator.locked'")).toHaveLength(1);

    // Four at once stay under the limit; a right password gives the tries back.
    await seedOperator(t.db, { name: 'vera', role: 'viewer', password: PASSWORD });
    await Promise.all(Array.from({ length: 4 }, () => login(app, 'vera', 'wrong password!')));
    expect(await t.db.first('SELECT failed_logins, locked_until FROM operators WHERE name = ?', ['vera'])).toEqual({
      failed_logins: 4,
      locked_until: null,
    });
    expect((await login(app, 'vera')).res.status).toBe(200);
    expect(await t.db.first('SELECT failed_logins FROM operators WHERE name = ?', ['vera'])).toEqual({
      failed_logins: 0,
    });
  });

  it('refuses a login that is not JSON (a cross-site form)', async () => {
    await seedOperator(t.db, { name: 'olga', role: 'admin', password: PASSWORD });
    const res = await request(t.licensor.app)
      .post('/api/console/v1/login')
      .type('form')
      .send({ name: 'olga', password: PASSWORD });
    expect(res.status).toBe(400);
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('bootstraps the first admin with LICENSOR_ADMIN_TOKEN, once', async () => {
    const app = t.licensor.app;
    // A fresh install tells the sign-in page how the first operator is made.
    const setup = () => request(app).get('/api/console/v1/setup');
    expect((await setup()).body).toEqual({ firstOperatorNeeded: true, bootstrapTokenSet: true });
    const wrong = await request(app)
      .post('/api/console/v1/bootstrap')
      .send({ bootstrapToken: 'nope', name: 'root', password: PASSWORD });
    expect(wrong.status).toBe(401);
    const first = await request(app)
      .post('/api/console/v1/bootstrap')
      .send({ bootstrapToken: ADMIN_TOKEN, name: 'root', password: PASSWORD });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ name: 'root', role: 'admin' });
    expect((await setup()).body).toEqual({ firstOperatorNeeded: false, bootstrapTokenSet: false });
    const again = await request(app)
      .post('/api/console/v1/bootstrap')
      .send({ bootstrapToken: ADMIN_TOKEN, name: 'root2', password: PASSWORD });
    expect(again.status).toBe(409);
    const { cookie, csrf } = await login(app, 'root');
    const added = await request(app)
      .post('/api/admin/v1/operators')
      .set('Cookie', cookie)
      .set('X-CSRF-Token', csrf)
      .send({ name: 'vera', role: 'viewer', password: PASSWORD });
    expect(added.status).toBe(201);
    const list = await request(app).get('/api/admin/v1/operators').set('Cookie', cookie);
    expect(list.body.items.map((o: { name: string }) => o.name)).toEqual(['root', 'vera']);
    expect(JSON.stringify(list.body)).not.toMatch(/scrypt/);
    // Accounts made by the product (not seeded by testkit) carry the production cost, N=2^15, r=8, p=1.
    expect(PASSWORD_HASH_COST).toEqual({ N: 2 ** 15, r: 8, p: 1 });
    const hashes = await t.db.all<{ password_hash: string }>('SELECT password_hash FROM operators ORDER BY name');
    expect(hashes.map((h) => h.password_hash.split('$').slice(0, 4).join('$'))).toEqual([
      'scrypt$32768$8$1',
      'scrypt$32768$8$1',
    ]);
  });

  it('refuses a taken name, or a second first operator, before hashing the password', async () => {
    await seedOperator(t.db, { name: 'olga', role: 'admin', password: PASSWORD });
    // A cost scrypt refuses (N must be a power of two): had the hash been made first, its error would come out.
    const badCost = { hashCost: { N: 3, r: 8, p: 1 } };
    const taken = { name: 'olga', role: 'viewer' as const, password: PASSWORD };
    await expect(addOperator(t.db, taken, 'test', badCost)).rejects.toMatchObject({ code: 'CONFLICT' });
    const second = { name: 'root', role: 'admin' as const, password: PASSWORD };
    await expect(addOperator(t.db, second, 'test', { ...badCost, onlyIfNone: true })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    // The cost is what fails for a free name: the early check did not skip the hash.
    await expect(addOperator(t.db, second, 'test', badCost)).rejects.not.toMatchObject({ code: 'CONFLICT' });
  });
});

describe('roles and TLS', () => {
  it('an admin changes a role: the operator is signed out, signs in with the new scope; the last admin stays admin', async () => {
    const app = await withClock();
    await seedOperator(t.db, { name: 'ada', role: 'admin', password: PASSWORD });
    await seedOperator(t.db, { name: 'olga', role: 'operator', password: PASSWORD });
    const ada = await login(app, 'ada');
    const olga = await login(app, 'olga');
    const change = (name: string, role: string, who = ada) =>
      request(app)
        .post(`/api/admin/v1/operators/${name}/role`)
        .set('Cookie', who.cookie)
        .set('X-CSRF-Token', who.csrf)
        .send({ role });
    // An operator cannot change roles (admin scope only), not even their own.
    expect((await change('olga', 'admin', olga)).status).toBe(403);
    const changed = await change('olga', 'viewer');
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ changed: true, operator: { name: 'olga', role: 'viewer' } });
    expect((await request(app).get('/api/console/v1/session').set('Cookie', olga.cookie)).status).toBe(401);
    expect((await login(app, 'olga')).res.body).toMatchObject({ role: 'viewer', scope: 'read' });
    expect((await change('olga', 'viewer')).body.changed).toBe(false);
    const last = await change('ada', 'operator');
    expect(last.status).toBe(409);
    expect(last.body.error.message).toMatch(/last enabled admin/);
    // Nor can the last enabled admin be disabled (by themselves or anyone): nobody could manage operators.
    const disable = (name: string) =>
      request(app)
        .post(`/api/admin/v1/operators/${name}/disable`)
        .set('Cookie', ada.cookie)
        .set('X-CSRF-Token', ada.csrf);
    const lastDisabled = await disable('ada');
    expect(lastDisabled.status).toBe(409);
    expect(lastDisabled.body.error.message).toBe(
      'ada is the last enabled admin: make another operator admin first (`licensor operators set-role <name> admin`), then disable this one',
    );
    expect(await t.db.first('SELECT disabled_at FROM operators WHERE name = ?', ['ada'])).toEqual({
      disabled_at: null,
    });
    // With a second admin, either may go.
    await seedOperator(t.db, { name: 'bob', role: 'admin', password: PASSWORD });
    expect((await disable('bob')).status).toBe(200);
    expect((await disable('ada')).status).toBe(409); // bob is disabled: ada is the last enabled admin again
    expect((await change('olga', 'superuser')).status).toBe(400);
    const entry = await t.db.first<{ actor: string; detail: string }>(
      "SELECT actor, detail FROM audit_log WHERE action = 'operator.role_changed'",
    );
    expect(entry).toMatchObject({ actor: 'operator:ada' });
    expect(JSON.parse(entry!.detail)).toEqual({ name: 'olga', from: 'operator', to: 'viewer' });
  });

  it('under TLS (HTTPS seen through a trusted proxy) the cookie is Secure and __Host- prefixed', async () => {
    const tls = await createTestApp({ trustProxy: 'loopback' });
    try {
      await seedOperator(tls.db, { name: 'olga', role: 'operator', password: PASSWORD });
      const res = await request(tls.licensor.app)
        .post('/api/console/v1/login')
        .set('X-Forwarded-Proto', 'https')
        .send({ name: 'olga', password: PASSWORD });
      expect(res.status).toBe(200);
      const setCookie = res.headers['set-cookie']![0]!;
      expect(setCookie).toMatch(/^__Host-licensor_session=/);
      expect(setCookie).toMatch(/; Secure/);
      expect(setCookie).toMatch(/HttpOnly/);
      expect(setCookie).toMatch(/SameSite=Strict/);
      expect(setCookie).toMatch(/Path=\//);
      // The secure cookie is read back over HTTPS.
      const session = await request(tls.licensor.app)
        .get('/api/console/v1/session')
        .set('X-Forwarded-Proto', 'https')
        .set('Cookie', setCookie.split(';')[0]!);
      expect(session.status).toBe(200);
    } finally {
      await tls.destroy();
    }
  });
});

describe('licensor operators', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'licensor-ops-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
    let out = '';
    let err = '';
    const code = await main(['--data-dir', dir, ...args], {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
      env: { USER: 'alice', LICENSOR_KEY_PASSPHRASE: 'test-passphrase', ...testDatabaseEnv(dir), ...env },
    });
    return { code, out, err };
  }

  it('adds, lists, disables and resets operators; the server accepts the passwords it printed', async () => {
    const app = await createTestApp({}, dir);
    await app.close(); // a data folder with a schema, as the server leaves it
    const added = await cli(['--json', 'operators', 'add', '--name', 'olga', '--role', 'operator']);
    expect(added.code).toBe(0);
    const { password } = JSON.parse(added.out);
    expect(password).toMatch(/^[\w-]{24}$/);
    expect((await cli(['operators', 'add', '--name', 'olga', '--role', 'viewer'])).code).not.toBe(0);
    const fixed = await cli(['operators', 'add', '--name', 'vera', '--role', 'viewer'], {
      LICENSOR_OPERATOR_PASSWORD: PASSWORD,
    });
    expect(fixed.out).not.toContain(PASSWORD);
    const list = await cli(['operators', 'list']);
    expect(list.out).toMatch(/olga\s+operator/);
    expect(list.out).toMatch(/vera\s+viewer/);

    const server = await createTestApp({}, dir);
    try {
      expect((await login(server.licensor.app, 'olga', password)).res.status).toBe(200);
      expect((await login(server.licensor.app, 'vera')).res.status).toBe(200);
      const session = await login(server.licensor.app, 'olga', password);
      expect((await cli(['operators', 'disable', 'olga'])).code).toBe(0);
      expect(
        (await request(server.licensor.app).get('/api/console/v1/session').set('Cookie', session.cookie)).status,
      ).toBe(401);
      expect((await login(server.licensor.app, 'olga', password)).res.status).toBe(401);
      expect((await cli(['operators', 'set-role', 'vera', 'root'])).code).not.toBe(0);
      const promoted = await cli(['operators', 'set-role', 'vera', 'operator']);
      expect(promoted.out).toMatch(/vera is now operator/);
      expect((await login(server.licensor.app, 'vera')).res.body.role).toBe('operator');
      // The last enabled admin cannot be disabled or demoted from the CLI either.
      expect((await cli(['operators', 'add', '--name', 'root', '--role', 'admin'])).code).toBe(0);
      const lastDisable = await cli(['operators', 'disable', 'root']);
      expect(lastDisable.code).not.toBe(0);
      expect(lastDisable.err).toMatch(/root is the last enabled admin: make another operator admin first/);
      expect((await cli(['operators', 'set-role', 'root', 'viewer'])).err).toMatch(/last enabled admin/);
      expect((await login(server.licensor.app, 'root', 'x'.repeat(12))).res.status).toBe(401); // still enabled
      const reset = await cli(['--json', 'operators', 'reset-password', 'olga']);
      const newPassword = JSON.parse(reset.out).password;
      expect((await login(server.licensor.app, 'olga', newPassword)).res.status).toBe(200);
      for (const { password_hash } of await server.db.all<{ password_hash: string }>(
        'SELECT password_hash FROM operators',
      ))
        expect(password_hash).toMatch(/^scrypt\$32768\$8\$1\$/); // the CLI's accounts: production cost
      const actors = await server.db.all<{ actor: string; action: string }>(
        // In insertion order: without ORDER BY, PostgreSQL returns heap order, which a reused (emptied) test
        // database's free space makes differ from it.
        "SELECT actor, action FROM audit_log WHERE action LIKE 'operator.%' AND actor LIKE 'cli:%' ORDER BY id",
      );
      expect(actors.map((a) => a.action)).toEqual([
        'operator.added',
        'operator.added',
        'operator.disabled',
        'operator.role_changed',
        'operator.added',
        'operator.password_reset',
      ]);
    } finally {
      await server.close();
    }
  });
});
