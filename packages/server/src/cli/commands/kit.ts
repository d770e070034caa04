import { LicensorError } from '@licensor/shared';
import type { Command } from 'commander';
import type { Page } from '../../admin/pagination';
import {
  type KitOrgNode,
  type KitTenantDetail,
  type KitTenantSummary,
  listTenants,
  showTenant,
} from '../../kit/queries';
import { fields, table } from '../output';
import type { Session } from '../session';

/**
 * `licensor kit …`: the operators' view of enterprise sync from the command line (same queries as the admin
 * API). Register with `registerKitCommands(program, run)` next to the other command groups.
 */

/** Structurally the CLI's Runner: one Session per invocation, closed afterwards. */
export type KitRunner = <A extends unknown[]>(
  fn: (s: Session, ...args: A) => unknown | Promise<unknown>,
) => (...args: unknown[]) => Promise<void>;

export function renderTenants(page: Page<KitTenantSummary>): string {
  if (page.items.length === 0) return 'No enterprises synced (debug data is hidden unless --include-test).\n';
  const body = table(page.items, [
    { header: 'INSTANCE', value: (t) => t.instanceId || '-', max: 36 },
    { header: 'TENANT', value: (t) => t.tenantId, max: 36 },
    { header: 'CODE', value: (t) => t.tenantCode, max: 20 },
    { header: 'NAME', value: (t) => (t.tenantSynced ? t.name : '(tenantSync not received)'), max: 30 },
    { header: 'APPS', value: (t) => t.apps, align: 'right' },
    { header: 'UNITS', value: (t) => t.orgUnits, align: 'right' },
    { header: 'USERS', value: (t) => `${t.enabledUsers}/${t.users}`, align: 'right' },
    { header: 'TEST', value: (t) => (t.test ? 'yes' : '') },
    { header: 'FIRST SEEN', value: (t) => t.firstSeenAt.slice(0, 19).replace('T', ' ') },
  ]);
  const more = page.nextCursor ? `, more with --cursor ${page.nextCursor}` : '';
  return `${body}${page.items.length} of ${page.total}${more}\n`;
}

function renderTree(nodes: KitOrgNode[], indent = ''): string[] {
  const lines: string[] = [];
  nodes.forEach((n, i) => {
    const last = i === nodes.length - 1;
    const flags = [n.parentMissing ? `parent ${n.parentCode} not synced` : '', n.cycle ? 'parent loop' : '']
      .filter(Boolean)
      .join(', ');
    const users = n.users ? ` · ${n.users} user${n.users === 1 ? '' : 's'}` : '';
    lines.push(`${indent}${last ? '└─ ' : '├─ '}${n.orgName} (${n.orgCode})${users}${flags ? ` [${flags}]` : ''}`);
    lines.push(...renderTree(n.children, `${indent}${last ? '   ' : '│  '}`));
  });
  return lines;
}

export function renderTenant(d: KitTenantDetail): string {
  const parts = [
    fields([
      ['Instance', d.instanceId || '(empty: seller credential application)'],
      ['Tenant', d.tenantId],
      ['Code', d.tenant?.tenantCode],
      ['Name', d.tenant ? d.tenant.name : '(tenantSync not received)'],
      ['Domain', d.tenant?.domainName],
      ['Order', d.tenant?.orderId],
      ['Test data', d.tenant?.test ? 'yes' : 'no'],
      ['Entitlement', d.entitlement ? `${d.entitlement.id} (${d.entitlement.family}, ${d.entitlement.status})` : null],
    ]),
    `\nApplications (${d.apps.length})\n`,
    d.apps.length
      ? table(d.apps, [
          { header: 'APP', value: (a) => a.appId },
          { header: 'CLIENT ID', value: (a) => a.clientId },
          { header: 'SECRET', value: (a) => (a.hasClientSecret ? 'stored (encrypted)' : 'none') },
          { header: 'UPDATED', value: (a) => a.updatedAt.slice(0, 19).replace('T', ' ') },
        ])
      : '',
    `\nOrganisation (${d.orgUnits} units)\n`,
    d.orgTree.length ? `${renderTree(d.orgTree).join('\n')}\n` : '',
    `\nUsers (${d.users.length}, ${d.users.filter((u) => u.enabled).length} enabled)\n`,
    d.users.length
      ? table(d.users, [
          { header: 'USER', value: (u) => u.userName },
          { header: 'NAME', value: (u) => u.name, max: 24 },
          { header: 'ORG', value: (u) => u.orgCode },
          { header: 'ROLE', value: (u) => u.role },
          { header: 'ENABLED', value: (u) => (u.enabled ? 'yes' : 'no') },
          { header: 'APP', value: (u) => u.appId },
        ])
      : '',
  ];
  return parts.join('');
}

export function registerKitCommands(program: Command, run: KitRunner): Command {
  const kit = program.command('kit').description('Enterprise sync (KooGallery Kit): tenants, apps, org trees, users');
  kit
    .command('tenants')
    .description('List the enterprises synced by the marketplace, newest first')
    .option('--instance <id>', 'only this instance (- for the empty instance id)')
    .option('--search <text>', 'match tenant id, code, name or domain')
    .option('--include-test', 'include marketplace debug data (testFlag 1)')
    .option('--limit <n>', 'rows per page (≤200)', '50')
    .option('--page <n>', 'page number')
    .option('--cursor <cursor>', 'continue after a previous page')
    .action(
      run(
        async (
          s,
          opts: {
            instance?: string;
            search?: string;
            includeTest?: boolean;
            limit: string;
            page?: string;
            cursor?: string;
          },
        ) => {
          const page = await listTenants(await s.db(), {
            instanceId: opts.instance,
            q: opts.search,
            includeTest: Boolean(opts.includeTest),
            limit: opts.limit,
            page: opts.page,
            cursor: opts.cursor,
          });
          s.print(page, () => renderTenants(page));
        },
      ),
    );
  kit
    .command('tenant')
    .description('Show one enterprise: its apps (never the client secret), org tree and authorised users')
    .argument('<instanceId>', 'instance id (- for the empty instance id)')
    .argument('<tenantId>', 'tenant id')
    .action(
      run(async (s, instanceId: string, tenantId: string) => {
        const detail = await showTenant(await s.db(), instanceId, tenantId);
        if (!detail) {
          throw new LicensorError(
            'NOT_FOUND',
            `Nothing was synced for tenant ${tenantId} of instance ${instanceId}; list them with \`licensor kit tenants\``,
          );
        }
        s.print(detail, () => renderTenant(detail));
      }),
    );
  return kit;
}
