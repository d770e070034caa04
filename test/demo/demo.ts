/**
 * `pnpm demo`: the whole integration on one laptop. Starts the Licensor server on a temporary data folder
 * and the KooGallery simulator, then tells one story per license family: a purchase arrives through the
 * production interface, a desktop app (the real @licensor/client) activates, restarts offline, checks in,
 * and the marketplace renews, freezes, unfreezes and releases; finally the merchant revokes a license.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectFingerprint, fingerprintFromReadings, LicenseManager, type MachineFingerprint } from '@licensor/client';
import { createLogger, loadConfig, startServer } from '@licensor/server';
import { MarketplaceCaller } from '../../packages/server/src/simulator/caller';
import { compact, daysFromNow, ids } from '../../packages/server/src/simulator/ids';
import { MarketplaceSimulator } from '../../packages/server/src/simulator/marketplace';
import {
  type ClientHooks,
  familyAStory,
  familyBStory,
  familyCStory,
  type Step,
} from '../../packages/server/src/simulator/scenarios';

const PRODUCT = 'OFFI000000000000000001';
const ADMIN = 'demo-admin-token';
const tty = process.stdout.isTTY;
const paint = (code: string, s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
const green = (s: string) => paint('32', s);
const red = (s: string) => paint('31', s);
const dim = (s: string) => paint('2', s);
const bold = (s: string) => paint('1', s);

async function machine(): Promise<{ fp: MachineFingerprint; simulated: boolean }> {
  const real = await collectFingerprint();
  if (real.sufficient) return { fp: real, simulated: false };
  // Containers and CI runners report almost no hardware serials: play a desktop with a plausible set.
  return {
    simulated: true,
    fp: fingerprintFromReadings({
      machineId: 'demo-4c1f0e2a9b7d4e8f9a0b1c2d3e4f5a6b',
      hardwareUuid: '4C4C4544-0042-3510-8051-B3C04F4D3732',
      baseboardSerial: '.7Q5KQ73.CN1296',
      cpu: 'BFEBFBFF000906EA',
      diskSerials: ['S4EWNX0N123456'],
      macs: ['04:7C:16:5E:E3:5D'],
    }),
  };
}

async function main() {
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'licensor-demo-'));
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
    LICENSOR_ADMIN_TOKEN: ADMIN,
    LICENSOR_LOG_LEVEL: 'silent',
    LICENSOR_SCHEDULER: 'off',
  });
  const server = await startServer(config, createLogger('silent'));
  const root = server.keys.rootCertificatePem;
  const { fp, simulated } = await machine();

  console.log(bold('\nLicensor demo — KooGallery on one laptop\n'));
  console.log(`  server      ${server.url}  (data in ${config.dataDir})`);
  console.log(`  marketplace ${simUrl}  (simulated KooGallery open APIs, AK/SK checked on every call)`);
  console.log(
    `  desktop     @licensor/client with ${fp.usableComponents} fingerprint components${simulated ? ' (simulated machine: this host reports too few serials)' : ' of this machine'}`,
  );

  const marketLog: string[] = [];
  const caller = new MarketplaceCaller({
    url: `${server.url}/api/koogallery/produce`,
    key: 'demo-key',
    accessKeys: { default: 'demo-access-key' },
    print: (l) => marketLog.push(l),
  });

  let desktopCount = 0;
  /** A fresh desktop install: its own data folder, the pinned root, this machine's fingerprint. */
  const desktop = () => {
    const dataDir = join(work, `desktop-${++desktopCount}`);
    const make = (online: boolean) =>
      new LicenseManager({
        productId: PRODUCT,
        roots: [root],
        serverUrl: online ? server.url : undefined,
        dataDir,
        fingerprint: () => fp,
        appName: 'LicensorDemo',
        appVersion: '1.0.0',
        device: { label: 'Demo workstation' },
      });
    let manager = make(true);
    const hooks: ClientHooks & { manager: () => LicenseManager } = {
      manager: () => manager,
      activate: async (code) => (await manager.activate(code)).code,
      checkIn: async () => {
        const r = await manager.checkIn();
        return r.serverStatus ?? r.status.code;
      },
      verifyOffline: async () => {
        await manager.stop();
        const offline = make(false);
        const verdict = (await offline.verify()).code;
        await offline.stop();
        manager = make(true);
        return verdict;
      },
    };
    return hooks;
  };

  const all: Step[] = [];
  const narrate = (step: Step) => {
    const mark = step.ok ? green('✔') : red('✘');
    console.log(`  ${mark} ${step.title}${dim(`  — ${step.detail}`)}`);
    if (!step.ok) for (const l of marketLog.slice(-3)) console.log(dim(`      ${l}`));
    all.push(step);
  };

  const stories: [string, string, (c: ClientHooks) => Promise<Step[]>][] = [
    [
      'A',
      'License 1.0: the merchant mints the code at purchase',
      (c) => familyAStory({ caller, sim, client: c, narrate }),
    ],
    [
      'B',
      'License codes 2.0: the marketplace mints PL… codes',
      (c) => familyBStory({ caller, sim, client: c, narrate }),
    ],
    [
      'C',
      'Online License: newInstance + per-device License files',
      (c) => familyCStory({ caller, sim, client: c, narrate }),
    ],
  ];
  for (const [family, title, run] of stories) {
    console.log(bold(`\nFamily ${family} — ${title}`));
    const d = desktop();
    await run(d);
    await d.manager().stop();
  }

  console.log(bold('\nThe merchant revokes a license (admin API)'));
  const d = desktop();
  const purchase = await caller.call({
    activity: 'getLicense',
    businessId: ids.business(),
    customerId: ids.customer(),
    orderId: ids.order(),
    productId: PRODUCT,
    expireTime: compact(daysFromNow(365)),
    periodType: 'year',
  });
  const code = String(purchase.body.license);
  narrate({
    family: 'A',
    title: `A purchase arrives; the app activates ${code}`,
    ok: (await d.activate(code)) === 'VALID',
    detail: 'VALID',
  });
  const revoke = await fetch(`${server.url}/api/admin/v1/entitlements/${purchase.body.instanceId}/revoke`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ reason: 'chargeback' }),
  });
  narrate({
    family: 'A',
    title: 'An operator revokes it (chargeback)',
    ok: revoke.ok,
    detail: `HTTP ${revoke.status}`,
  });
  const verdict = await d.checkIn();
  narrate({
    family: 'A',
    title: 'The app checks in and locks',
    ok: verdict === 'REVOKED',
    detail: `client says ${verdict}`,
  });
  const deactivated = await d
    .manager()
    .deactivate()
    .then(() => true)
    .catch(() => false);
  narrate({
    family: 'A',
    title: 'The app removes its activation (seat freed)',
    ok: deactivated,
    detail: deactivated ? 'done' : 'failed',
  });
  await d.manager().stop();

  console.log(bold('\nSummary\n'));
  const rows = ['A', 'B', 'C'].map((f) => {
    const steps = all.filter((s) => s.family === f);
    return { f, total: steps.length, ok: steps.filter((s) => s.ok).length };
  });
  console.log('  family | steps | passed | failed');
  console.log('  -------|-------|--------|-------');
  for (const r of rows)
    console.log(
      `  ${r.f.padEnd(6)} | ${String(r.total).padStart(5)} | ${String(r.ok).padStart(6)} | ${String(r.total - r.ok).padStart(6)}`,
    );
  const failed = all.filter((s) => !s.ok).length;
  console.log(
    `\n  marketplace calls: ${caller.results.length} (all signed answers verified), open-API calls served by the simulator: ${sim.calls.length}, Licenses uploaded: ${sim.uploads.length}`,
  );
  console.log(
    `  ${failed === 0 ? green('All steps passed') : red(`${failed} step(s) failed`)} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
  console.log(`${all.length - failed} passed, ${failed} failed`);

  await server.close();
  await sim.close();
  rmSync(work, { recursive: true, force: true });
  process.exitCode = failed === 0 ? 0 : 1;
}

await main();
