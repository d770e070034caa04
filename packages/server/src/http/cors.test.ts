import { createTestApp, type TestApp } from '@licensor/testkit/server';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { cors, normalizeOrigin } from './cors';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.destroy();
  t = undefined;
});

const ALLOWED = 'https://admin.example.com';
const PATHS = ['/healthz', '/api/v1/keys', '/api/admin/v1/summary', '/api/koogallery/produce', '/nope'];

describe('CORS', () => {
  it('is off by default: no Access-Control-* header on any response, preflights included', async () => {
    t = await createTestApp();
    for (const path of PATHS) {
      const res = await request(t.licensor.app).get(path).set('Origin', ALLOWED);
      expect(Object.keys(res.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
      const pre = await request(t.licensor.app)
        .options(path)
        .set('Origin', ALLOWED)
        .set('Access-Control-Request-Method', 'POST');
      expect(pre.headers['access-control-allow-origin']).toBeUndefined();
    }
  });

  it('allows only the listed origins, answers their preflights and varies on Origin', async () => {
    t = await createTestApp({ corsOrigins: [ALLOWED, 'http://localhost:5173'] });
    const app = t.licensor.app;
    const ok = await request(app).get('/healthz').set('Origin', ALLOWED);
    expect(ok.headers['access-control-allow-origin']).toBe(ALLOWED);
    expect(ok.headers['access-control-expose-headers']).toContain('Licensor-Signature');
    expect(ok.headers.vary).toMatch(/Origin/);

    const pre = await request(app)
      .options('/api/admin/v1/summary')
      .set('Origin', 'http://localhost:5173')
      .set('Access-Control-Request-Method', 'GET')
      .set('Access-Control-Request-Headers', 'authorization');
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('http://localhost:5173');
    expect(pre.headers['access-control-allow-headers']).toMatch(/Authorization/);
    // Credentials are never allowed: tokens travel in Authorization, not cookies.
    expect(pre.headers['access-control-allow-credentials']).toBeUndefined();

    for (const origin of ['https://evil.example.com', 'https://admin.example.com.evil.com', 'null', ALLOWED + '/']) {
      const res = await request(app).get('/healthz').set('Origin', origin);
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
      const p = await request(app)
        .options('/healthz')
        .set('Origin', origin)
        .set('Access-Control-Request-Method', 'GET');
      expect(p.headers['access-control-allow-origin']).toBeUndefined();
    }
    // An allowed origin still needs a valid admin token.
    const denied = await request(app).get('/api/admin/v1/summary').set('Origin', ALLOWED);
    expect(denied.status).toBe(401);
    expect(denied.headers['access-control-allow-origin']).toBe(ALLOWED);
  });

  it('refuses configured values that are not plain origins, naming the variable', () => {
    expect(normalizeOrigin('HTTPS://Admin.Example.com:443')).toBe('https://admin.example.com');
    for (const bad of [
      '*',
      'admin.example.com',
      'https://a.example.com/path',
      'ftp://a.example.com',
      'https://a.com?x=1',
    ]) {
      expect(() => cors([bad])).toThrow(/LICENSOR_CORS_ORIGINS/);
    }
  });
});
