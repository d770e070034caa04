import { LicensorError } from '@licensor/shared';
import { createTestPostgres } from '@licensor/testkit/postgres';
import express, { type NextFunction, type Request, type Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { openPostgres, type PgDb } from './facade';
import { migratePostgres } from './migrate';
import { PgRateLimitStore, pruneRateLimits, type RateLimitDoor, sharedRateLimit } from './rateLimitStore';

const pgTest = await createTestPostgres('rate limits');

const silentLogger = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
/** A fixed clock, so no window of these tests ends between two requests. */
const midWindow = () => 1_800_000_010_000;
const MINUTE = 60_000;
const HOUR = 3_600_000;
/** A full hour of the wall clock (and so a full minute): where clock-aligned windows used to end. */
const FULL_HOUR = 1_800_000_000_000 - (1_800_000_000_000 % HOUR);

/**
 * The clock injected into the stores, with the same time faked for `Date` so express-rate-limit's own arithmetic
 * (Retry-After is the reset time minus Date.now()) agrees with it.
 */
function testClock(start: number) {
  let t = start;
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(t);
  return {
    now: () => t,
    set(to: number) {
      t = to;
      vi.setSystemTime(to);
    },
  };
}

/** One "instance": an app whose limiter counts in PostgreSQL through its own pool. */
function instance(db: PgDb, opts: { door?: RateLimitDoor; limit: number; now?: () => number; windowMs?: number }) {
  const app = express();
  app.set('trust proxy', true); // X-Forwarded-For picks the client in these tests
  app.use(
    rateLimit({
      windowMs: opts.windowMs ?? MINUTE,
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
  afterEach(() => {
    vi.useRealTimers();
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

  it("starts a client's window at its first hit, reports its end, and decrements, resets and reads a key", async () => {
    let now = FULL_HOUR - 1_000; // a second before the wall clock's minute (and hour) turns
    const clock = () => now;
    const store = new PgRateLimitStore(a, { prefix: 't:', now: clock });
    store.init({ windowMs: MINUTE } as Parameters<PgRateLimitStore['init']>[0]);
    const windowEnd = new Date(now + MINUTE);
    expect(await store.increment('k')).toEqual({ totalHits: 1, resetTime: windowEnd });
    now = FULL_HOUR + 30_000; // past the full minute: still the client's window
    expect(await store.increment('k')).toEqual({ totalHits: 2, resetTime: windowEnd });
    await store.decrement('k');
    expect(await store.get('k')).toEqual({ totalHits: 1, resetTime: windowEnd });
    // Another client's window starts at its own first hit.
    expect(await store.increment('other')).toEqual({ totalHits: 1, resetTime: new Date(now + MINUTE) });
    now = windowEnd.getTime(); // the window has ended: nothing to read or take back, the next hit starts anew
    expect(await store.get('k')).toBeUndefined();
    await store.decrement('k');
    expect(await store.increment('k')).toEqual({ totalHits: 1, resetTime: new Date(now + MINUTE) });
    // A decrement asked for during the ended window that reaches the database after the restart (the library
    // decrements once the response has finished) leaves the new window's count alone.
    const restartedAt = now;
    now = windowEnd.getTime() - 1;
    await store.decrement('k');
    now = restartedAt;
    expect((await store.get('k'))?.totalHits).toBe(1);
    await store.resetKey('k');
    expect(await store.get('k')).toBeUndefined();
    expect((await store.get('other'))?.totalHits).toBe(1);
    // resetAll empties only this limiter's rows
    const otherLimiter = new PgRateLimitStore(b, { prefix: 'u:', now: clock });
    otherLimiter.init({ windowMs: MINUTE } as Parameters<PgRateLimitStore['init']>[0]);
    await otherLimiter.increment('k');
    await store.increment('k');
    await store.resetAll();
    expect(await store.get('k')).toBeUndefined();
    expect(await store.get('other')).toBeUndefined();
    expect((await otherLimiter.get('k'))?.totalHits).toBe(1);
  });

  it('never admits twice the limit across a boundary of the wall clock', async () => {
    const clock = testClock(FULL_HOUR - 2_000);
    const appA = instance(a, { limit: 5, now: clock.now });
    const appB = instance(b, { limit: 5, now: clock.now });
    const hit = (i: number) =>
      request(i % 2 ? appB : appA)
        .get('/x')
        .set('X-Forwarded-For', '203.0.113.30');
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await hit(i)).status);
    clock.set(FULL_HOUR + 2_000); // a new minute on the clock, the same window for this client
    for (let i = 5; i < 10; i++) statuses.push((await hit(i)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429, 429, 429]);
    const limited = await hit(10);
    expect(Number(limited.headers['retry-after'])).toBe(56); // the window's end, 60 s after the first hit
    clock.set(FULL_HOUR - 2_000 + MINUTE); // the client's own window has ended
    expect((await hit(11)).status).toBe(200);
  });

  it('backs off for the full window however the first hit falls on the clock', async () => {
    // The first hit a second before a full hour: clock-aligned windows let the client go a second later.
    const clock = testClock(FULL_HOUR - 1_000);
    const app = instance(a, { door: 'admin-auth', limit: 1, windowMs: HOUR, now: clock.now });
    const hit = () => request(app).get('/x').set('X-Forwarded-For', '203.0.113.40');
    expect((await hit()).status).toBe(200);
    clock.set(FULL_HOUR + 1_000);
    const backedOff = await hit();
    expect(backedOff.status).toBe(429);
    expect(Number(backedOff.headers['retry-after'])).toBe(3_598);
    clock.set(FULL_HOUR - 1_000 + HOUR - 1);
    expect((await hit()).status).toBe(429);
    clock.set(FULL_HOUR - 1_000 + HOUR);
    expect((await hit()).status).toBe(200);
  });

  it('restarts an ended window exactly once under concurrent hits from both instances', async () => {
    const now = 1_800_000_010_000;
    await a.run('INSERT INTO rate_limits (key, hits, reset_at) VALUES (?, ?, ?)', ['t:k', 99, now - 1]);
    const stores = [a, b].map((db) => {
      const store = new PgRateLimitStore(db, { prefix: 't:', now: () => now });
      store.init({ windowMs: MINUTE } as Parameters<PgRateLimitStore['init']>[0]);
      return store;
    });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => stores[i % 2]!.increment('k')));
    expect(results.map((r) => r.totalHits).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(new Set(results.map((r) => r.resetTime?.getTime()))).toEqual(new Set([now + MINUTE]));
  });

  it('prunes the rows of ended windows and keeps the current one', async () => {
    const now = 1_800_000_030_000;
    for (let i = 0; i < 25; i++) {
      await a.run('INSERT INTO rate_limits (key, hits, reset_at) VALUES (?, 1, ?)', [`old${i}`, now - 60_000 + i]);
    }
    await a.run('INSERT INTO rate_limits (key, hits, reset_at) VALUES (?, 3, ?)', ['live', now + 1]);
    expect(await pruneRateLimits(a, now, 10)).toBe(25);
    expect(await a.all('SELECT key FROM rate_limits')).toEqual([{ key: 'live' }]);
  });

  it('keeps the counts in an UNLOGGED table (no WAL flush per counted request)', async () => {
    const row = await a.first<{ relpersistence: string }>(
      "SELECT relpersistence FROM pg_class WHERE oid = 'rate_limits'::regclass",
    );
    expect(row?.relpersistence).toBe('u');
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
