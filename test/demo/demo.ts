/**
 * `npm run demo`: the whole integration on one laptop. Starts the Licensor server on a temporary data folder
 * and the KooGallery simulator, then tells one story per license family: a purchase arrives through the
 * production interface, a desktop app (the real @licensor/client) activates, restarts offline, checks in,
 * and the marketplace renews, freezes, unfreezes and releases; finally the merchant revokes a license.
 */
import { collectFingerprint, type MachineFingerprint } from '@licensor/client';
import { compact, daysFromNow, familyAStory, familyBStory, familyCStory, ids, type Step } from '@licensor/simulator';
import { ADMIN_TOKEN, type Desktop, PRODUCT, SIMULATED_MACHINE, startWorld } from './world';

const tty = process.stdout.isTTY;
const paint = (code: string, s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
const green = (s: string) => paint('32', s);
const red = (s: string) => paint('31', s);
const dim = (s: string) => paint('2', s);
const bold = (s: string) => paint('1', s);

async function machine(): Promise<{ fp: MachineFingerprint; simulated: boolean }> {
  const real = await collectFingerprint();
  // Containers and CI runners report almost no hardware serials: play a desktop with a plausible set.
  return real.sufficient ? { fp: real, simulated: false } : { fp: SIMULATED_MACHINE, simulated: true };
}

async function main() {
  const started = Date.now();
  const marketLog: string[] = [];
  const world = await startWorld({ print: (l) => marketLog.push(l) });
  const { server, sim, simUrl, caller } = world;
  const { fp, simulated } = await machine();

  console.log(bold('\nLicensor demo — KooGallery on one laptop\n'));
  console.log(`  server      ${server.url}  (database ${server.db.location})`);
  console.log(`  marketplace ${simUrl}  (simulated KooGallery open APIs, AK/SK checked on every call)`);
  console.log(
    `  desktop     @licensor/client with ${fp.usableComponents} fingerprint components${simulated ? ' (simulated machine: this host reports too few serials)' : ' of this machine'}`,
  );

  const desktop = (): Desktop => world.desktop(fp);

  const all: Step[] = [];
  const narrate = (step: Step) => {
    const mark = step.ok ? green('✔') : red('✘');
    console.log(`  ${mark} ${step.title}${dim(`  — ${step.detail}`)}`);
    if (!step.ok) for (const l of marketLog.slice(-3)) console.log(dim(`      ${l}`));
    all.push(step);
  };

  const stories: [string, string, (c: Desktop) => Promise<Step[]>][] = [
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

  const familySteps = all.length; // the merchant's story below is summarised on its own row
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
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
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
  const row = (f: string, steps: Step[]) => ({ f, total: steps.length, ok: steps.filter((s) => s.ok).length });
  const rows = [
    ...['A', 'B', 'C'].map((f) =>
      row(
        f,
        all.slice(0, familySteps).filter((s) => s.family === f),
      ),
    ),
    row('revoke', all.slice(familySteps)),
  ];
  console.log('  story  | steps | passed | failed');
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

  await world.close();
  process.exitCode = failed === 0 ? 0 : 1;
}

await main();
