import { LicensorError } from '@licensor/shared';
import { inTx, type Storage } from '../db/storage';
import { parseInput } from '../http/errors';
import type { PolicyOverrides } from '../licensing';
import { audit, type EntitlementWriter, rederiveProductSeats } from '../licensing';
import {
  type CatalogSpec,
  catalogSchema,
  type DerivedModel,
  deriveLicenseModel,
  type Features,
  type LicenseOverrides,
  type ProductSpec,
  productSchema,
  type SkuSpec,
  skuSchema,
} from './model';

/** Reads and writes the catalogue; every write is one transaction with its audit entry. */

/** Where catalogue writes go: the entitlement writer (re-derived seats are audited and heard, on its clock). */
export type CatalogWriter = EntitlementWriter;

/** Whether a catalogue change can move the seats of the product's licenses (a SKU or product came or went, or its seats changed). */
const movesSeats = (c: CatalogChange): boolean => c.op !== 'update' || 'seats' in c.fields;

interface ProductRow {
  product_id: string;
  name: string | null;
  edition: string | null;
  features: string;
  seats: number | null;
}
interface SkuRow {
  product_id: string;
  sku_code: string;
  edition: string;
  features: string;
  seats: number | null;
  policy: string;
}

const parse = <T>(json: string | null | undefined, fallback: T): T => {
  if (!json) return fallback;
  try {
    return JSON.parse(json) as T;
  } catch {
    return fallback;
  }
};

/** Drops undefined fields so that two specs compare equal whatever way they were written. */
function clean<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function skuFromRow(r: SkuRow): SkuSpec {
  return clean({
    code: r.sku_code,
    edition: r.edition,
    features: parse(r.features, {}),
    seats: r.seats ?? undefined,
    policy: parse<PolicyOverrides>(r.policy, {}),
  });
}

async function productPolicyOf(db: Storage, productId: string): Promise<PolicyOverrides> {
  return parse(
    (await db.first<{ policy: string }>('SELECT policy FROM product_policies WHERE product_id = ?', [productId]))
      ?.policy,
    {},
  );
}

async function productFromRow(db: Storage, r: ProductRow): Promise<ProductSpec> {
  const skus = (
    await db.all<SkuRow>('SELECT * FROM catalog_skus WHERE product_id = ? ORDER BY sku_code', [r.product_id])
  ).map(skuFromRow);
  return clean({
    id: r.product_id,
    name: r.name ?? undefined,
    edition: r.edition ?? undefined,
    features: parse(r.features, {}),
    seats: r.seats ?? undefined,
    policy: await productPolicyOf(db, r.product_id),
    skus,
  });
}

/** The whole catalogue, in the shape of the catalogue file (so `catalog show` output can be applied again). */
export async function readCatalog(db: Storage): Promise<CatalogSpec> {
  const rows = await db.all<ProductRow>('SELECT * FROM catalog_products ORDER BY product_id');
  const products: ProductSpec[] = [];
  for (const r of rows) products.push(await productFromRow(db, r));
  return { products };
}

export async function getProduct(db: Storage, productId: string): Promise<ProductSpec | undefined> {
  const row = await db.first<ProductRow>('SELECT * FROM catalog_products WHERE product_id = ?', [productId]);
  return row ? await productFromRow(db, row) : undefined;
}

export async function requireProduct(db: Storage, productId: string): Promise<ProductSpec> {
  const p = await getProduct(db, productId);
  if (!p) {
    throw new LicensorError(
      'NOT_FOUND',
      `No product ${productId} in the catalogue: add it with \`licensor catalog set-product ${productId}\` or a catalogue file`,
    );
  }
  return p;
}

// ------------------------------------------------------------------------------------------ diff

export interface CatalogChange {
  op: 'add' | 'update' | 'remove';
  kind: 'product' | 'sku';
  productId: string;
  skuCode?: string;
  /** Changed fields, before → after (for add: every field; for remove: none). */
  fields: Record<string, { before: unknown; after: unknown }>;
}

/** Key-order-independent JSON, so `{a, b}` and `{b, a}` are the same value. */
function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stable((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

function fieldDiff(
  before: Record<string, unknown> | undefined,
  after: Record<string, unknown> | undefined,
  keys: string[],
): CatalogChange['fields'] {
  const out: CatalogChange['fields'] = {};
  for (const k of keys) {
    const b = before?.[k];
    const a = after?.[k];
    if (stable(b) !== stable(a)) out[k] = { before: b ?? null, after: a ?? null };
  }
  return out;
}

const PRODUCT_FIELDS = ['name', 'edition', 'features', 'seats', 'policy'];
const SKU_FIELDS = ['edition', 'features', 'seats', 'policy'];

/**
 * What applying `desired` would change. Products missing from `desired` are kept unless `prune`; a listed
 * product's SKUs are exactly those listed (a SKU left out is removed: licenses of it then get the product's
 * defaults and are flagged as unknown SKUs).
 */
export function diffCatalog(
  current: CatalogSpec,
  desired: CatalogSpec,
  opts: { prune?: boolean } = {},
): CatalogChange[] {
  const changes: CatalogChange[] = [];
  const currentById = new Map(current.products.map((p) => [p.id, p]));
  const desiredIds = new Set(desired.products.map((p) => p.id));
  for (const want of desired.products) {
    const have = currentById.get(want.id);
    const fields = fieldDiff(have as never, want as never, PRODUCT_FIELDS);
    if (!have) changes.push({ op: 'add', kind: 'product', productId: want.id, fields });
    else if (Object.keys(fields).length > 0)
      changes.push({ op: 'update', kind: 'product', productId: want.id, fields });
    const haveSkus = new Map((have?.skus ?? []).map((s) => [s.code, s]));
    for (const sku of want.skus) {
      const before = haveSkus.get(sku.code);
      const f = fieldDiff(before as never, sku as never, SKU_FIELDS);
      if (!before) changes.push({ op: 'add', kind: 'sku', productId: want.id, skuCode: sku.code, fields: f });
      else if (Object.keys(f).length > 0)
        changes.push({ op: 'update', kind: 'sku', productId: want.id, skuCode: sku.code, fields: f });
      haveSkus.delete(sku.code);
    }
    for (const gone of haveSkus.keys())
      changes.push({ op: 'remove', kind: 'sku', productId: want.id, skuCode: gone, fields: {} });
  }
  if (opts.prune) {
    for (const have of current.products) {
      if (!desiredIds.has(have.id)) changes.push({ op: 'remove', kind: 'product', productId: have.id, fields: {} });
    }
  }
  return changes;
}

/** One line per change, for `--dry-run` and the apply report. */
export function formatChanges(changes: CatalogChange[]): string {
  if (changes.length === 0) return 'The catalogue already matches: nothing to change.\n';
  const sign = { add: '+', update: '~', remove: '-' } as const;
  const lines: string[] = [];
  for (const c of changes) {
    const what = c.kind === 'product' ? `product ${c.productId}` : `sku ${c.productId} / ${c.skuCode}`;
    lines.push(`${sign[c.op]} ${what}`);
    for (const [field, { before, after }] of Object.entries(c.fields)) {
      lines.push(
        c.op === 'add'
          ? `    ${field}: ${JSON.stringify(after)}`
          : `    ${field}: ${JSON.stringify(before)} → ${JSON.stringify(after)}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

// ----------------------------------------------------------------------------------------- writes

async function writeProductRow(db: Storage, p: ProductSpec, now: string): Promise<void> {
  await db.run(
    `INSERT INTO catalog_products (product_id, name, edition, features, seats, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (product_id) DO UPDATE SET name = excluded.name, edition = excluded.edition,
       features = excluded.features, seats = excluded.seats, updated_at = excluded.updated_at`,
    [p.id, p.name ?? null, p.edition ?? null, JSON.stringify(p.features), p.seats ?? null, now, now],
  );
  if (Object.keys(p.policy).length > 0) {
    await db.run(
      `INSERT INTO product_policies (product_id, policy, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (product_id) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at`,
      [p.id, JSON.stringify(p.policy), now],
    );
  } else {
    await db.run('DELETE FROM product_policies WHERE product_id = ?', [p.id]);
  }
}

async function writeSkuRow(db: Storage, productId: string, s: SkuSpec, now: string): Promise<void> {
  await db.run(
    `INSERT INTO catalog_skus (product_id, sku_code, edition, features, seats, policy, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (product_id, sku_code) DO UPDATE SET edition = excluded.edition, features = excluded.features,
       seats = excluded.seats, policy = excluded.policy, updated_at = excluded.updated_at`,
    [productId, s.code, s.edition, JSON.stringify(s.features), s.seats ?? null, JSON.stringify(s.policy), now, now],
  );
}

async function deleteProduct(db: Storage, productId: string): Promise<void> {
  await db.run('DELETE FROM catalog_skus WHERE product_id = ?', [productId]);
  await db.run('DELETE FROM catalog_products WHERE product_id = ?', [productId]);
  await db.run('DELETE FROM product_policies WHERE product_id = ?', [productId]);
}

export interface ApplyResult {
  changes: CatalogChange[];
  applied: boolean;
}

/**
 * Makes the catalogue match a catalogue file (validated here, so the API and the CLI refuse the same
 * mistakes with the same messages). Idempotent: applying the same file twice changes nothing the second time.
 */
export async function applyCatalog(
  w: CatalogWriter,
  input: unknown,
  opts: { dryRun?: boolean; prune?: boolean; actor: string },
): Promise<ApplyResult> {
  const desired = parseInput(catalogSchema, input, 'catalogue');
  const { db } = w;
  return await db.transaction(async (tx) => {
    const changes = diffCatalog(await readCatalog(tx), desired, opts);
    if (opts.dryRun || changes.length === 0) return { changes, applied: false };
    const at = w.now();
    const now = at.toISOString();
    const byId = new Map(desired.products.map((p) => [p.id, p]));
    for (const c of changes) {
      if (c.kind === 'product' && c.op === 'remove') await deleteProduct(tx, c.productId);
      else if (c.kind === 'product') await writeProductRow(tx, byId.get(c.productId)!, now);
    }
    for (const c of changes) {
      if (c.kind !== 'sku') continue;
      const product = byId.get(c.productId)!;
      // A new product's row is written above; an unchanged product with changed SKUs already has one.
      if (c.op === 'remove') {
        await tx.run('DELETE FROM catalog_skus WHERE product_id = ? AND sku_code = ?', [c.productId, c.skuCode]);
      } else {
        await writeSkuRow(tx, c.productId, product.skus.find((s) => s.code === c.skuCode)!, now);
      }
    }
    await audit(tx, { actor: opts.actor, action: 'catalog.apply', detail: { changes }, at });
    // Only products whose changes can move seats: a features or policy edit leaves every license's seats alone.
    for (const productId of new Set(changes.filter(movesSeats).map((c) => c.productId))) {
      await rederiveProductSeats(inTx(w, tx), productId, opts.actor, at);
    }
    return { changes, applied: true };
  });
}

/** Adds or replaces one product's own fields (its SKUs are left as they are). */
export async function setProduct(w: CatalogWriter, input: unknown, actor: string): Promise<ProductSpec> {
  const spec = parseInput(productSchema, input, 'product');
  const { db } = w;
  if (spec.skus.length > 0) {
    throw new LicensorError('INVALID_INPUT', 'Set SKUs one by one (PUT …/skus/:code) or apply a catalogue file', {
      problems: [{ field: 'skus', message: 'not accepted here' }],
    });
  }
  return await db.transaction(async (tx) => {
    const now = w.now();
    const before = await getProduct(tx, spec.id);
    await writeProductRow(tx, spec, now.toISOString());
    if (!before || before.seats !== spec.seats) await rederiveProductSeats(inTx(w, tx), spec.id, actor, now);
    const after = (await getProduct(tx, spec.id))!;
    await audit(tx, {
      actor,
      action: 'catalog.product_set',
      before: before ? { ...before, skus: undefined } : null,
      after: { ...after, skus: undefined },
      detail: { productId: spec.id },
      at: now,
    });
    return after;
  });
}

export async function removeProduct(w: CatalogWriter, productId: string, actor: string): Promise<boolean> {
  const { db } = w;
  return await db.transaction(async (tx) => {
    const now = w.now();
    const before = await getProduct(tx, productId);
    if (!before) return false;
    await deleteProduct(tx, productId);
    await rederiveProductSeats(inTx(w, tx), productId, actor, now);
    await audit(tx, { actor, action: 'catalog.product_removed', before, detail: { productId }, at: now });
    return true;
  });
}

/** Adds or replaces one SKU of a catalogue product. */
export async function setSku(w: CatalogWriter, productId: string, input: unknown, actor: string): Promise<SkuSpec> {
  const spec = parseInput(skuSchema, input, 'SKU');
  const { db } = w;
  return await db.transaction(async (tx) => {
    const now = w.now();
    const product = await requireProduct(tx, productId);
    const before = product.skus.find((s) => s.code === spec.code);
    await writeSkuRow(tx, productId, spec, now.toISOString());
    if (!before || before.seats !== spec.seats) await rederiveProductSeats(inTx(w, tx), productId, actor, now);
    const after = (await requireProduct(tx, productId)).skus.find((s) => s.code === spec.code)!;
    await audit(tx, {
      actor,
      action: 'catalog.sku_set',
      before: before ?? null,
      after,
      detail: { productId, skuCode: spec.code },
      at: now,
    });
    return after;
  });
}

export async function removeSku(w: CatalogWriter, productId: string, skuCode: string, actor: string): Promise<boolean> {
  const { db } = w;
  return await db.transaction(async (tx) => {
    const now = w.now();
    const before = (await getProduct(tx, productId))?.skus.find((s) => s.code === skuCode);
    if (!before) return false;
    await tx.run('DELETE FROM catalog_skus WHERE product_id = ? AND sku_code = ?', [productId, skuCode]);
    await rederiveProductSeats(inTx(w, tx), productId, actor, now);
    await audit(tx, { actor, action: 'catalog.sku_removed', before, detail: { productId, skuCode }, at: now });
    return true;
  });
}

// ------------------------------------------------------------------------------------------ reads

/** The edition, features, seats and policy a license of product/SKU gets (see deriveLicenseModel). */
export async function resolveModel(
  db: Storage,
  productId: string | null | undefined,
  skuCode: string | null | undefined,
  license: LicenseOverrides = {},
  orderedSeats?: number | null,
): Promise<DerivedModel> {
  const product = productId ? await getProduct(db, productId) : undefined;
  const sku = skuCode ? product?.skus.find((s) => s.code === skuCode) : undefined;
  return deriveLicenseModel({
    product,
    globalPolicy: await productPolicyOf(db, '*'),
    skuCode,
    sku,
    license,
    orderedSeats,
  });
}

export interface UnknownSku {
  productId: string | null;
  skuCode: string;
  licenses: number;
  firstSeenAt: string;
  lastSeenAt: string;
  /** Whether the catalogue knows the product at all (its defaults then apply). */
  productInCatalogue: boolean;
}

/** SKUs licenses carry that the catalogue does not list: accepted with the product's defaults, flagged here. */
export async function listUnknownSkus(db: Storage, opts: { includeTest?: boolean } = {}): Promise<UnknownSku[]> {
  return (
    await db.all<{
      product_id: string | null;
      sku_code: string;
      n: number;
      first: string;
      last: string;
      known_product: number;
    }>(
      `SELECT e.product_id, e.sku_code, COUNT(*) AS n, MIN(e.created_at) AS first, MAX(e.created_at) AS last,
              CASE WHEN EXISTS (SELECT 1 FROM catalog_products p WHERE p.product_id = e.product_id) THEN 1 ELSE 0 END AS known_product
       FROM entitlements e
       WHERE e.sku_code IS NOT NULL AND (? OR e.test = 0)
         AND NOT EXISTS (SELECT 1 FROM catalog_skus s WHERE s.product_id = e.product_id AND s.sku_code = e.sku_code)
       GROUP BY e.product_id, e.sku_code
       ORDER BY last DESC`,
      [opts.includeTest ? 1 : 0],
    )
  ).map((r) => ({
    productId: r.product_id,
    skuCode: r.sku_code,
    licenses: r.n,
    firstSeenAt: r.first,
    lastSeenAt: r.last,
    productInCatalogue: r.known_product === 1,
  }));
}

/**
 * The edition and features a License file of this entitlement carries: its own edition and features (operator
 * overrides, `licenses update --edition/--feature`) over its SKU's, over the product's. Unknown SKUs get the
 * product's values.
 */
export async function licenseModel(
  db: Storage,
  ent: { product_id: string | null; sku_code: string | null; edition: string | null; features?: string | null },
): Promise<{ edition: string | null; features: Record<string, true | number> }> {
  const features = ent.features ? parse<Features | null>(ent.features, null) : null;
  // The product's and its SKU's edition and features in one read: what resolveModel reads besides (the product's
  // SKU list, its and the global policy) does not change a License file's edition or features.
  const row = ent.product_id
    ? await db.first<{
        edition: string | null;
        features: string;
        sku_code: string | null;
        sku_edition: string | null;
        sku_features: string | null;
      }>(
        `SELECT p.edition, p.features, s.sku_code, s.edition AS sku_edition, s.features AS sku_features
         FROM catalog_products p LEFT JOIN catalog_skus s ON s.product_id = p.product_id AND s.sku_code = ?
         WHERE p.product_id = ?`,
        [ent.sku_code ?? null, ent.product_id],
      )
    : undefined;
  const m = deriveLicenseModel({
    product: row ? { edition: row.edition ?? undefined, features: parse(row.features, {}), policy: {} } : undefined,
    skuCode: ent.sku_code,
    sku:
      row?.sku_code != null
        ? { edition: row.sku_edition as string, features: parse(row.sku_features, {}), policy: {} }
        : undefined,
    license: { edition: ent.edition, features },
  });
  return { edition: m.edition, features: m.features };
}
