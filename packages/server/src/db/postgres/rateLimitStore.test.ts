import { LicensorError } from '@licensor/shared';
import { createTestPostgres } from '@licensor/testkit/postgres';
import express, { type NextFunction, type Request, type Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openPostgres, type PgDb } from './facade';
import { migratePostgres } from './migrate';
import { PgRateLimitStore, pruneRateLimits, type RateLimitDoor, sharedRateLimit } from './rateLimitStore';

const pgTest = await createTestPostgres('rate limits');

const silentLogger = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
/** A clock in the middle of a window: a minute boundary between two requests would reset the count. */
const midWindow = () => 1_800_000_010_000;

/** One "instance": an app whose limiter counts in PostgreSQL through its own pool. */
function instance(db: PgDb, opts: { door?: RateLimitDoor; limit: number; now?: () => number }) {
  const app = express();
  app.set('trust proxy', true); // X-Forwarded-For picks the client in these tests
  app.use(
    rateLimit({
      windowMs: 60_000,
      limit: opts.limit,
      standardHeaders: 'draft-7',
      legacyHeaders: false,
      logger: silentLogger,
      ...sharedRateLimit(db, opts.door ?? 'api', 'per-minute:', opts.now),
    }),
  );
  app.get('/x', (_req, res) => {
    res.json({ ok: true });
  });
  // The app's error handler in brief (db/ imports no server module): a LicensorError becomes its HTTP status.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err instanceof LicensorError ? err : new LicensorError('INTERNAL', String(err));
    res.status(e.httpStatus).json({ error: e.toJSON() });
  });
  return app;
}

describe.skipIf(!pgTest)('PostgreSQL rate-limit store', () => {
  let a: PgDb;
  let b: PgDb;
  beforeAll(async () => {
    a = pgTest!.open();
    b = pgTest!.open();
    await migratePostgres(a);
  });
  afterAll(() => pgTest?.drop());
  beforeEach(async () => {
    await a.run('DELETE FROM rate_limits');
  });

  it('shares one count between two instances: the 429 arrives at the limit, whichever instance answers', async () => {
    const appA = instance(a, { limit: 5, now: midWindow });
    const appB = instance(b, { limit: 5, now: midWindow });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await request(i % 2 ? appB : appA)
        .get('/x')
        .set('X-Forwarded-For', '203.0.113.7');
      statuses.push(res.status);
      if (i === 4) expect(res.headers.ratelimit).toMatch(/remaining=0/);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    // Another address has its own count.
    expect((await request(appB).get('/x').set('X-Forwarded-For', '203.0.113.8')).status).toBe(200);
  });

  it('admits exactly the limit under concurrent requests spread over both instances', async () => {
    const appA = instance(a, { limit: 10, now: midWindow });
    const appB = instance(b, { limit: 10, now: midWindow });
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        request(i % 2 ? appB : appA)
          .get('/x')
          .set('X-Forwarded-For', '198.51.100.1'),
      ),
    );
    const ok = results.filter((r) => r.status === 200).length;
    expect(ok).toBe(10);
    expect(results.filter((r) => r.status === 429)).toHaveLength(20);
  });

  it('counts in fixed windows, reports the window end, and decrements, resets and reads a key', async () => {
    let now = 1_800_000_000_000 + 5_000; // 5 s into a minute window
    const clock = () => now;
    const store = new PgRateLimitStore(a, { prefix: 't:', now: clock });
    store.init({ windowMs: 60_000 } as Parameters<PgRateLimitStore['init']>[0]);
    const windowEnd = new Date(1_800_000_000_000 - (1_800_000_000_000 % 60_000) + 60_000);
    expect(await store.increment('k')).toEqual({ totalHits: 1, resetTime: windowEnd });
    expect((await store.increment('k')).totalHits).toBe(2);
    await store.decrement('k');
    expect(await store.get('k')).toEqual({ totalHits: 1, resetTime: windowEnd });
    now = windowEnd.getTime(); // the next window starts from zero
    expect((await store.increment('k')).totalHits).toBe(1);
    await store.resetKey('k');
    expect(await store.get('k')).toBeUndefined();
    // resetAll empties only this limiter's rows
    const other = new PgRateLimitStore(b, { prefix: 'u:', now: clock });
    other.init({ windowMs: 60_000 } as Parameters<PgRateLimitStore['init']>[0]);
    await other.increment('k');
    await store.increment('k');
    await store.resetAll();
    expect(await store.get('k')).toBeUndefined();
    expect((await other.get('k'))?.totalHits).toBe(1);
  });

  it('prunes the rows of ended windows and keeps the current one', async () => {
    const now = 1_800_000_030_000;
    for (let i = 0; i < 25; i++) {
      await a.run('INSERT INTO rate_limits (key, window_start, hits, expires_at) VALUES (?, ?, 1, ?)', [
        `old${i}`,
        now - 120_000,
        now - 60_000,
      ]);
    }
    await a.run('INSERT INTO rate_limits (key, window_start, hits, expires_at) VALUES (?, ?, 3, ?)', [
      'live',
      now - 30_000,
      now + 30_000,
    ]);
    expect(await pruneRateLimits(a, now, 10)).toBe(25);
    expect(await a.all('SELECT key FROM rate_limits')).toEqual([{ key: 'live' }]);
  });

  describe('when the database cannot count', () => {
    // Nothing listens on port 1: every store call fails as STORAGE_UNAVAILABLE.
    const down = openPostgres('postgres://postgres@127.0.0.1:1/none', {
      settings: {
        poolSize: 1,
        statementTimeoutMs: 1000,
        connectTimeoutMs: 500,
        ssl: undefined,
        sslCaFile: undefined,
        applicationName: 'licensor-tests',
      },
    });
    afterAll(() => down.close());

    it('the marketplace fails open: KooGallery is not refused because of our own outage', async () => {
      const res = await request(instance(down, { door: 'marketplace', limit: 1 })).get('/x');
      expect(res.status).toBe(200);
    });

    it('admin authentication failures fail closed: 503 STORAGE_UNAVAILABLE, never an unlimited guess', async () => {
      const res = await request(instance(down, { door: 'admin-auth', limit: 1 })).get('/x');
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('STORAGE_UNAVAILABLE');
    });
  });
});
