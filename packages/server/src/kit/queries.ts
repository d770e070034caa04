import { z } from 'zod';
import { add, type Dataset, type Page, pageSchema, paginate, textSearch, where } from '../admin/pagination';
import type { Storage } from '../db/storage';
import type { Row } from '../db/types';
import { parseInput } from '../http/errors';

/**
 * Read side of the Kit data for operators (admin API and CLI). Never returns a client secret, only whether
 * one is stored. A tenant appears as soon as anything was synced under it — also when its own tenantSync
 * has not arrived (yet): `tenantSynced` tells which.
 */

export interface KitTenantSummary {
  instanceId: string;
  tenantId: string;
  tenantSynced: boolean;
  tenantCode: string | null;
  name: string | null;
  domainName: string | null;
  orderId: string | null;
  test: boolean;
  apps: number;
  orgUnits: number;
  users: number;
  enabledUsers: number;
  firstSeenAt: string;
  updatedAt: string | null;
}

const count = (table: string, extra = '') =>
  `(SELECT COUNT(*) FROM ${table} c WHERE c.instance_id = s.instance_id AND c.tenant_id = s.tenant_id${extra})`;

const TENANTS: Dataset<KitTenantSummary> = {
  from: `(SELECT s.instance_id, s.tenant_id, s.first_seen, t.tenant_code, t.name, t.domain_name, t.order_id,
            t.updated_at, CASE WHEN t.instance_id IS NOT NULL THEN 1 ELSE 0 END AS synced, COALESCE(t.test, s.test) AS test,
            ${count('kit_apps')} AS app_count, ${count('kit_org_units')} AS org_count,
            ${count('kit_users')} AS user_count, ${count('kit_users', ' AND c.enabled = 1')} AS enabled_count
          FROM (SELECT instance_id, tenant_id, MIN(created_at) AS first_seen, MAX(test) AS test FROM (
                  SELECT instance_id, tenant_id, created_at, test FROM kit_tenants
                  UNION ALL SELECT instance_id, tenant_id, created_at, test FROM kit_apps
                  UNION ALL SELECT instance_id, tenant_id, created_at, test FROM kit_org_units
                  UNION ALL SELECT instance_id, tenant_id, created_at, test FROM kit_users) AS items
                GROUP BY instance_id, tenant_id) s
          LEFT JOIN kit_tenants t ON t.instance_id = s.instance_id AND t.tenant_id = s.tenant_id) k`,
  select: '*',
  sort: ['first_seen', 'instance_id', 'tenant_id'],
  map: (r: Row) => ({
    instanceId: r.instance_id as string,
    tenantId: r.tenant_id as string,
    tenantSynced: r.synced === 1,
    tenantCode: (r.tenant_code as string | null) ?? null,
    name: (r.name as string | null) ?? null,
    domainName: (r.domain_name as string | null) ?? null,
    orderId: (r.order_id as string | null) ?? null,
    test: r.test === 1,
    apps: r.app_count as number,
    orgUnits: r.org_count as number,
    users: r.user_count as number,
    enabledUsers: r.enabled_count as number,
    firstSeenAt: r.first_seen as string,
    updatedAt: (r.updated_at as string | null) ?? null,
  }),
};

export const listTenantsQuery = z
  .object({
    ...pageSchema,
    instanceId: z.string().max(64).optional(),
    /** Matches tenant id, code, name or domain. */
    q: z.string().trim().min(1).max(200).optional(),
    /** Marketplace debug data (testFlag 1) is left out unless asked for, like every admin listing. */
    includeTest: z
      .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])])
      .default(false)
      .transform((v) => v === true || v === 'true' || v === '1' || v === 'yes'),
  })
  .strict();

export type ListTenantsInput = z.input<typeof listTenantsQuery>;

/** Tenants newest first, paged like every admin list (`limit`, `page` or `cursor`). */
export async function listTenants(db: Storage, input: ListTenantsInput = {}): Promise<Page<KitTenantSummary>> {
  const q = parseInput(listTenantsQuery, input, 'tenant listing');
  const w = where();
  if (q.instanceId !== undefined) add(w, 'instance_id = ?', q.instanceId === '-' ? '' : q.instanceId);
  if (q.q) {
    add(w, ...textSearch(db.dialect, ['tenant_id', 'tenant_code', 'name', 'domain_name'], q.q));
  }
  if (!q.includeTest) add(w, 'test = 0');
  return await paginate(db, TENANTS, w, q);
}

export interface KitOrgNode {
  orgCode: string;
  orgName: string;
  parentCode: string | null;
  /** The parent code names a unit that was not synced (yet): shown at the top level. */
  parentMissing?: true;
  /** Part of a parent loop (possible only through out-of-order moves): shown at the top level. */
  cycle?: true;
  users: number;
  children: KitOrgNode[];
}

export interface KitTenantDetail {
  instanceId: string;
  tenantId: string;
  tenant: {
    tenantCode: string | null;
    name: string | null;
    domainName: string | null;
    orderId: string | null;
    test: boolean;
    createdAt: string;
    updatedAt: string;
  } | null;
  /** The licence bought by newInstance, when this server has it (Kit data never requires it). */
  entitlement: { id: string; family: string; status: string; expiresAt: string | null } | null;
  apps: {
    appId: string;
    clientId: string | null;
    hasClientSecret: boolean;
    test: boolean;
    createdAt: string;
    updatedAt: string;
  }[];
  orgUnits: number;
  orgTree: KitOrgNode[];
  users: {
    userName: string;
    name: string | null;
    appId: string | null;
    orgCode: string | null;
    role: string | null;
    enabled: boolean;
    employeeCode: string | null;
    employeeType: string | null;
    position: string | null;
    email: string | null;
    mobile: string | null;
    workPlace: string | null;
    entryDate: string | null;
    test: boolean;
    createdAt: string;
    updatedAt: string;
  }[];
}

/** Builds the tree from flat units; units whose parent is missing or looped become roots, flagged. */
export function buildOrgTree(
  units: { org_code: string; org_name: string; parent_code: string | null }[],
  usersByOrg: Map<string, number> = new Map(),
): KitOrgNode[] {
  const nodes = new Map<string, KitOrgNode>();
  for (const u of units) {
    nodes.set(u.org_code, {
      orgCode: u.org_code,
      orgName: u.org_name,
      parentCode: u.parent_code,
      users: usersByOrg.get(u.org_code) ?? 0,
      children: [],
    });
  }
  const roots: KitOrgNode[] = [];
  for (const n of nodes.values()) {
    const parent = n.parentCode === null ? undefined : nodes.get(n.parentCode);
    if (parent) parent.children.push(n);
    else {
      if (n.parentCode !== null) n.parentMissing = true;
      roots.push(n);
    }
  }
  const seen = new Set<KitOrgNode>();
  const visit = (root: KitOrgNode) => {
    const stack = [root];
    while (stack.length) {
      const n = stack.pop()!;
      seen.add(n);
      stack.push(...n.children);
    }
  };
  for (const r of roots) visit(r);
  // Whatever is not reachable from a root sits on a loop: cut the loop at the first such unit.
  for (const n of nodes.values()) {
    if (seen.has(n)) continue;
    const parent = nodes.get(n.parentCode!)!;
    parent.children = parent.children.filter((c) => c !== n);
    n.cycle = true;
    roots.push(n);
    visit(n);
  }
  const sort = (list: KitOrgNode[]) => {
    list.sort((a, b) => a.orgName.localeCompare(b.orgName) || a.orgCode.localeCompare(b.orgCode));
    for (const n of list) sort(n.children);
  };
  sort(roots);
  return roots;
}

/** Everything synced for one instance + tenant; null when nothing is. `instanceId` '-' means the empty id. */
export async function showTenant(db: Storage, instanceId: string, tenantId: string): Promise<KitTenantDetail | null> {
  const inst = instanceId === '-' ? '' : instanceId;
  const key = [inst, tenantId];
  const t = await db.first<Row>('SELECT * FROM kit_tenants WHERE instance_id = ? AND tenant_id = ?', key);
  const apps = await db.all<Row>('SELECT * FROM kit_apps WHERE instance_id = ? AND tenant_id = ? ORDER BY app_id', key);
  const units = await db.all<{ org_code: string; org_name: string; parent_code: string | null }>(
    'SELECT org_code, org_name, parent_code FROM kit_org_units WHERE instance_id = ? AND tenant_id = ?',
    key,
  );
  const users = await db.all<Row>(
    'SELECT * FROM kit_users WHERE instance_id = ? AND tenant_id = ? ORDER BY user_name',
    key,
  );
  if (!t && apps.length === 0 && units.length === 0 && users.length === 0) return null;
  const ent = inst
    ? await db.first<Row>('SELECT id, family, status, expires_at FROM entitlements WHERE id = ?', [inst])
    : undefined;
  const usersByOrg = new Map<string, number>();
  for (const u of users) {
    if (typeof u.org_code === 'string') usersByOrg.set(u.org_code, (usersByOrg.get(u.org_code) ?? 0) + 1);
  }
  const s = (v: unknown) => (typeof v === 'string' ? v : null);
  return {
    instanceId: inst,
    tenantId,
    tenant: t
      ? {
          tenantCode: s(t.tenant_code),
          name: s(t.name),
          domainName: s(t.domain_name),
          orderId: s(t.order_id),
          test: t.test === 1,
          createdAt: t.created_at as string,
          updatedAt: t.updated_at as string,
        }
      : null,
    entitlement: ent
      ? {
          id: ent.id as string,
          family: ent.family as string,
          status: ent.status as string,
          expiresAt: s(ent.expires_at),
        }
      : null,
    apps: apps.map((a) => ({
      appId: a.app_id as string,
      clientId: s(a.client_id),
      hasClientSecret: typeof a.client_secret_enc === 'string',
      test: a.test === 1,
      createdAt: a.created_at as string,
      updatedAt: a.updated_at as string,
    })),
    orgUnits: units.length,
    orgTree: buildOrgTree(units, usersByOrg),
    users: users.map((u) => ({
      userName: u.user_name as string,
      name: s(u.name),
      appId: s(u.app_id),
      orgCode: s(u.org_code),
      role: s(u.role),
      enabled: u.enabled === 1,
      employeeCode: s(u.employee_code),
      employeeType: s(u.employee_type),
      position: s(u.position),
      email: s(u.email),
      mobile: s(u.mobile),
      workPlace: s(u.work_place),
      entryDate: s(u.entry_date),
      test: u.test === 1,
      createdAt: u.created_at as string,
      updatedAt: u.updated_at as string,
    })),
  };
}

/** Whether a named user is authorised (synced and enabled) for an instance — the licensing check. */
export async function isKitUserAuthorized(db: Storage, instanceId: string, userName: string): Promise<boolean> {
  return (
    (await db.first('SELECT 1 FROM kit_users WHERE instance_id = ? AND user_name = ? AND enabled = 1', [
      instanceId,
      userName,
    ])) !== undefined
  );
}
