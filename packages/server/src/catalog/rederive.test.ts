import { activateRequestSchema } from '@licensor/shared';
import { activationBody, type LicensingTestApp, makeApp, newDevice } from '@licensor/testkit/licensing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { activate, createDirectLicense, type EntitlementRow, findEntitlement, updateLicense } from '../licensing';
import { applyCatalog, setProduct, setSku } from './store';

/**
 * Licenses' stored values (seats) are re-derived only when something that feeds them changed, and every change
 * is stamped with the app's injectable clock (ctx.now), never the wall clock.
 */

// A fixed instant an hour ahead of the wall clock (inside the signing certificate's validity): a stamp taken from
// new Date() instead of ctx.now would differ from it.
const CLOCK = new Date(Math.floor(Date.now() / 1000) * 1000 + 3_600_000);
const P = 'com.example.rederive';

let app: LicensingTestApp;
beforeEach(async () => {
  app = await makeApp({ now: () => CLOCK });
  await setProduct(app.licensor.ctx, { id: P, edition: 'Std' }, 'test');
  await setSku(app.licensor.ctx, P, { code: 'team', edition: 'Team', seats: 3 }, 'test');
});
afterEach(async () => {
  await app.close();
});

const ctx = () => app.licensor.ctx;
const row = async (id: string) => (await findEntitlement(app.db, id))!;
const audits = (id: string) =>
  app.db.all<{ action: string; at: string }>('SELECT action, at FROM audit_log WHERE entitlement_id = ? ORDER BY id', [
    id,
  ]);
const direct = (): Promise<EntitlementRow> => createDirectLicense(ctx(), { productId: P, sku: 'team' }, 'test');

describe('re-deriving license values', () => {
  it('a features or policy edit of the catalogue leaves every license alone; a seats edit re-derives', async () => {
    const ent = await direct();
    // A license whose stored count differs from what the catalogue would give (written under an older rule).
    await app.db.run('UPDATE entitlements SET seats = 2 WHERE id = ?', [ent.id]);
    await setSku(ctx(), P, { code: 'team', edition: 'Team', features: { sync: true }, seats: 3 }, 'test');
    await applyCatalog(
      ctx(),
      {
        products: [
          { id: P, edition: 'Std', policy: { fileTtlDays: 9 }, skus: [{ code: 'team', edition: 'Team', seats: 3 }] },
        ],
      },
      { actor: 'test' },
    );
    expect((await row(ent.id)).seats).toBe(2);
    expect((await audits(ent.id)).map((a) => a.action)).not.toContain('entitlement.seats_rederived');

    await setSku(ctx(), P, { code: 'team', edition: 'Team', seats: 6 }, 'test');
    expect((await row(ent.id)).seats).toBe(6);
    expect((await audits(ent.id)).at(-1)).toEqual({ action: 'entitlement.seats_rederived', at: CLOCK.toISOString() });
  });

  it('a customer or expiry change does not re-count devices above a lowered seat count', async () => {
    const ent = await direct();
    for (const seed of ['a', 'b', 'c']) {
      await activate(ctx(), activateRequestSchema.parse(activationBody(newDevice(seed), ent.code!)));
    }
    // The catalogue lowers the SKU to 1 seat: the three devices keep theirs until freed.
    await setSku(ctx(), P, { code: 'team', edition: 'Team', seats: 1 }, 'test');
    expect((await row(ent.id)).seats).toBe(1);
    const r = await updateLicense(
      ctx(),
      await row(ent.id),
      { customer: 'Renamed Ltd', expiresAt: '2032-01-01T00:00:00Z' },
      'test',
    );
    expect(r.releasedDevices).toEqual([]);
    expect(r.entitlement).toMatchObject({ customer_name: 'Renamed Ltd', seats: 1 });
    // Lowering the seats themselves still is refused.
    await expect(updateLicense(ctx(), await row(ent.id), { seats: 2 }, 'test')).rejects.toThrow(
      /more than the 2 it would have/,
    );
  });

  it('stamps catalogue, seat and license changes with ctx.now', async () => {
    const ent = await direct();
    await setSku(ctx(), P, { code: 'team', edition: 'Team', seats: 4 }, 'test');
    await updateLicense(ctx(), await row(ent.id), { customer: 'Clocked' }, 'test');
    expect(await row(ent.id)).toMatchObject({ created_at: CLOCK.toISOString(), updated_at: CLOCK.toISOString() });
    const stamps = (await app.db.all<{ at: string }>('SELECT DISTINCT at FROM audit_log')).map((a) => a.at);
    expect(stamps).toEqual([CLOCK.toISOString()]);
  });
});
