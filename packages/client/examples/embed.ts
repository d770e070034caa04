/**
 * Embedding @licensor/client in a Node app or an Electron main process.
 *   LICENSOR_SERVER_URL=https://license.example.com LICENSOR_ROOT_CERT=licensor-root.pem \
 *   LICENSOR_PRODUCT_ID=com.example.studio npx tsx examples/embed.ts [LICENSE-CODE]
 */
import { readFileSync } from 'node:fs';
import { describeStatus, LicenseManager, type LicenseManagerOptions } from '@licensor/client';

export async function startLicensing(code?: string, overrides: Partial<LicenseManagerOptions> = {}) {
  const manager = new LicenseManager({
    productId: process.env.LICENSOR_PRODUCT_ID ?? 'com.example.studio',
    // The vendor's root certificate ships inside the app: the only key the client trusts.
    roots: [readFileSync(process.env.LICENSOR_ROOT_CERT ?? 'licensor-root.pem', 'utf8')],
    serverUrl: process.env.LICENSOR_SERVER_URL ?? 'https://license.example.com',
    appName: 'Example Studio', // names the per-user data folder
    appVersion: '2.1.0',
    ...overrides,
  });
  manager.on('status', (status) => console.log(`[license] ${status.code}: ${describeStatus(status.code)}`));

  let status = await manager.verify(); // offline, at every start
  if (status.code === 'NO_LICENSE' && code) {
    try {
      status = await manager.activate(code); // online, once
    } catch (err) {
      // LicensorError: err.code is TOO_MANY_DEVICES, NOT_FOUND, SERVER_UNREACHABLE, …
      console.error(`[license] activation failed: ${(err as Error).message}`);
    }
  }
  if (status.detail.warning) console.warn(`[license] ${status.detail.warning}`);
  manager.startAutoCheckIn(); // daily check-in while online; status changes arrive as 'status' events
  return { manager, status };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) {
  const { manager, status } = await startLicensing(process.argv[2]);
  console.log(status.valid ? 'Licensed: start the application.' : 'Not licensed: show the license window.');
  await manager.stop(); // on application exit
}
