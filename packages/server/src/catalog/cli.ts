import { readFileSync } from 'node:fs';
import { LicensorError } from '@licensor/shared';
import type { Command } from 'commander';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { fields, table } from '../cli/output';
import type { Runner, Session } from '../cli/session';
import { setProductPolicy } from '../licensing';
import type { Features } from './model';
import { policyView } from './router';
import {
  applyCatalog,
  formatChanges,
  getProduct,
  listUnknownSkus,
  readCatalog,
  removeProduct,
  removeSku,
  requireProduct,
  resolveModel,
  setProduct,
  setSku,
  type UnknownSku,
} from './store';

/** `licensor catalog …` and `licensor policy …`: the same service functions as the admin API. */

export const collect = (value: string, previous: string[] = []) => [...previous, value];

/** `--feature export`, `--feature maxProjects=20`, `--feature beta=false` → {export: true, maxProjects: 20, beta: false}. */
export function parseFeatureOptions(items: string[] = []): Features {
  const out: Features = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    const raw = eq < 0 ? 'true' : item.slice(eq + 1).trim();
    if (raw === 'true' || raw === 'on') out[name] = true;
    else if (raw === 'false' || raw === 'off') out[name] = false;
    else if (raw !== '' && Number.isFinite(Number(raw))) out[name] = Number(raw);
    else {
      throw new LicensorError(
        'INVALID_INPUT',
        `--feature ${item}: a feature is name, name=true|false or name=<number> (e.g. --feature maxProjects=20)`,
      );
    }
  }
  return out;
}

/** `key=value` pairs of policy fields; values are JSON where they parse (numbers, booleans, objects), else text. */
export function parsePolicyPairs(pairs: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      throw new LicensorError(
        'INVALID_INPUT',
        `${pair}: expected field=value, e.g. mode=floating leaseMinutes=30 'transferLimit={"count":3,"periodDays":30}'`,
      );
    }
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // plain text such as node-locked
    }
    out[pair.slice(0, eq)] = value;
  }
  return out;
}

function parsePolicyJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new LicensorError('INVALID_INPUT', `--policy must be JSON, e.g. --policy '{"mode":"floating"}'`);
  }
}

const intOption = (value: string | undefined, name: string): number | undefined => {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new LicensorError('INVALID_INPUT', `${name} must be a whole number, got ${value}`);
  return Number(value);
};

function readCatalogFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new LicensorError('NOT_FOUND', `Cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    // YAML is a superset of JSON: catalog.json works too.
    return parseYaml(text);
  } catch (err) {
    throw new LicensorError('INVALID_INPUT', `${path} is not valid YAML: ${(err as Error).message}`);
  }
}

async function apply(s: Session, file: string, opts: { dryRun?: boolean; prune?: boolean }) {
  const result = await applyCatalog(await s.ctx(), readCatalogFile(file), { ...opts, actor: s.actor });
  s.print(result, () => {
    const diff = formatChanges(result.changes);
    if (result.changes.length === 0) return diff;
    return opts.dryRun
      ? `${diff}Dry run: nothing changed. Run again without --dry-run to apply ${result.changes.length} change(s).`
      : `${diff}Applied ${result.changes.length} change(s).`;
  });
}

const unknownColumns = [
  { header: 'PRODUCT', value: (u: UnknownSku) => u.productId, max: 32 },
  { header: 'SKU', value: (u: UnknownSku) => u.skuCode, max: 40 },
  { header: 'LICENSES', value: (u: UnknownSku) => u.licenses, align: 'right' as const },
  { header: 'LAST SEEN', value: (u: UnknownSku) => u.lastSeenAt.slice(0, 19).replace('T', ' ') },
  { header: 'DEFAULTS FROM', value: (u: UnknownSku) => (u.productInCatalogue ? 'product' : 'built-in (no product)') },
];

export function registerCatalogCommands(program: Command, run: Runner): void {
  const catalog = program
    .command('catalog')
    .description('products, SKUs, editions and features (what each license is entitled to)');

  catalog
    .command('apply <file>')
    .description('make the catalogue match a YAML (or JSON) catalogue file; idempotent')
    .option('--dry-run', 'print the changes without applying them')
    .option('--prune', 'also remove products the file does not list')
    .action(run(apply));

  catalog
    .command('show [productId]')
    .description('print the catalogue (or one product) as a catalogue file you can edit and apply')
    .action(
      run(async (s: Session, productId: string | undefined) => {
        const data = productId
          ? { products: [await requireProduct(await s.db(), productId)] }
          : await readCatalog(await s.db());
        s.print(data, () =>
          data.products.length ? toYaml(data) : 'The catalogue is empty: see `licensor catalog apply --help`.',
        );
      }),
    );

  catalog
    .command('set-product <productId>')
    .description(
      'add a product or replace its own fields (name, default edition, features, seats, policy); its SKUs stay',
    )
    .option('--name <name>', 'display name')
    .option('--edition <edition>', 'edition of a license whose SKU the catalogue does not know')
    .option('--feature <name[=value]>', 'a feature: name (on), name=false, name=<number>; repeatable', collect)
    .option('--seats <n>', 'seats of a license whose SKU names none')
    .option('--policy <json>', `policy defaults, e.g. '{"mode":"floating","leaseMinutes":30}'`)
    .action(
      run(async (s: Session, productId: string, o: Record<string, string | string[] | undefined>) => {
        const p = await setProduct(
          await s.ctx(),
          {
            id: productId,
            name: o.name,
            edition: o.edition,
            features: parseFeatureOptions(o.feature as string[] | undefined),
            seats: intOption(o.seats as string | undefined, '--seats'),
            policy: parsePolicyJson(o.policy as string | undefined),
          },
          s.actor,
        );
        s.print(p, () => `Product ${p.id} saved.\n${toYaml({ products: [p] })}`);
      }),
    );

  catalog
    .command('remove-product <productId>')
    .description('remove a product and its SKUs (its licenses keep working with the built-in defaults)')
    .action(
      run(async (s: Session, productId: string) => {
        const removed = await removeProduct(await s.ctx(), productId, s.actor);
        if (!removed) throw new LicensorError('NOT_FOUND', `No product ${productId} in the catalogue`);
        s.print({ removed }, () => `Product ${productId} removed.`);
      }),
    );

  catalog
    .command('set-sku <productId> <skuCode>')
    .description('add a SKU to a catalogue product or replace it')
    .requiredOption('--edition <edition>', 'edition name (e.g. Pro)')
    .option('--feature <name[=value]>', 'a feature: name (on), name=false, name=<number>; repeatable', collect)
    .option('--seats <n>', 'seats a license of this SKU gets')
    .option('--policy <json>', `policy overrides, e.g. '{"mode":"floating"}'`)
    .action(
      run(async (s: Session, productId: string, skuCode: string, o: Record<string, string | string[] | undefined>) => {
        const sku = await setSku(
          await s.ctx(),
          productId,
          {
            code: skuCode,
            edition: o.edition,
            features: parseFeatureOptions(o.feature as string[] | undefined),
            seats: intOption(o.seats as string | undefined, '--seats'),
            policy: parsePolicyJson(o.policy as string | undefined),
          },
          s.actor,
        );
        s.print(sku, () => `SKU ${productId} / ${sku.code} saved.\n${toYaml(sku)}`);
      }),
    );

  catalog
    .command('remove-sku <productId> <skuCode>')
    .description("remove a SKU (its licenses get the product's defaults and are listed by unknown-skus)")
    .action(
      run(async (s: Session, productId: string, skuCode: string) => {
        const removed = await removeSku(await s.ctx(), productId, skuCode, s.actor);
        if (!removed)
          throw new LicensorError('NOT_FOUND', `No SKU ${skuCode} of product ${productId} in the catalogue`);
        s.print({ removed }, () => `SKU ${productId} / ${skuCode} removed.`);
      }),
    );

  catalog
    .command('unknown-skus')
    .description('SKUs licenses carry that the catalogue does not list (they get the product defaults)')
    .option('--include-test', 'include marketplace debug traffic')
    .action(
      run(async (s: Session, o: { includeTest?: boolean }) => {
        const items = await listUnknownSkus(await s.db(), o);
        s.print({ items }, () =>
          items.length
            ? `${table(items, unknownColumns)}Add them with \`licensor catalog set-sku <product> <sku> --edition …\`.\n`
            : 'Every SKU in use is in the catalogue.',
        );
      }),
    );

  catalog
    .command('resolve <productId> [skuCode]')
    .description('what a license of this product and SKU gets: edition, features, seats, policy')
    .action(
      run(async (s: Session, productId: string, skuCode: string | undefined) => {
        const m = await resolveModel(await s.db(), productId, skuCode);
        const known = (await getProduct(await s.db(), productId)) !== undefined;
        s.print(m, () =>
          fields([
            ['Product / SKU', [productId, skuCode].filter(Boolean).join(' / ')],
            ['Edition', m.edition ?? '-'],
            ['Features', Object.keys(m.features).length ? JSON.stringify(m.features) : 'none'],
            ['Seats', m.seats],
            [
              'Policy',
              `${m.policy.mode}, lease ${m.policy.leaseMinutes} min, file TTL ${m.policy.fileTtlDays} d, grace ${m.policy.offlineGraceDays} d`,
            ],
            [
              'Note',
              m.unknownSku
                ? `SKU not in the catalogue: ${known ? "the product's" : 'built-in'} defaults apply`
                : known
                  ? ''
                  : 'product not in the catalogue',
            ],
          ]),
        );
      }),
    );

  const policy = program.command('policy').description("a product's licensing policy defaults (`*` = every product)");
  const showPolicy = async (s: Session, productId: string) => {
    const v = await policyView(await s.ctx(), productId);
    s.print(
      v,
      () =>
        `${productId}: ${v.overrides ? `overrides ${JSON.stringify(v.overrides)}` : 'no overrides'}\n${fields(
          Object.entries(v.effective).map(([k, val]) => [k, typeof val === 'object' ? JSON.stringify(val) : val]),
        )}`,
    );
  };
  policy.command('show <productId>').description('the overrides and the effective policy').action(run(showPolicy));
  policy
    .command('set <productId> <field=value...>')
    .description(
      'set policy fields (merged with the current overrides): mode, maxDevices, checkInIntervalHours, fileTtlDays, ' +
        'offlineGraceDays, leaseMinutes, matchRule, allowVirtualMachines, requireFingerprint, transferLimit, requireNamedUser',
    )
    .option('--replace', 'replace the overrides instead of merging')
    .action(
      run(async (s: Session, productId: string, pairs: string[], o: { replace?: boolean }) => {
        const current = (await policyView(await s.ctx(), productId)).overrides ?? {};
        const next = { ...(o.replace ? {} : current), ...parsePolicyPairs(pairs) };
        await setProductPolicy(await s.db(), productId, next as never, s.actor);
        await showPolicy(s, productId);
      }),
    );
  policy
    .command('clear <productId>')
    .description('remove the overrides (the built-in defaults apply again)')
    .action(
      run(async (s: Session, productId: string) => {
        await setProductPolicy(await s.db(), productId, null, s.actor);
        await showPolicy(s, productId);
      }),
    );
}
