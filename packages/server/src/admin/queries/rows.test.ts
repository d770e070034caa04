import { LicensorError } from '@licensor/shared';
import { seedEntitlement } from '@licensor/testkit/licensing';
import { createTestApp, type TestApp, testBackend } from '@licensor/testkit/server';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { entitlementView, messageView } from '.';

let t: TestApp;
beforeEach(async () => {
  t = await createTestApp();
});
afterEach(async () => {
  await t.destroy();
});

const listEntitlements = () =>
  request(t.licensor.app).get('/api/admin/v1/entitlements').set('Authorization', 'Bearer admin-test-token');

describe('typed row mappers', () => {
  it('list a well-formed row with its typed values', async () => {
    const ent = await seedEntitlement(t.db, { seats: 3 });
    const res = await listEntitlements();
    expect(res.status).toBe(200);
    expect(res.body.items).toEqual([expect.objectContaining({ id: ent.id, seats: 3, test: false })]);
  });

  // Only SQLite can hold such a row (it keeps text in an INTEGER column); PostgreSQL's types refuse it on write.
  it.skipIf(testBackend() === 'postgres')(
    'answer a malformed row with an internal error instead of a wrong value',
    async () => {
      const ent = await seedEntitlement(t.db);
      // SQLite keeps text that does not look like a number in an INTEGER column: a hand-edited database.
      await t.db.run("UPDATE entitlements SET seats = 'many' WHERE id = ?", [ent.id]);
      const res = await listEntitlements();
      expect(res.status).toBe(500);
      expect(res.body.error.code).toBe('INTERNAL');
    },
  );

  it('name the resource and the column of a malformed row', async () => {
    const row = (await t.db.first('SELECT * FROM entitlements WHERE id = ?', [(await seedEntitlement(t.db)).id]))!;
    expect(() => entitlementView({ ...row, seats: 'many' })).toThrow(
      new LicensorError(
        'INTERNAL',
        'Malformed entitlement row in the database: column seats is string "many", expected a number',
      ),
    );
    expect(() => entitlementView({ ...row, created_at: null })).toThrow(/column created_at is null, expected text/);
    expect(entitlementView({ ...row, customer_name: null }).customerName).toBeNull();
  });

  it('check enumerated columns and read a NULL computed flag as false', () => {
    const message = {
      id: 1,
      created_at: '2025-01-01T00:00:00.000Z',
      direction: 'in',
      activity: 'newInstance',
      latency_ms: 12.345,
      failed: null,
      test: 0,
    };
    expect(messageView(message)).toMatchObject({ direction: 'in', latencyMs: 12.3, failed: false, method: null });
    expect(() => messageView({ ...message, direction: 'sideways' })).toThrow(
      /column direction is string "sideways", expected one of in, out/,
    );
    expect(() => messageView({ ...message, test: 'no' })).toThrow(/column test is string "no", expected 0 or 1/);
  });
});
