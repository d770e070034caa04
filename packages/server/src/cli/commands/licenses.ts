import { type DeviceSummary, LicensorError } from '@licensor/shared';
import type { Command } from 'commander';
import { requireEntitlement } from '../../admin/actions';
import { type EntitlementView, entitlementView } from '../../admin/queries';
import { collect, parseFeatureOptions } from '../../catalog/cli';
import { licenseModel } from '../../catalog/store';
import { createDirectLicense, updateLicense } from '../../licensing';
import { EXPIRES_FORMS, parseExpiryText } from '../expiry';
import { table } from '../output';
import type { Runner, Session } from '../session';

/**
 * `licensor licenses create|update`: direct licenses (sold outside KooGallery) and changes to the seats,
 * expiry, SKU and customer of any license. The same service functions as POST/PATCH /api/admin/v1/entitlements.
 */

const NO_EXPIRY = new Set(['never', 'none']);

/** `--expires`: see EXPIRES_FORMS (a date alone is the end of that day, UTC), or `never`. */
function expiryOption(value: string | undefined): string | null | undefined {
  if (value === undefined) return undefined;
  if (NO_EXPIRY.has(value.trim().toLowerCase())) return null;
  const at = parseExpiryText(value);
  if (!at) {
    throw new LicensorError(
      'INVALID_INPUT',
      `--expires ${value} is not a date: give 2027-01-31 (end of that day UTC), 2027-01-31T12:00:00Z, 20270131120000 or never`,
    );
  }
  return at.toISOString();
}

/** `--seats`: a whole number, or `catalog` to follow the SKU's seats again (update only). */
function seatsOption(value: string | undefined, allowCatalog: boolean): number | null | undefined {
  if (value === undefined) return undefined;
  if (allowCatalog && value.trim().toLowerCase() === 'catalog') return null;
  const n = Number(value);
  if (!Number.isInteger(n)) {
    throw new LicensorError(
      'INVALID_INPUT',
      `--seats ${value} is not a whole number${allowCatalog ? " (or 'catalog' to follow the SKU's seats)" : ''}`,
    );
  }
  return n;
}

const date = (iso: string | null) => (iso ? iso.slice(0, 19).replace('T', ' ') : 'no expiry');

/** `--edition`: a name, or `catalog` to follow the SKU's edition again (update only). */
function editionOption(value: string | undefined, allowCatalog: boolean): string | null | undefined {
  if (value === undefined) return undefined;
  return allowCatalog && value.trim().toLowerCase() === 'catalog' ? null : value;
}

/** `--feature` (repeatable) sets the license's own features; `--clear-features` drops them (update only). */
function featuresOption(opts: Record<string, unknown>) {
  if (opts.clearFeatures === true) {
    if (opts.feature) throw new LicensorError('INVALID_INPUT', 'Give either --feature or --clear-features, not both');
    return null;
  }
  return opts.feature ? parseFeatureOptions(opts.feature as string[]) : undefined;
}

async function licenseSummary(s: Session, e: EntitlementView): Promise<string> {
  const model = await licenseModel(await s.db(), {
    product_id: e.productId,
    sku_code: e.skuCode,
    edition: e.edition,
    features: e.features ? JSON.stringify(e.features) : null,
  });
  const features = Object.entries(model.features).map(([k, v]) => (v === true ? k : `${k}=${v}`));
  const own = e.edition !== null || e.features !== null ? ' (set on the license)' : '';
  return [
    `  Code      ${e.code}`,
    `  License   ${e.id} (${e.family}, ${e.status})`,
    `  Product   ${e.productId}${e.skuCode ? ` / SKU ${e.skuCode}` : ''}`,
    `  Edition   ${model.edition ?? '-'}${features.length ? `; features ${features.join(', ')}` : ''}${own}`,
    `  Seats     ${e.seats}${e.seatsOverride === null ? ' (from the catalogue)' : ' (set on the license)'}`,
    `  Expires   ${date(e.expiresAt)}`,
    `  Customer  ${e.customerName ?? '-'}`,
  ].join('\n');
}

async function licensesCreate(s: Session, opts: Record<string, string | undefined>) {
  const ctx = await s.ctx();
  const ent = await createDirectLicense(
    ctx,
    {
      productId: opts.product,
      sku: opts.sku,
      seats: seatsOption(opts.seats, false),
      edition: editionOption(opts.edition, false) ?? undefined,
      features: featuresOption(opts) ?? undefined,
      expiresAt: expiryOption(opts.expires),
      customer: opts.customer,
    },
    s.actor,
  );
  const view = entitlementView(ent);
  const summary = await licenseSummary(s, view);
  s.print(
    { entitlement: view },
    () => `Issued license ${view.code}: give this code to the customer to type into the software.\n${summary}\n`,
  );
}

async function licensesUpdate(s: Session, ref: string, opts: Record<string, string | boolean | undefined>) {
  const ctx = await s.ctx();
  const ent = await requireEntitlement(ctx.db, ref);
  let result: Awaited<ReturnType<typeof updateLicense>>;
  try {
    result = await updateLicense(
      ctx,
      ent,
      {
        seats: seatsOption(opts.seats as string | undefined, true),
        expiresAt: expiryOption(opts.expires as string | undefined),
        sku: opts.sku,
        customer: opts.customer,
        edition: editionOption(opts.edition as string | undefined, true),
        features: featuresOption(opts),
        releaseOldest: opts.releaseOldest === true ? true : undefined,
      },
      s.actor,
    );
  } catch (err) {
    // The devices are the point of this refusal: list them, then fail as usual (exit code, message).
    if (err instanceof LicensorError && err.code === 'SEATS_IN_USE' && !s.json) {
      const devices = (err.detail?.devices ?? []) as DeviceSummary[];
      s.io.stderr.write(
        `Devices holding seats (oldest first):\n${table(devices, [
          { header: 'ACTIVATION', value: (d: DeviceSummary) => d.id },
          { header: 'DEVICE', value: (d: DeviceSummary) => d.label ?? d.hostname, max: 28 },
          { header: 'PLATFORM', value: (d: DeviceSummary) => d.platform },
          { header: 'FIRST SEEN', value: (d: DeviceSummary) => d.firstSeenAt.slice(0, 19).replace('T', ' ') },
          { header: 'LAST SEEN', value: (d: DeviceSummary) => d.lastSeenAt.slice(0, 19).replace('T', ' ') },
        ])}`,
      );
    }
    throw err;
  }
  const view = entitlementView(result.entitlement);
  const released = result.releasedDevices.length
    ? `Released the seats of ${result.releasedDevices.length} oldest device(s): ${result.releasedDevices.join(', ')}.\n`
    : '';
  const summary = await licenseSummary(s, view);
  s.print(
    { entitlement: view, releasedDevices: result.releasedDevices },
    () => `${released}License ${view.id} updated; devices see it at their next check-in.\n${summary}\n`,
  );
}

export function registerLicenseCommands(program: Command, run: Runner): void {
  const licenses = program.command('licenses').description('direct licenses and changes to seats, expiry, SKU');
  licenses
    .command('create')
    .description('issue a license sold outside KooGallery: prints the LSR-… code for the customer')
    .requiredOption('--product <id>', 'product id (as in the catalogue)')
    .option('--sku <code>', 'SKU of the product in the catalogue: its edition, features, seats and policy apply')
    .option('--seats <n>', "devices allowed (default: the SKU's seats, else 1)")
    .option('--expires <date>', `expiry: ${EXPIRES_FORMS}, or never (default)`)
    .option('--customer <name>', 'who bought it (shown in listings and webhook events)')
    .option('--edition <name>', "the license's own edition (default: the SKU's)")
    .option(
      '--feature <name[=value]>',
      "a feature of its own over the SKU's: name, name=false, name=<number>; repeatable",
      collect,
    )
    .action(run((s, opts: Record<string, string | undefined>) => licensesCreate(s, opts)));
  licenses
    .command('update')
    .description('change seats, expiry, SKU or customer of a license (audited; devices see it at next check-in)')
    .argument('<license>', 'license code or id')
    .option('--seats <n>', "devices allowed, or 'catalog' to follow the SKU's seats again")
    .option('--expires <date>', `new expiry: ${EXPIRES_FORMS}, or never`)
    .option('--sku <code>', 'another SKU of the product: edition, features, seats and policy follow it')
    .option('--customer <name>', 'who the license belongs to')
    .option('--edition <name>', "the license's own edition, or 'catalog' to follow the SKU's again")
    .option(
      '--feature <name[=value]>',
      "the license's own features (replacing those it had): name, name=false, name=<number>; repeatable",
      collect,
    )
    .option('--clear-features', "drop the license's own features: its SKU's and product's apply again")
    .option('--release-oldest', 'when lowering seats below the devices in use, free the oldest devices first')
    .action(run((s, ref: string, opts: Record<string, string | boolean | undefined>) => licensesUpdate(s, ref, opts)));
}
