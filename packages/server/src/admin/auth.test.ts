import { createTestApp, seedOperator, type TestApp } from '@licensor/testkit/server';
import express from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../config';
import { migrate } from '../db/migrations';
import { migrationTarget, openSqliteDatabase } from '../db/sqlite';
import { errorHandler } from '../http/errors';
import { createLogger } from '../logger';
import { type AdminPrincipal, createAdminToken, requireScope } from './auth';

/** The admin API's door: failed-authentication limits, authentication before parsing, scopes, last use. */

const ADMIN = '/api/admin/v1';
const BOOT = 'Bearer admin-test-token';
let t: TestApp | undefined;
afterEach(async () => {
  await t?.destroy();
  t = undefined;
});

describe('failed admin authentication', () => {
  it('is limited per address: 200 wrong tokens get 401 ten times, then 429 with Retry-After', async () => {
    t = await createTestApp({ trustProxy: 'loopback' });
    const app = t.licensor.app;
    const statuses: number[] = [];
    let retryAfter: string | undefined;
    for (let i = 0; i < 200; i++) {
      const r = await request(app)
        .get(`${ADMIN}/summary`)
        .set('X-Forwarded-For', '203.0.113.9')
        .set('Authorization', `Bearer wrong-${i}`);
      statuses.push(r.status);
      if (r.status === 429) {
        retryAfter = r.headers['retry-after'];
        expect(r.body.error.code).toBe('RATE_LIMITED');
      }
    }
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(statuses.slice(10)).toEqual(Array(190).fill(429));
    expect(Number(retryAfter)).toBeGreaterThan(0);
    // While limited, even the right token is refused from that address (so guessing learns nothing)…
    const right = await request(app)
      .get(`${ADMIN}/summary`)
      .set('X-Forwarded-For', '203.0.113.9')
      .set('Authorization', BOOT);
    expect(right.status).toBe(429);
    // …but other addresses keep working, and successful requests never count.
    for (let i = 0; i < 30; i++) {
      const ok = await request(app)
        .get(`${ADMIN}/summary`)
        .set('X-Forwarded-For', '203.0.113.10')
        .set('Authorization', BOOT);
      expect(ok.status).toBe(200);
    }
  });

  it('backs off for an hour once an address has failed ten times the per-minute limit', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      t = await createTestApp({ trustProxy: 'loopback', adminAuthFailures: 2 });
      const app = t.licensor.app;
      const as = (auth: string) =>
        request(app).get(`${ADMIN}/summary`).set('X-Forwarded-For', '203.0.113.20').set('Authorization', auth);
      const start = Date.now();
      // Two failures a minute stay under the minute limit (2) but add up in the hour window (20).
      for (let minute = 0; minute < 10; minute++) {
        vi.setSystemTime(start + minute * 61_000);
        expect((await as('Bearer nope')).status).toBe(401);
        expect((await as('Bearer nope')).status).toBe(401);
        const third = await as('Bearer nope');
        expect(third.status).toBe(429);
        expect(Number(third.headers['retry-after'])).toBeLessThanOrEqual(61);
      }
      vi.setSystemTime(start + 10 * 61_000);
      const backedOff = await as('Bearer nope');
      expect(backedOff.status).toBe(429);
      expect(Number(backedOff.headers['retry-after'])).toBeGreaterThan(30 * 60);
      expect((await as(BOOT)).status).toBe(429);
      vi.setSystemTime(start + 3_700_000);
      expect((await as(BOOT)).status).toBe(200);
      expect((await as('Bearer nope')).status).toBe(401);
    } finally {
      vi.useRealTimers();
    }
  });

  it('is refused before the body is read: bad JSON or an oversized body with a wrong token is a 401', async () => {
    t = await createTestApp();
    const app = t.licensor.app;
    const badJson = await request(app)
      .post(`${ADMIN}/codes`)
      .set('Authorization', 'Bearer wrong')
      .set('Content-Type', 'application/json')
      .send('{"code":');
    expect(badJson.status).toBe(401);
    const huge = await request(app)
      .post(`${ADMIN}/codes`)
      .set('Authorization', 'Bearer wrong')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ code: 'x'.repeat(1024 * 1024) }));
    expect(huge.status).toBe(401);
    // With the right token the same bodies are parsed (and refused for what they are).
    const parsed = await request(app)
      .post(`${ADMIN}/codes`)
      .set('Authorization', BOOT)
      .set('Content-Type', 'application/json')
      .send('{"code":');
    expect(parsed.status).toBe(400);
  });
});

describe('token scopes', () => {
  it('lets only admin-scoped tokens (and the bootstrap token) manage tokens', async () => {
    t = await createTestApp();
    const app = t.licensor.app;
    const mint = (auth: string, scope: string) =>
      request(app)
        .post(`${ADMIN}/tokens`)
        .set('Authorization', auth)
        .send({ name: `by-${scope}`, scope });
    const writer = await mint(BOOT, 'write');
    expect(writer.status).toBe(201);
    const write = `Bearer ${writer.body.token}`;
    // A write token does its work…
    expect(
      (
        await request(app)
          .post(`${ADMIN}/codes`)
          .set('Authorization', write)
          .send({ code: 'PLSCOPE00001', productId: 'P-SCOPE' })
      ).status,
    ).toBeLessThan(300);
    // …but cannot mint, list or revoke tokens.
    for (const scope of ['write', 'admin', 'read']) {
      const r = await mint(write, scope);
      expect(r.status, scope).toBe(403);
      expect(r.body.error.message).toMatch(/admin-scoped token/);
    }
    expect((await request(app).get(`${ADMIN}/tokens`).set('Authorization', write)).status).toBe(403);
    expect((await request(app).delete(`${ADMIN}/tokens/${writer.body.id}`).set('Authorization', write)).status).toBe(
      403,
    );

    const admin = await mint(BOOT, 'admin');
    expect(admin.status).toBe(201);
    expect(admin.body.scope).toBe('admin');
    const adminAuth = `Bearer ${admin.body.token}`;
    const minted = await mint(adminAuth, 'read');
    expect(minted.status).toBe(201);
    expect(
      (await request(app).delete(`${ADMIN}/tokens/${writer.body.id}`).set('Authorization', adminAuth)).body,
    ).toMatchObject({
      changed: true,
    });
    expect((await request(app).get(`${ADMIN}/summary`).set('Authorization', write)).status).toBe(401);
  });

  it('keeps existing write tokens as write tokens across the migration that adds the admin scope', async () => {
    const db = openSqliteDatabase(':memory:', { migrate: false });
    try {
      migrate(migrationTarget(db.raw), 8);
      await db.run(
        "INSERT INTO admin_tokens (id, name, token_hash, scope, created_at) VALUES ('tok_old', 'ci', 'h1', 'write', '2026-01-01T00:00:00.000Z')",
      );
      migrate(migrationTarget(db.raw));
      expect(await db.first('SELECT id, scope FROM admin_tokens')).toEqual({ id: 'tok_old', scope: 'write' });
      await expect(
        db.run(
          "INSERT INTO admin_tokens (id, name, token_hash, scope, created_at) VALUES ('t2', 'x', 'h2', 'root', 'now')",
        ),
      ).rejects.toThrow(/CHECK/);
    } finally {
      await db.close();
    }
  });
});

describe('admin-only routes, however the path is spelled', () => {
  /** Express routes case-insensitively: /TOKENS reaches the /tokens routes, so the scope check must too. */
  const SPELLINGS = [
    ['post', '/TOKENS', { name: 'esc', scope: 'admin' }],
    ['post', '/Tokens', { name: 'esc', scope: 'admin' }],
    ['post', '/tokens/', { name: 'esc', scope: 'admin' }],
    ['get', '/TOKENS', undefined],
    ['delete', '/Tokens/tok_x', undefined],
    ['get', '/OPERATORS', undefined],
    ['post', '/Operators', { name: 'mallory', role: 'admin', password: 'a long enough password' }],
    ['post', '/OPERATORS/root.admin/role', { role: 'viewer' }],
    ['post', '/operators/ROOT.ADMIN/disable', undefined],
    ['post', '/oPeRaToRs/root.admin/reset-password', { password: 'a long enough password' }],
  ] as const;

  it('refuses a write token and an operator session on /TOKENS, /Tokens/…, /OPERATORS…; admin passes', async () => {
    t = await createTestApp({ adminAuthFailures: 1000 });
    const app = t.licensor.app;
    const write = `Bearer ${(await createAdminToken(t.db, 'w', 'write')).token}`;
    const admin = `Bearer ${(await createAdminToken(t.db, 'a', 'admin')).token}`;
    const password = 'correct horse battery';
    await seedOperator(t.db, { name: 'root.admin', role: 'admin', password });
    await seedOperator(t.db, { name: 'olga', role: 'operator', password });
    const login = await request(app).post('/api/console/v1/login').send({ name: 'olga', password });
    const cookie = login.headers['set-cookie']![0]!.split(';')[0]!;
    const csrf = login.body.csrfToken as string;

    for (const [method, path, body] of SPELLINGS) {
      const asToken = await request(app)[method](`${ADMIN}${path}`).set('Authorization', write).send(body);
      expect(asToken.status, `write token ${method} ${path}`).toBe(403);
      expect(asToken.body.error.message).toMatch(/admin-scoped token/);
      const asSession = await request(app)
        [method](`${ADMIN}${path}`)
        .set('Cookie', cookie)
        .set('X-CSRF-Token', csrf)
        .send(body);
      expect(asSession.status, `operator session ${method} ${path}`).toBe(403);
      expect(asSession.body.error.message).toMatch(/^Operators cannot manage (admin tokens|operators); ask an admin$/);
    }
    // Nothing was minted, added or changed.
    expect(await t.db.all('SELECT id FROM admin_tokens')).toHaveLength(2);
    expect(await t.db.first('SELECT role, disabled_at FROM operators WHERE name = ?', ['root.admin'])).toEqual({
      role: 'admin',
      disabled_at: null,
    });
    expect(await t.db.first('SELECT COUNT(*) AS n FROM operators')).toEqual({ n: 2 });

    // An admin token reaches the same routes in any spelling.
    const minted = await request(app)
      .post(`${ADMIN}/TOKENS`)
      .set('Authorization', admin)
      .send({ name: 'ok', scope: 'read' });
    expect(minted.status).toBe(201);
    expect((await request(app).get(`${ADMIN}/Operators`).set('Authorization', admin)).status).toBe(200);
    expect(
      (await request(app).post(`${ADMIN}/OPERATORS/olga/role`).set('Authorization', admin).send({ role: 'viewer' }))
        .status,
    ).toBe(200);
  });

  it('the routes check the scope themselves (requireScope), whatever brought the request there', async () => {
    const app = express();
    let principal: AdminPrincipal = { tokenId: 'tok_w', scope: 'write' };
    app.use((_req, res, next) => {
      res.locals.admin = principal;
      next();
    });
    app.post('/tokens', requireScope('admin'), (_req, res) => {
      res.json({ minted: true });
    });
    app.use(errorHandler(createLogger('silent')));
    const refused = await request(app).post('/TOKENS');
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 'FORBIDDEN', detail: { scope: 'write', neededScope: 'admin' } });
    principal = { tokenId: 'operator:vera', scope: 'read', actor: 'operator:vera' };
    expect((await request(app).post('/tokens')).body.error.message).toBe(
      'Viewers cannot manage admin tokens; ask an admin',
    );
    principal = { tokenId: 'tok_a', scope: 'admin' };
    expect((await request(app).post('/Tokens')).body).toEqual({ minted: true });
  });
});

describe('last_used_at', () => {
  it('is set when a token is used and shown in the token list', async () => {
    t = await createTestApp();
    const app = t.licensor.app;
    const created = await request(app)
      .post(`${ADMIN}/tokens`)
      .set('Authorization', BOOT)
      .send({ name: 'ro', scope: 'read' });
    const listed = async () =>
      (await request(app).get(`${ADMIN}/tokens`).set('Authorization', BOOT)).body.items.find(
        (i: { id: string }) => i.id === created.body.id,
      ) as { lastUsedAt: string | null };
    expect((await listed()).lastUsedAt).toBeNull();
    const before = Date.now();
    expect(
      (await request(app).get(`${ADMIN}/summary`).set('Authorization', `Bearer ${created.body.token}`)).status,
    ).toBe(200);
    const used = (await listed()).lastUsedAt;
    expect(used).not.toBeNull();
    expect(Date.parse(used!)).toBeGreaterThanOrEqual(before - 1000);
  });
});

describe('bootstrap token length', () => {
  const env = { LICENSOR_ADMIN_TOKEN: 'sixteen-chars-ok' };
  it('needs at least 32 characters in production mode (NODE_ENV=production or LICENSOR_PRODUCTION=1)', () => {
    expect(loadConfig(env).production).toBe(false);
    expect(loadConfig(env).adminToken).toBe('sixteen-chars-ok');
    expect(() => loadConfig({ ...env, NODE_ENV: 'production' })).toThrow(/LICENSOR_ADMIN_TOKEN must be at least 32/);
    expect(() => loadConfig({ ...env, LICENSOR_PRODUCTION: '1' })).toThrow(/openssl rand -hex 24/);
    const long = 'a'.repeat(32);
    const c = loadConfig({ LICENSOR_ADMIN_TOKEN: long, LICENSOR_PRODUCTION: '1' });
    expect(c).toMatchObject({ production: true, adminToken: long });
    expect(() => loadConfig({ LICENSOR_PRODUCTION: 'yes' })).toThrow(/LICENSOR_PRODUCTION/);
  });
});
