import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { seedEntitlement } from '@licensor/testkit/licensing';
import { createTestApp, type TestApp, testDatabaseEnv } from '@licensor/testkit/server';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT, main } from '../cli/index';

const ADMIN = '/api/admin/v1';
const BOOT = 'Bearer admin-test-token';

const CATALOG_YAML = `
products:
  - id: com.example.app
    name: Example App
    edition: Standard
    features: { export: true }
    seats: 1
    policy: { fileTtlDays: 10 }
    skus:
      - code: sku-basic
        edition: Basic
      - code: sku-pro
        edition: Pro
        features: { maxProjects: 20, sync: true }
        seats: 5
        policy: { mode: floating, leaseMinutes: 15 }
`;

let t: TestApp;
beforeEach(async () => {
  t = await createTestApp();
});
afterEach(async () => {
  await t.destroy();
});

const api = () => request(t.licensor.app);
const send = (method: 'put' | 'post' | 'delete', path: string, body?: object) =>
  api()
    [method](ADMIN + path)
    .set('Authorization', BOOT)
    .send(body);
const get = (path: string) =>
  api()
    .get(ADMIN + path)
    .set('Authorization', BOOT);

async function cli(args: string[]) {
  let out = '';
  let err = '';
  const code = await main(['--data-dir', t.dataDir, ...args], {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: { USER: 'alice', LICENSOR_KEY_PASSPHRASE: 'test-passphrase', ...testDatabaseEnv(t.dataDir) },
  });
  return { code, out, err, json: () => JSON.parse(out) };
}

describe('catalogue through the CLI', () => {
  it('apply prints the diff with --dry-run, applies, and is idempotent', async () => {
    const file = join(t.dataDir, 'catalog.yaml');
    writeFileSync(file, CATALOG_YAML);

    const dry = await cli(['catalog', 'apply', file, '--dry-run']);
    expect(dry.code).toBe(EXIT.ok);
    expect(dry.out).toContain('+ product com.example.app');
    expect(dry.out).toContain('+ sku com.example.app / sku-pro');
    expect(dry.out).toContain('Dry run: nothing changed');
    expect((await get('/catalog')).body).toEqual({ products: [] });

    const applied = await cli(['catalog', 'apply', file]);
    expect(applied.code).toBe(EXIT.ok);
    expect(applied.out).toContain('Applied 3 change(s)');
    const again = await cli(['catalog', 'apply', file]);
    expect(again.out).toContain('nothing to change');
    // A catalogue file with a 0-seat SKU is refused as a whole, naming the SKU.
    writeFileSync(file, CATALOG_YAML.replace('seats: 5', 'seats: 0'));
    const zero = await cli(['catalog', 'apply', file]);
    expect(zero.code).toBe(EXIT.invalidInput);
    expect(zero.err).toContain('products.0.skus.1.seats');
    expect(zero.err).toContain('seats must be at least 1');
    const zeroBySet = await cli([
      'catalog',
      'set-sku',
      'com.example.app',
      'sku-zero',
      '--edition',
      'Z',
      '--seats',
      '0',
    ]);
    expect(zeroBySet.code).toBe(EXIT.invalidInput);
    expect(zeroBySet.err).toContain('seats must be at least 1');
    writeFileSync(file, CATALOG_YAML);

    // The derivation the issue describes: SKU over product defaults, product policy via the same row as `policy`.
    const pro = await cli(['--json', 'catalog', 'resolve', 'com.example.app', 'sku-pro']);
    expect(pro.json()).toMatchObject({
      edition: 'Pro',
      features: { export: true, maxProjects: 20, sync: true },
      seats: 5,
      policy: { mode: 'floating', leaseMinutes: 15, fileTtlDays: 10 },
      unknownSku: false,
    });
    const policy = await cli(['--json', 'policy', 'show', 'com.example.app']);
    expect(policy.json().overrides).toEqual({ fileTtlDays: 10 });

    // An edit shows as an update, with before → after.
    writeFileSync(file, CATALOG_YAML.replace('maxProjects: 20', 'maxProjects: 50'));
    const edit = await cli(['catalog', 'apply', file, '--dry-run']);
    expect(edit.out).toContain('~ sku com.example.app / sku-pro');
    expect(edit.out).toContain('"maxProjects":20');
    expect(edit.out).toContain('"maxProjects":50');

    // `show` prints a file that applies back to no change.
    const shown = await cli(['catalog', 'show']);
    writeFileSync(file, shown.out);
    expect((await cli(['catalog', 'apply', file])).out).toContain('nothing to change');
  });

  it('refuses an invalid file naming each mistake, and changes nothing', async () => {
    const file = join(t.dataDir, 'bad.yaml');
    writeFileSync(file, 'products:\n  - id: p\n    skus:\n      - code: a\n        policy: { mode: roaming }\n');
    const r = await cli(['catalog', 'apply', file]);
    expect(r.code).toBe(EXIT.invalidInput);
    expect(r.err).toContain('products.0.skus.0.edition');
    expect(r.err).toContain('products.0.skus.0.policy.mode');
    writeFileSync(file, 'products: [ {id: p\n');
    const yaml = await cli(['catalog', 'apply', file]);
    expect(yaml.code).toBe(EXIT.invalidInput);
    expect(yaml.err).toContain('not valid YAML');
    expect((await cli(['catalog', 'apply', join(t.dataDir, 'missing.yaml')])).code).toBe(EXIT.notFound);
    expect((await get('/catalog')).body).toEqual({ products: [] });
  });

  it('set-product, set-sku, remove-sku and policy commands edit the same catalogue', async () => {
    expect((await cli(['catalog', 'set-sku', 'p1', 's1', '--edition', 'Pro'])).code).toBe(EXIT.notFound);
    expect((await cli(['catalog', 'set-product', 'p1', '--edition', 'Lite', '--feature', 'export'])).code).toBe(0);
    const sku = await cli([
      'catalog',
      'set-sku',
      'p1',
      's1',
      '--edition',
      'Pro',
      '--feature',
      'maxProjects=20',
      '--feature',
      'export=false',
      '--seats',
      '3',
    ]);
    expect(sku.code).toBe(0);
    expect((await cli(['catalog', 'set-sku', 'p1', 's2', '--edition', 'X', '--feature', 'n=lots'])).code).toBe(
      EXIT.invalidInput,
    );
    expect((await cli(['policy', 'set', 'p1', 'mode=floating', 'leaseMinutes=45'])).code).toBe(0);
    expect((await cli(['policy', 'set', 'p1', 'leaseMinutes=soon'])).code).toBe(EXIT.invalidInput);

    const m = (await get('/catalog/resolve?productId=p1&skuCode=s1')).body;
    expect(m).toMatchObject({ edition: 'Pro', features: { maxProjects: 20 }, seats: 3 });
    expect(m.features.export).toBeUndefined();
    expect(m.policy).toMatchObject({ mode: 'floating', leaseMinutes: 45 });

    expect((await cli(['catalog', 'remove-sku', 'p1', 's1'])).code).toBe(0);
    expect((await cli(['catalog', 'remove-sku', 'p1', 's1'])).code).toBe(EXIT.notFound);
    expect((await cli(['policy', 'clear', 'p1'])).code).toBe(0);
    expect((await get('/policies/p1')).body.overrides).toBeNull();
    const audit = await t.db.all<{ action: string; actor: string }>('SELECT action, actor FROM audit_log ORDER BY id');
    expect(audit.map((a) => a.action)).toEqual([
      'catalog.product_set',
      'catalog.sku_set',
      'policy.product_set',
      'catalog.sku_removed',
      'policy.product_set',
    ]);
    expect(new Set(audit.map((a) => a.actor))).toEqual(new Set(['cli:alice']));
  });

  it('lists SKUs in use that the catalogue does not know, and never refuses them', async () => {
    await cli(['catalog', 'set-product', 'p1', '--edition', 'Lite', '--feature', 'export']);
    await cli(['catalog', 'set-sku', 'p1', 'known', '--edition', 'Pro']);
    for (const sku of ['known', 'mystery', 'mystery']) {
      const e = await seedEntitlement(t.db, { productId: 'p1' });
      await t.db.run('UPDATE entitlements SET sku_code = ? WHERE id = ?', [sku, e.id]);
    }
    const listed = await cli(['--json', 'catalog', 'unknown-skus']);
    expect(listed.json().items).toMatchObject([
      { productId: 'p1', skuCode: 'mystery', licenses: 2, productInCatalogue: true },
    ]);
    expect((await cli(['catalog', 'unknown-skus'])).out).toContain('mystery');
    const m = (await get('/catalog/resolve?productId=p1&skuCode=mystery')).body;
    expect(m).toMatchObject({ edition: 'Lite', features: { export: true }, unknownSku: true });
  });
});

describe('catalogue through the admin API', () => {
  it('apply (dry run, then for real), product and SKU routes, with the same validation', async () => {
    const catalog = {
      products: [{ id: 'p1', edition: 'Lite', skus: [{ code: 's1', edition: 'Pro', features: { sync: true } }] }],
    };
    const dry = await send('post', '/catalog/apply', { catalog, dryRun: true });
    expect(dry.status).toBe(200);
    expect(dry.body.applied).toBe(false);
    expect(dry.body.changes.map((c: { op: string; kind: string }) => `${c.op} ${c.kind}`)).toEqual([
      'add product',
      'add sku',
    ]);
    expect((await send('post', '/catalog/apply', { catalog })).body.applied).toBe(true);
    expect((await send('post', '/catalog/apply', { catalog })).body).toEqual({ changes: [], applied: false });

    const bad = await send('post', '/catalog/apply', { catalog: { products: [{ id: 'p1', skus: [{ code: 's1' }] }] } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.detail.problems).toEqual([
      { field: 'products.0.skus.0.edition', message: expect.any(String) },
    ]);

    const created = await send('put', '/catalog/products/p2', { edition: 'Std', features: { maxProjects: 3 } });
    expect(created.status).toBe(201);
    expect((await send('put', '/catalog/products/p2/skus/big', { edition: 'Big', seats: 10 })).status).toBe(200);
    expect((await send('put', '/catalog/products/p2/skus/big', { edition: 'Big', seats: -1 })).status).toBe(400);
    // A SKU (or product) with 0 seats could activate no device: refused with a message saying what to do.
    const zero = await send('put', '/catalog/products/p2/skus/big', { edition: 'Big', seats: 0 });
    expect(zero.status).toBe(400);
    expect(zero.body.error.detail.problems).toEqual([
      { field: 'seats', message: expect.stringContaining('seats must be at least 1') },
    ]);
    expect((await send('put', '/catalog/products/p2', { edition: 'Std', seats: 0 })).status).toBe(400);
    expect((await get('/catalog/products/p2')).body).toMatchObject({
      id: 'p2',
      edition: 'Std',
      skus: [{ code: 'big', edition: 'Big', seats: 10 }],
    });
    // Pruning removes products the file leaves out; without --prune they are kept.
    expect((await send('post', '/catalog/apply', { catalog })).body.changes).toEqual([]);
    const pruned = await send('post', '/catalog/apply', { catalog, prune: true });
    expect(pruned.body.changes).toEqual([{ op: 'remove', kind: 'product', productId: 'p2', fields: {} }]);
    expect((await get('/catalog/products/p2')).status).toBe(404);

    expect((await send('put', '/catalog/products/*', { edition: 'All' })).status).toBe(400);
    expect((await send('put', '/policies/*', { policy: { leaseMinutes: 20 } })).body.effective.leaseMinutes).toBe(20);
    const policy = await send('put', '/policies/p1', { policy: { mode: 'floating', bogus: 1 } });
    expect(policy.status).toBe(400);
    expect((await send('put', '/policies/p1', { policy: { mode: 'floating' } })).body.effective.mode).toBe('floating');
    expect((await get('/catalog')).body.products[0].policy).toEqual({ mode: 'floating' });
    expect((await send('delete', '/catalog/products/p1/skus/s1')).body).toEqual({ removed: true });
    expect((await send('delete', '/catalog/products/p1')).body).toEqual({ removed: true });
  });

  it('read tokens may read the catalogue but not change it', async () => {
    const made = await cli(['--json', 'tokens', 'create', '--name', 'ro', '--scope', 'read']);
    const token = `Bearer ${made.json().token}`;
    expect((await api().get(`${ADMIN}/catalog`).set('Authorization', token)).status).toBe(200);
    const refused = await api()
      .post(`${ADMIN}/catalog/apply`)
      .set('Authorization', token)
      .send({ catalog: { products: [] } });
    expect(refused.status).toBe(403);
  });
});
