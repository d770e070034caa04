import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LicensorError } from '@licensor/shared';
import { openScratchDatabase, openTestDatabase, testBackend } from '@licensor/testkit/server';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../logger';
import { Outbox } from './outbox';

const log = createLogger('silent');

describe('Outbox', () => {
  it('retries retryable failures with backoff and gives up on permanent ones', async () => {
    const db = await openScratchDatabase();
    let clock = 1_000;
    const outbox = new Outbox(db, log, { now: () => clock, backoffMs: (n) => n * 100 });
    let calls = 0;
    outbox.register('flaky', async () => {
      calls++;
      if (calls < 3) throw new LicensorError('MARKETPLACE_UNAVAILABLE', 'down');
    });
    outbox.register('rejected', async () => {
      throw new LicensorError('MARKETPLACE_REJECTED', 'bad request');
    });
    const flaky = await outbox.enqueue(db, 'flaky', { a: 1 });
    const rejected = await outbox.enqueue(db, 'rejected', {});
    expect(await outbox.drain()).toBe(2);
    expect((await outbox.get(flaky))?.status).toBe('pending');
    expect((await outbox.get(rejected))?.status).toBe('failed');
    expect(await outbox.drain()).toBe(0); // not due yet
    clock += 100;
    await outbox.drain();
    clock += 200;
    await outbox.drain();
    expect(await outbox.get(flaky)).toMatchObject({ status: 'done', attempts: 3 });
    expect(await outbox.depth()).toEqual({ pending: 0, running: 0, failed: 1 });
    expect(await outbox.retry(rejected)).toBe(true);
    expect((await outbox.get(rejected))?.status).toBe('pending');
    await db.close();
  });

  it('deduplicates by key and runs an item inline within a deadline', async () => {
    const db = await openScratchDatabase();
    const outbox = new Outbox(db, log);
    let release: () => void = () => {};
    outbox.register('slow', () => new Promise<void>((r) => (release = r)));
    const a = await outbox.enqueue(db, 'slow', {}, { dedupeKey: 'k' });
    expect(await outbox.enqueue(db, 'slow', {}, { dedupeKey: 'k' })).toBe(a);
    expect(await outbox.runNow(a, 20)).toBe(false);
    release();
    await outbox.stop();
    expect((await outbox.get(a))?.status).toBe('done');
    await db.close();
  });

  // SQLite only: one process owns a SQLite database, so whatever is 'running' at start died with the last one; on
  // PostgreSQL those are other instances' live leases and are left to expire (outbox/pgLeases.ts).
  it.skipIf(testBackend() === 'postgres')(
    'releases items a crashed process was running as soon as the next one starts',
    async () => {
      const db = await openScratchDatabase();
      const clock = 5_000;
      const outbox = new Outbox(db, log, { now: () => clock, leaseMs: 60_000 });
      const id = await outbox.enqueue(db, 'job', {});
      await db.run(`UPDATE outbox SET status = 'running', lease_until = ? WHERE id = ?`, [clock + 60_000, id]);
      outbox.register('job', async () => {});
      await outbox.start();
      expect((await outbox.get(id))?.status).toBe('pending');
      expect(await outbox.drain()).toBe(1);
      expect((await outbox.get(id))?.status).toBe('done');
      await outbox.stop();
      await db.close();
    },
  );

  it('keeps pending work across a restart and reclaims an expired lease of a crashed worker', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'licensor-outbox-'));
    const path = join(dir, 'db.sqlite');
    let db = await openTestDatabase(path);
    let clock = 10_000;
    let outbox = new Outbox(db, log, { now: () => clock, leaseMs: 1000 });
    const id = await outbox.enqueue(db, 'job', { n: 1 });
    // Simulate a worker that claimed the item and died.
    await db.run(`UPDATE outbox SET status = 'running', lease_until = ? WHERE id = ?`, [clock + 1000, id]);
    await db.close();
    db = await openTestDatabase(path);
    outbox = new Outbox(db, log, { now: () => clock, leaseMs: 1000 });
    const seen: unknown[] = [];
    outbox.register('job', async (p) => {
      seen.push(p);
    });
    expect(await outbox.drain()).toBe(0);
    clock += 1001;
    expect(await outbox.drain()).toBe(1);
    expect(seen).toEqual([{ n: 1 }]);
    expect((await outbox.get(id))?.status).toBe('done');
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
