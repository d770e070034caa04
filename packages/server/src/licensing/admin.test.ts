import { activateRequestSchema, LicensorError } from '@licensor/shared';
import {
  activationBody,
  type LicensingTestApp,
  makeApp,
  newDevice,
  seedEntitlement,
} from '@licensor/testkit/licensing';
import { afterEach, describe, expect, it } from 'vitest';
import { activate } from './activate';
import { cullLapsedLeases, findActivation } from './activations';
import {
  findEntitlementRef,
  freeSeat,
  listActivations,
  moveLicense,
  reinstateEntitlement,
  revokeEntitlement,
  setAuthorizedUsers,
  setEntitlementPolicy,
  suspendEntitlement,
} from './admin';
import { cullNonces } from './device';
import { findEntitlement } from './entitlements';
import { policyFor, productPolicy, setProductPolicy } from './policy';

let t: LicensingTestApp;
afterEach(() => t?.close());

const bind = async (code: string, extra: Record<string, unknown> = {}) =>
  (await activate(t.licensor.ctx, activateRequestSchema.parse(activationBody(newDevice(), code, extra)))).activation;

const auditActions = async (entitlementId: string) =>
  (
    await t.db.all<{ action: string; actor: string }>(
      'SELECT action, actor FROM audit_log WHERE entitlement_id = ? ORDER BY id',
      [entitlementId],
    )
  ).map((r) => `${r.actor} ${r.action}`);

describe('merchant actions', () => {
  it('suspend and revoke hold a license; reinstate restores the status it had before', async () => {
    t = await makeApp();
    const ent = await seedEntitlement(t.db, { status: 'frozen' });
    expect((await suspendEntitlement(t.licensor.ctx, ent.code!, 'admin:tok', { reason: 'dispute' })).status).toBe(
      'suspended',
    );
    expect((await suspendEntitlement(t.licensor.ctx, ent.id, 'admin:tok')).status).toBe('suspended'); // idempotent
    expect((await revokeEntitlement(t.licensor.ctx, ent.id, 'admin:tok')).status).toBe('revoked');
    await expect(suspendEntitlement(t.licensor.ctx, ent.id, 'admin:tok')).rejects.toThrow(/reinstate it first/);
    // Back to frozen (the marketplace's state), not blindly to active.
    expect((await reinstateEntitlement(t.licensor.ctx, ent.id, 'admin:tok')).status).toBe('frozen');
    expect((await reinstateEntitlement(t.licensor.ctx, ent.id, 'admin:tok')).status).toBe('frozen'); // nothing held: no change
    expect(await auditActions(ent.id)).toEqual([
      'admin:tok entitlement.suspended',
      'admin:tok entitlement.revoked',
      'admin:tok entitlement.reinstated',
    ]);
    const reason = await t.db.first<{ detail: string }>(
      `SELECT detail FROM audit_log WHERE action = 'entitlement.suspended'`,
    );
    expect(JSON.parse(reason!.detail)).toEqual({ reason: 'dispute' });

    const released = await seedEntitlement(t.db, { status: 'released' });
    await expect(revokeEntitlement(t.licensor.ctx, released.id, 'admin:tok')).rejects.toThrow(LicensorError);
    await expect(suspendEntitlement(t.licensor.ctx, 'nope', 'admin:tok')).rejects.toThrow(
      expect.objectContaining({ code: 'NOT_FOUND' }),
    );
  });

  it('freeSeat frees a device seat once, is idempotent, and does not count as a holder transfer', async () => {
    t = await makeApp();
    const ent = await seedEntitlement(t.db, { seats: 1 });
    const act = await bind(ent.code!);
    const first = await freeSeat(t.licensor.ctx, act.id, 'admin:tok', { reason: 'dead laptop' });
    expect(first.released).toBe(true);
    expect(first.activation).toMatchObject({ id: act.id, status: 'released', releasedBy: 'admin:tok', code: ent.code });
    expect((await freeSeat(t.licensor.ctx, act.id, 'admin:tok')).released).toBe(false);
    expect(await t.db.first('SELECT COUNT(*) AS n FROM seat_transfers')).toEqual({ n: 0 });
    expect((await bind(ent.code!)).seat).toBe(0);
    await expect(freeSeat(t.licensor.ctx, 'act_missing', 'admin:tok')).rejects.toThrow(
      expect.objectContaining({ code: 'NOT_FOUND' }),
    );
  });

  it('moveLicense moves a seat to another license of the same product with a free seat', async () => {
    t = await makeApp();
    const from = await seedEntitlement(t.db, { seats: 1 });
    const to = await seedEntitlement(t.db, { seats: 1 });
    const act = await bind(from.code!);
    const moved = await moveLicense(t.licensor.ctx, act.id, to.code!, 'admin:tok');
    expect(moved).toMatchObject({ id: act.id, entitlementId: to.id, status: 'active', seat: 0 });
    // The old license's seat is free; the target is now full.
    expect((await bind(from.code!)).entitlement_id).toBe(from.id);
    const other = await bind((await seedEntitlement(t.db, { seats: 1 })).code!);
    await expect(moveLicense(t.licensor.ctx, other.id, to.id, 'admin:tok')).rejects.toThrow(
      expect.objectContaining({ code: 'TOO_MANY_DEVICES' }),
    );
    const otherProduct = await seedEntitlement(t.db, { productId: 'prod-2', seats: 5 });
    await expect(moveLicense(t.licensor.ctx, other.id, otherProduct.id, 'admin:tok')).rejects.toThrow(
      expect.objectContaining({ code: 'PRODUCT_MISMATCH' }),
    );
    const revoked = await seedEntitlement(t.db, { status: 'revoked', seats: 5 });
    await expect(moveLicense(t.licensor.ctx, other.id, revoked.id, 'admin:tok')).rejects.toThrow(
      expect.objectContaining({ code: 'REVOKED' }),
    );
    await freeSeat(t.licensor.ctx, other.id, 'admin:tok');
    await expect(moveLicense(t.licensor.ctx, other.id, from.id, 'admin:tok')).rejects.toThrow(
      expect.objectContaining({ code: 'CONFLICT' }),
    );
    expect(await auditActions(to.id)).toContain('admin:tok activation.moved');
  });

  it('listActivations filters by license, code, status and text, newest first, with a total', async () => {
    let clock = Date.now();
    const tick = () => {
      clock += 1000;
      return new Date(clock);
    };
    t = await makeApp({ now: tick });
    const ent = await seedEntitlement(t.db, { seats: 5 });
    const a = await bind(ent.code!, { device: { hostname: 'alpha-pc', label: "Alice's laptop" } });
    const b = await bind(ent.code!, { device: { hostname: 'beta-pc' } });
    await bind((await seedEntitlement(t.db)).code!);
    await freeSeat(t.licensor.ctx, b.id, 'admin:tok');
    expect((await listActivations(t.db)).total).toBe(3);
    expect((await listActivations(t.db, { code: ent.code!.toLowerCase() })).items.map((i) => i.id)).toEqual([
      b.id,
      a.id,
    ]);
    expect((await listActivations(t.db, { entitlementId: ent.id, status: 'active' })).items.map((i) => i.id)).toEqual([
      a.id,
    ]);
    expect((await listActivations(t.db, { q: "ALICE'S" })).items.map((i) => i.hostname)).toEqual(['alpha-pc']);
    expect((await listActivations(t.db, { q: '%' })).total).toBe(0);
    expect(await listActivations(t.db, { limit: 1, offset: 1 })).toMatchObject({ total: 3, items: [{ id: b.id }] });
    expect(await listActivations(t.db, { code: 'LSR-NOPE' })).toEqual({ items: [], total: 0 });
    expect(JSON.stringify((await listActivations(t.db)).items)).not.toMatch(/fingerprint"|device_public_key/);
  });

  it('named users, entitlement policies and product policies are validated and audited', async () => {
    t = await makeApp();
    const ent = await seedEntitlement(t.db, { seats: 3 });
    await setEntitlementPolicy(t.licensor.ctx, ent.id, { requireNamedUser: true }, 'admin:tok');
    await expect(bind(ent.code!, { user: 'alice' })).rejects.toMatchObject({ code: 'USER_NOT_AUTHORIZED' });
    expect(await setAuthorizedUsers(t.db, ent.id, { add: ['alice', 'bob'] }, 'admin:tok')).toEqual(['alice', 'bob']);
    expect((await bind(ent.code!, { user: 'alice' })).user_id).toBe('alice');
    expect(await setAuthorizedUsers(t.db, ent.id, { remove: ['bob'] }, 'admin:tok')).toEqual(['alice']);
    await expect(setEntitlementPolicy(t.licensor.ctx, ent.id, { mode: 'both' } as never, 'admin:tok')).rejects.toThrow(
      /mode/,
    );
    await setEntitlementPolicy(t.licensor.ctx, ent.id, null, 'admin:tok');
    expect((await policyFor(t.db, (await findEntitlement(t.db, ent.id))!)).requireNamedUser).toBe(false);

    await setProductPolicy(t.db, '*', { fileTtlDays: 7 }, 'admin:tok');
    await setProductPolicy(t.db, 'prod-1', { offlineGraceDays: 1 }, 'admin:tok');
    expect(await productPolicy(t.db, 'prod-1')).toEqual({ fileTtlDays: 7, offlineGraceDays: 1 });
    expect(await policyFor(t.db, (await findEntitlement(t.db, ent.id))!)).toMatchObject({
      fileTtlDays: 7,
      offlineGraceDays: 1,
    });
    await setProductPolicy(t.db, 'prod-1', null, 'admin:tok');
    expect(await productPolicy(t.db, 'prod-1')).toEqual({ fileTtlDays: 7 });
    // A corrupted stored policy is ignored, not fatal for every request.
    await t.db.run(`UPDATE entitlements SET policy = '{not json' WHERE id = ?`, [ent.id]);
    expect((await policyFor(t.db, (await findEntitlement(t.db, ent.id))!)).fileTtlDays).toBe(7);
    expect((await findEntitlementRef(t.db, ent.code!.replace(/-/g, '').toLowerCase()))?.id).toBe(ent.id);
  });
});

describe('maintenance', () => {
  it('culls lapsed floating leases everywhere and expired nonces', async () => {
    let clock = Date.now();
    t = await makeApp({ now: () => new Date(clock) });
    const ent = await seedEntitlement(t.db, { seats: 2, policy: { mode: 'floating', leaseMinutes: 5 } });
    const act = await bind(ent.code!);
    expect(await cullLapsedLeases(t.db, new Date(clock))).toBe(0);
    clock += 6 * 60_000;
    expect(await cullLapsedLeases(t.db, new Date(clock))).toBe(1);
    expect(await findActivation(t.db, act.id)).toMatchObject({ status: 'lapsed', seat: null });
    await t.db.run(
      `INSERT INTO device_nonces (activation_id, nonce, expires_at) VALUES ('a', 'n1', ?), ('a', 'n2', ?)`,
      [clock - 1, clock + 60_000],
    );
    expect(await cullNonces(t.db, new Date(clock))).toBe(1);
  });
});
