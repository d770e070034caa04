import type { AppContext } from '../context';
import { changeEntitlement, type EntitlementRow } from '../licensing';

/**
 * Marketplace debug traffic (testFlag=1). The seller center saves debug cases and replays them twice a day
 * (dial tests, spec §2.3/§2.5): a saved suite ends with a release, so the next replay finds its instance or
 * code released. A test request on a released *test* entitlement therefore brings it back first; live
 * entitlements, and live requests on test entitlements, keep the live rules (a released license stays gone).
 * Call inside the request's transaction. Returns the row to work on.
 */
export async function reviveForDialTest(
  ctx: Pick<AppContext, 'db' | 'now' | 'entitlementChanged'>,
  ent: EntitlementRow,
  testRequest: boolean,
  actor: string,
): Promise<EntitlementRow> {
  if (!testRequest || ent.test !== 1 || ent.status !== 'released') return ent;
  return await changeEntitlement(
    ctx,
    ent,
    { status: 'active' },
    actor,
    'entitlement.revived_for_dial_test',
    { reason: 'a marketplace debug case was replayed on a released test entitlement' },
    ctx.now(),
  );
}

/** True when a request may act on the entitlement: it exists and is not released (after any dial-test revival). */
export const usable = (ent: EntitlementRow | undefined): ent is EntitlementRow =>
  Boolean(ent && ent.status !== 'released');
