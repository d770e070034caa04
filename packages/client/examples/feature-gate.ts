/**
 * Gating features on the License, offline: the edition and features the merchant's catalogue gave the
 * customer's SKU are signed into the License file, so the app decides without asking the server.
 *   LICENSOR_ROOT_CERT=licensor-root.pem LICENSOR_PRODUCT_ID=com.example.studio \
 *   npx tsx examples/feature-gate.ts <project count>
 */
import { readFileSync } from 'node:fs';
import { LicenseManager, type LicenseManagerOptions } from '@licensor/client';

export interface Gates {
  edition: string;
  canExport: boolean;
  canSync: boolean;
  /** How many projects this customer may keep (Infinity when the license sets no limit). */
  maxProjects: number;
}

export async function featureGates(overrides: Partial<LicenseManagerOptions> = {}): Promise<Gates> {
  const manager = new LicenseManager({
    productId: process.env.LICENSOR_PRODUCT_ID ?? 'com.example.studio',
    roots: [readFileSync(process.env.LICENSOR_ROOT_CERT ?? 'licensor-root.pem', 'utf8')],
    appName: 'Example Studio',
    ...overrides,
  });
  // No serverUrl, no network: verify() checks the stored License's signature, device and dates offline.
  const status = await manager.verify();
  const limit = manager.featureValue('maxProjects'); // a number, true (no limit) or undefined (not in the edition)
  return {
    edition: status.valid ? (status.license?.edition ?? 'Standard') : 'Unlicensed',
    canExport: manager.hasFeature('export'),
    canSync: manager.hasFeature('sync'),
    maxProjects: typeof limit === 'number' ? limit : limit === true ? Number.POSITIVE_INFINITY : 3,
  };
}

/** The app's own rule: may the customer create one more project? */
export const mayCreateProject = (gates: Gates, projects: number): boolean => projects < gates.maxProjects;

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) {
  const gates = await featureGates();
  const projects = Number(process.argv[2] ?? 0);
  console.log(
    `${gates.edition} edition: export ${gates.canExport ? 'on' : 'off'}, sync ${gates.canSync ? 'on' : 'off'}`,
  );
  console.log(
    mayCreateProject(gates, projects)
      ? `Project ${projects + 1} of ${gates.maxProjects}: create it.`
      : `Your edition allows ${gates.maxProjects} projects: upgrade to create more.`,
  );
}
