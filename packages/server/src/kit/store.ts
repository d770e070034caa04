import type { Storage } from '../db/storage';
import type { Row } from '../db/types';
import { audit } from '../licensing';
import type { AllOrgSync, AppSync, AuthSync, KitUser, SingleOrgSync, TenantSync } from './schemas';
import type { SecretBox } from './secretBox';

/**
 * Applies Kit changes. Idempotency comes from the primary keys (instance + tenant [+ app / orgCode /
 * userName]) and one transaction per request (the caller's): a repeated add finds its row and changes
 * nothing, a repeated delete finds nothing to delete and still succeeds, and no operation looks at the
 * entitlement that newInstance created.
 *
 * Ordering. The marketplace gives no delivery-order guarantee (the buyer decides about retries), so each row
 * remembers the marketplace time of the change that produced it (`source_ts`, from timeStamp or authSync's
 * currentSyncTime) and each delete leaves a tombstone with its time. A change older than what is stored —
 * or older than a tombstone of the item or of its tenant — is acknowledged and ignored (last writer wins by
 * the marketplace's clock; ties and untimed requests go by arrival). So a modify that overtakes its add
 * creates the item (upsert) and the late add cannot roll it back; a late add cannot resurrect a deleted
 * item; a child unit arriving before its parent is stored with the parent code as given.
 */

export type Kind = 'tenant' | 'app' | 'org' | 'user';
export type Outcome = 'created' | 'updated' | 'unchanged' | 'deleted' | 'absent' | 'stale' | 'kept';

export interface Scope {
  instanceId: string;
  tenantId: string;
}

const TABLES: Record<Kind, { table: string; keyCol: string | null }> = {
  tenant: { table: 'kit_tenants', keyCol: null },
  app: { table: 'kit_apps', keyCol: 'app_id' },
  org: { table: 'kit_org_units', keyCol: 'org_code' },
  user: { table: 'kit_users', keyCol: 'user_name' },
};

/** True when the incoming change is older than a known stored time (both known). */
const older = (incoming: string | null, known: unknown): boolean =>
  incoming !== null && typeof known === 'string' && known > incoming;

export type Counts = Partial<Record<Outcome, number>>;

const bump = (c: Counts, o: Outcome, n = 1) => {
  c[o] = (c[o] ?? 0) + n;
};

/** One request's writes; call its methods inside one transaction. */
export class KitWriter {
  readonly counts: Counts = {};
  /** Keys that changed, for the audit entry (bounded). */
  readonly changed: string[] = [];

  constructor(
    private readonly db: Storage,
    private readonly now: Date,
  ) {}

  private where(kind: Kind, scope: Scope, key: string): { sql: string; params: string[] } {
    const { keyCol } = TABLES[kind];
    return keyCol
      ? { sql: `instance_id = ? AND tenant_id = ? AND ${keyCol} = ?`, params: [scope.instanceId, scope.tenantId, key] }
      : { sql: 'instance_id = ? AND tenant_id = ?', params: [scope.instanceId, scope.tenantId] };
  }

  async row(kind: Kind, scope: Scope, key = ''): Promise<Row | undefined> {
    const w = this.where(kind, scope, key);
    return await this.db.first<Row>(`SELECT * FROM ${TABLES[kind].table} WHERE ${w.sql}`, w.params);
  }

  private async tombstone(kind: Kind, scope: Scope, key: string): Promise<string | undefined> {
    return (
      await this.db.first<{ source_ts: string }>(
        'SELECT source_ts FROM kit_tombstones WHERE kind = ? AND instance_id = ? AND tenant_id = ? AND item_key = ?',
        [kind, scope.instanceId, scope.tenantId, key],
      )
    )?.source_ts;
  }

  /** Deleted later than `ts` — the item itself, or (for children) its whole tenant. */
  private async deletedAfter(kind: Kind, scope: Scope, key: string, ts: string | null): Promise<boolean> {
    if (ts === null) return false;
    if (older(ts, await this.tombstone(kind, scope, key))) return true;
    return kind !== 'tenant' && older(ts, await this.tombstone('tenant', scope, ''));
  }

  private note(kind: Kind, key: string, outcome: Outcome) {
    bump(this.counts, outcome);
    if ((outcome === 'created' || outcome === 'updated' || outcome === 'deleted') && this.changed.length < 100) {
      this.changed.push(`${outcome} ${kind}${key ? ` ${key}` : ''}`);
    }
  }

  /**
   * Inserts or updates one item. `fields` with value undefined are left as they are (a modify's absent
   * fields); `insertOnly` supplies values used only when the row is created (defaults, create-only columns).
   */
  async upsert(
    kind: Kind,
    scope: Scope,
    key: string,
    ts: string | null,
    fields: Record<string, unknown>,
    insertOnly: Record<string, unknown> = {},
  ): Promise<Outcome> {
    const outcome = await this.upsertInner(kind, scope, key, ts, fields, insertOnly);
    this.note(kind, key, outcome);
    return outcome;
  }

  private async upsertInner(
    kind: Kind,
    scope: Scope,
    key: string,
    ts: string | null,
    fields: Record<string, unknown>,
    insertOnly: Record<string, unknown>,
  ): Promise<Outcome> {
    const { table, keyCol } = TABLES[kind];
    if (await this.deletedAfter(kind, scope, key, ts)) return 'stale';
    const row = await this.row(kind, scope, key);
    if (row && older(ts, row.source_ts)) return 'stale';
    const now = this.now.toISOString();
    let outcome: Outcome;
    if (!row) {
      const values: Record<string, unknown> = { instance_id: scope.instanceId, tenant_id: scope.tenantId };
      if (keyCol) values[keyCol] = key;
      for (const [k, v] of Object.entries(insertOnly)) if (v !== undefined) values[k] = v;
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) values[k] = v;
      Object.assign(values, { source_ts: ts, created_at: now, updated_at: now });
      const cols = Object.keys(values);
      await this.db.run(
        `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`,
        Object.values(values),
      );
      outcome = 'created';
    } else {
      const diff = Object.entries(fields).filter(([k, v]) => v !== undefined && row[k] !== v);
      const newer = ts !== null && (typeof row.source_ts !== 'string' || ts > row.source_ts);
      const w = this.where(kind, scope, key);
      if (diff.length > 0) {
        await this.db.run(
          `UPDATE ${table} SET ${diff.map(([k]) => `${k} = ?`).join(', ')}, source_ts = ?, updated_at = ? WHERE ${w.sql}`,
          [...diff.map(([, v]) => v), newer ? ts : row.source_ts, now, ...w.params],
        );
        outcome = 'updated';
      } else {
        // Same data: remember the newer time (so older stragglers stay ignored) without calling it a change.
        if (newer) await this.db.run(`UPDATE ${table} SET source_ts = ? WHERE ${w.sql}`, [ts, ...w.params]);
        outcome = 'unchanged';
      }
    }
    // A tombstone older than this change is superseded by it.
    await this.db.run(
      `DELETE FROM kit_tombstones WHERE kind = ? AND instance_id = ? AND tenant_id = ? AND item_key = ?
         AND (CAST(? AS TEXT) IS NULL OR source_ts <= ?)`,
      [kind, scope.instanceId, scope.tenantId, key, ts, ts],
    );
    return outcome;
  }

  /** Deletes one item; absent items are a success, and the deletion is remembered for late arrivals. */
  async remove(kind: Kind, scope: Scope, key: string, ts: string | null): Promise<Outcome> {
    const outcome = await this.removeInner(kind, scope, key, ts);
    this.note(kind, key, outcome);
    return outcome;
  }

  private async removeInner(kind: Kind, scope: Scope, key: string, ts: string | null): Promise<Outcome> {
    const row = await this.row(kind, scope, key);
    if (row && older(ts, row.source_ts)) return 'stale';
    if (row) {
      const w = this.where(kind, scope, key);
      await this.db.run(`DELETE FROM ${TABLES[kind].table} WHERE ${w.sql}`, w.params);
    }
    await this.tombstoneAt(kind, scope, key, ts);
    return row ? 'deleted' : 'absent';
  }

  private async tombstoneAt(kind: Kind, scope: Scope, key: string, ts: string | null): Promise<void> {
    if (ts === null) return;
    await this.db.run(
      `INSERT INTO kit_tombstones (kind, instance_id, tenant_id, item_key, source_ts, created_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (kind, instance_id, tenant_id, item_key)
       DO UPDATE SET source_ts = excluded.source_ts, created_at = excluded.created_at WHERE excluded.source_ts > kit_tombstones.source_ts`,
      [kind, scope.instanceId, scope.tenantId, key, ts, this.now.toISOString()],
    );
  }

  /**
   * Deletes a tenant with everything synced under it (apps, units, users) except items changed after the
   * delete. Child tombstones older than the tenant's are dropped: the tenant tombstone covers them.
   */
  async removeTenant(scope: Scope, ts: string | null): Promise<Outcome> {
    const outcome = await this.removeInner('tenant', scope, '', ts);
    this.note('tenant', '', outcome);
    if (outcome === 'stale') return outcome;
    for (const kind of ['app', 'org', 'user'] as const) {
      const r = await this.db.run(
        `DELETE FROM ${TABLES[kind].table} WHERE instance_id = ? AND tenant_id = ?
           AND (CAST(? AS TEXT) IS NULL OR source_ts IS NULL OR source_ts <= ?)`,
        [scope.instanceId, scope.tenantId, ts, ts],
      );
      if (r.changes > 0) {
        bump(this.counts, 'deleted', r.changes);
        if (this.changed.length < 100) this.changed.push(`deleted ${r.changes} ${kind}(s) with the tenant`);
      }
    }
    if (ts !== null) {
      await this.db.run(
        `DELETE FROM kit_tombstones WHERE kind <> 'tenant' AND instance_id = ? AND tenant_id = ? AND source_ts <= ?`,
        [scope.instanceId, scope.tenantId, ts],
      );
    }
    return outcome;
  }

  get anyChange(): boolean {
    return Boolean(this.counts.created || this.counts.updated || this.counts.deleted);
  }
}

const scopeOf = (d: { instanceId: string; tenantId: string }): Scope => ({
  instanceId: d.instanceId,
  tenantId: d.tenantId,
});
const testOf = (d: { testFlag: boolean }) => (d.testFlag ? 1 : 0);

export async function applyTenantSync(w: KitWriter, d: TenantSync, ts: string | null): Promise<void> {
  const scope = scopeOf(d);
  if (d.flag === 0) {
    await w.removeTenant(scope, ts);
    return;
  }
  if (d.flag === 1) {
    // An add carries the whole tenant: what it leaves out is cleared (except the order, kept if absent).
    await w.upsert('tenant', scope, '', ts, {
      tenant_code: d.tenantCode ?? null,
      name: d.name ?? null,
      domain_name: d.domainName ?? null,
      order_id: d.orderId,
      test: testOf(d),
    });
    return;
  }
  // Modify: name and domain only (spec §9); the tenant code is taken only when the modify creates the row.
  await w.upsert(
    'tenant',
    scope,
    '',
    ts,
    { name: d.name ?? undefined, domain_name: d.domainName ?? undefined, test: testOf(d) },
    { tenant_code: d.tenantCode ?? null, order_id: d.orderId ?? null },
  );
}

/** Associated data binding a sealed client secret to its row. */
export const secretAad = (scope: Scope, appId: string) => `kit_apps|${scope.instanceId}|${scope.tenantId}|${appId}`;

export async function applyApplicationSync(
  w: KitWriter,
  box: () => SecretBox,
  d: AppSync,
  ts: string | null,
): Promise<void> {
  const scope = scopeOf(d);
  if (d.flag === 0) {
    await w.remove('app', scope, d.appId, ts);
    return;
  }
  let sealed: string | undefined;
  if (d.clientSecret) {
    const aad = secretAad(scope, d.appId);
    const existing = (await w.row('app', scope, d.appId))?.client_secret_enc;
    let same = false;
    if (typeof existing === 'string') {
      try {
        same = box().open(existing, aad) === d.clientSecret;
      } catch {
        same = false; // unreadable (key replaced): store the new value
      }
    }
    // A fresh IV makes every seal different; re-seal only when the secret really changed.
    if (!same) sealed = box().seal(d.clientSecret, aad);
  }
  await w.upsert('app', scope, d.appId, ts, {
    client_id: d.clientId ?? undefined,
    client_secret_enc: sealed,
    test: testOf(d),
  });
}

function userFields(u: KitUser, appId: string, test: number, replace: boolean): Record<string, unknown> {
  // On add, absent descriptive fields are cleared; on modify they are kept.
  const text = (v: string | null | undefined) => (v === undefined ? (replace ? null : undefined) : v);
  return {
    app_id: appId,
    name: text(u.name),
    org_code: text(u.orgCode),
    role: u.role === undefined ? (replace ? 'user' : undefined) : (u.role ?? 'user'),
    enabled: u.enable === undefined ? (replace ? 1 : undefined) : u.enable ? 1 : 0,
    employee_code: text(u.employeeCode),
    email: text(u.email),
    mobile: text(u.mobile),
    position: text(u.position),
    employee_type: text(u.employeeType),
    work_place: text(u.workPlace),
    entry_date: text(u.entryDate),
    test,
  };
}

export async function applyAuthSync(w: KitWriter, d: AuthSync, ts: string | null): Promise<void> {
  const scope = scopeOf(d);
  for (const u of d.userList) {
    if (d.flag === 0 || d.flag === 3) {
      // Delete and cancel-authorisation both end the user's authorisation for this instance.
      await w.remove('user', scope, u.userName, ts);
    } else {
      // Being listed in an authorisation sync is the authorisation: enabled unless `enable` says otherwise.
      await w.upsert('user', scope, u.userName, ts, userFields(u, d.appId, testOf(d), d.flag === 1), {
        role: 'user',
        enabled: 1,
      });
    }
  }
}

export async function applySingleOrgSync(w: KitWriter, d: SingleOrgSync, ts: string | null): Promise<void> {
  const scope = scopeOf(d);
  if (d.flag === 0) {
    // Children keep their parent code: the marketplace sends their own changes.
    await w.remove('org', scope, d.orgCode, ts);
    return;
  }
  await w.upsert(
    'org',
    scope,
    d.orgCode,
    ts,
    {
      org_name: d.orgName ?? undefined,
      // Add: absent parent = top level. Modify: absent parent = unchanged; empty = moved to the top.
      parent_code: d.flag === 1 ? (d.parentCode ?? null) : d.parentCode,
      test: testOf(d),
    },
    { parent_code: null },
  );
}

/**
 * Full sync: the listed units become the tenant's tree, in the caller's single transaction. Units missing
 * from the list are deleted unless changed after the snapshot's time; listed units are upserted; a repeat
 * of the same snapshot changes nothing.
 */
export async function applyAllOrgSync(w: KitWriter, db: Storage, d: AllOrgSync, ts: string | null): Promise<void> {
  const scope = scopeOf(d);
  const listed = new Set<string>();
  for (const u of d.orgInfoList) {
    listed.add(u.orgCode);
    await w.upsert('org', scope, u.orgCode, ts, {
      org_name: u.orgName,
      parent_code: u.parentCode ?? null,
      test: testOf(d),
    });
  }
  const existing = await db.all<{ org_code: string; source_ts: string | null }>(
    'SELECT org_code, source_ts FROM kit_org_units WHERE instance_id = ? AND tenant_id = ?',
    [scope.instanceId, scope.tenantId],
  );
  for (const row of existing) {
    if (listed.has(row.org_code)) continue;
    if (older(ts, row.source_ts)) bump(w.counts, 'kept');
    else await w.remove('org', scope, row.org_code, ts);
  }
}

/** Writes the request's audit entry when something changed (one entry per request, not per row). */
export async function auditKit(
  db: Storage,
  w: KitWriter,
  activity: string,
  scope: Scope,
  extra: Record<string, unknown>,
  at: Date,
) {
  if (!w.anyChange) return;
  await audit(db, {
    actor: `marketplace:${activity}`,
    action: activity,
    entitlementId: scope.instanceId || null,
    detail: { tenantId: scope.tenantId, ...extra, counts: w.counts, changes: w.changed },
    at,
  });
}

/** Drops nonces past their window and tombstones older than any plausible late delivery. */
export async function pruneKit(db: Storage, nowMs: number, tombstoneDays = 30): Promise<void> {
  await db.run('DELETE FROM kit_nonces WHERE expires_at < ?', [nowMs]);
  await db.run('DELETE FROM kit_tombstones WHERE created_at < ?', [
    new Date(nowMs - tombstoneDays * 86_400_000).toISOString(),
  ]);
}
