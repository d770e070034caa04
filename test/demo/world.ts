import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fingerprintFromReadings, LicenseManager, type MachineFingerprint } from '@licensor/client';
import { createLogger, loadConfig, type RunningServer, startServer } from '@licensor/server';
import type { ClientHooks } from '@licensor/simulator';
import { MarketplaceCaller, MarketplaceSimulator } from '@licensor/simulator';

/**
 * One laptop's worth of KooGallery integration: the Licensor server on a temporary data folder, the
 * marketplace simulator it calls, a signed marketplace caller, and desktop installs of @licensor/client.
 * Shared by `pnpm demo` and the end-to-end tests.
 */

export const PRODUCT = 'OFFI000000000000000001';
export const ADMIN_TOKEN = 'demo-admin-token';

/** A plausible desktop, for hosts (containers, CI) that report too few hardware serials. */
export const SIMULATED_MACHINE: MachineFingerprint = fingerprintFromReadings({
  machineId: 'demo-4c1f0e2a9b7d4e8f9a0b1c2d3e4f5a6b',
  hardwareUuid: '4C4C4544-0042-3510-8051-B3C04F4D3732',
  baseboardSerial: '.7Q5KQ73.CN1296',
  cpu: 'BFEBFBFF000906EA',
  diskSerials: ['S4EWNX0N123456'],
  macs: ['04:7C:16:5E:E3:5D'],
});

export type Desktop = ClientHooks & { manager(): LicenseManager };

export interface World {
  server: RunningServer;
  sim: MarketplaceSimulator;
  simUrl: string;
  caller: MarketplaceCaller;
  makeCaller(clockSkewMs?: number): MarketplaceCaller;
  dataDir: string;
  /** A fresh desktop install with its own data folder. */
  desktop(fp?: MachineFingerprint): Desktop;
  close(): Promise<void>;
}

export async function startWorld(opts: { print?: (line: string) => void; kooTimeoutMs?: number } = {}): Promise<World> {
  const work = mkdtempSync(join(tmpdir(), 'licensor-world-'));
  const sim = new MarketplaceSimulator('DEMO_AK', 'DEMO_SK');
  const simUrl = await sim.listen();
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    LICENSOR_DATA_DIR: join(work, 'server'),
    LICENSOR_KOO_KEY: 'demo-key',
    LICENSOR_KOO_ACCESS_KEY: 'demo-access-key',
    LICENSOR_KOO_AK: 'DEMO_AK',
    LICENSOR_KOO_SK: 'DEMO_SK',
    LICENSOR_KOO_API_BASE: simUrl,
    LICENSOR_KOO_TIMEOUT_MS: String(opts.kooTimeoutMs ?? 4000),
    LICENSOR_ADMIN_TOKEN: ADMIN_TOKEN,
    LICENSOR_LOG_LEVEL: 'silent',
    LICENSOR_SCHEDULER: 'off',
  });
  const server = await startServer(config, createLogger('silent'));
  const root = server.keys.rootCertificatePem;
  const makeCaller = (clockSkewMs = 0) =>
    new MarketplaceCaller({
      url: `${server.url}/api/koogallery/produce`,
      key: 'demo-key',
      accessKeys: { default: 'demo-access-key' },
      clockSkewMs,
      print: opts.print ?? (() => {}),
    });
  let installs = 0;
  const desktop = (fp: MachineFingerprint = SIMULATED_MACHINE): Desktop => {
    const dataDir = join(work, `desktop-${++installs}`);
    const make = (online: boolean) =>
      new LicenseManager({
        productId: PRODUCT,
        roots: [root],
        serverUrl: online ? server.url : undefined,
        dataDir,
        fingerprint: () => fp,
        appName: 'LicensorDemo',
        appVersion: '1.0.0',
        device: { label: `Workstation ${installs}` },
      });
    let manager = make(true);
    return {
      manager: () => manager,
      activate: async (code) => (await manager.activate(code)).code,
      checkIn: async () => {
        const r = await manager.checkIn();
        return r.serverStatus ?? r.status.code;
      },
      // Restart the app without a server: the stored file is verified offline.
      verifyOffline: async () => {
        await manager.stop();
        const offline = make(false);
        const verdict = (await offline.verify()).code;
        await offline.stop();
        manager = make(true);
        return verdict;
      },
    };
  };
  return {
    server,
    sim,
    simUrl,
    caller: makeCaller(),
    makeCaller,
    dataDir: work,
    desktop,
    close: async () => {
      await server.close();
      await sim.close();
      rmSync(work, { recursive: true, force: true });
    },
  };
}
