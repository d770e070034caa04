import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { activateRequestSchema, LicenseVerifier, verifyRevocationList } from '@licensor/shared';
import { activationBody, newDevice, seedEntitlement, writeOfflineRequest } from '@licensor/testkit/licensing';
import { createTestPostgres, emptyTestSchema } from '@licensor/testkit/postgres';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testConfig } from '../config';
import { parseDatabaseUrl } from '../db/backend';
import { activate } from '../licensing';
import { createLogger } from '../logger';
import { type RunningServer, startServer } from '../server';
import { EXIT, main } from './index';

/**
 * Every `licensor` command group on both backends: the same script against SQLite (LICENSOR_DATABASE_URL unset)
 * and PostgreSQL (one schema of the test database, emptied between tests). PostgreSQL runs where the test server
 * answers; elsewhere it is skipped with a warning (a failure under CI=true).
 */

const PASS = 'test-passphrase';
const pgTest = await createTestPostgres('cli_backends');
afterAll(() => pgTest?.drop());

let pgSchema: string | undefined;
/**
 * The test's schema, as a URL: empty for the first test, whose `db migrate` builds it; after that the same schema
 * emptied of the earlier test's rows (emptyTestSchema), which each test's `db migrate` finds up to date, instead of
 * a new schema migrated again from empty per test.
 */
const pgSchemaUrl = async (): Promise<string> => {
  if (pgSchema === undefined) pgSchema = await pgTest!.schemaUrl('cli');
  else await emptyTestSchema(pgSchema);
  return pgSchema;
};

const backends = [
  { name: 'SQLite', skip: false, url: async (): Promise<string | undefined> => undefined },
  { name: 'PostgreSQL', skip: !pgTest, url: pgSchemaUrl },
];

describe.each(backends)('the CLI on $name', ({ name, skip, url: makeUrl }) => {
  let dir: string;
  let env: Record<string, string>;

  beforeEach(async () => {
    if (skip) return;
    dir = mkdtempSync(join(tmpdir(), 'licensor-cli-backends-'));
    const url = await makeUrl();
    env = { USER: 'alice', LICENSOR_KEY_PASSPHRASE: PASS, ...(url ? { LICENSOR_DATABASE_URL: url } : {}) };
    expect((await cli(['keys', 'init'])).code).toBe(EXIT.ok);
    expect((await cli(['db', 'migrate'])).code).toBe(EXIT.ok);
  });
  afterEach(() => {
    if (!skip) rmSync(dir, { recursive: true, force: true });
  });

  async function cli(args: string[], extra: Record<string, string> = {}) {
    let out = '';
    let err = '';
    const code = await main(['--data-dir', dir, ...args], {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
      env: { ...env, ...extra },
    });
    // biome-ignore lint/suspicious/noExplicitAny: reading --json output
    return { code, out, err, json: (): any => JSON.parse(out) };
  }

  /** The server on the same data folder and database, for seeding what only the server writes. */
  async function withServer<T>(fn: (running: RunningServer) => Promise<T>): Promise<T> {
    const running = await startServer(
      testConfig({
        dataDir: dir,
        database: parseDatabaseUrl(env.LICENSOR_DATABASE_URL),
        keyPassphrase: PASS,
        port: 0,
        host: '127.0.0.1',
      }),
      createLogger('silent'),
    );
    try {
      return await fn(running);
    } finally {
      await running.close();
    }
  }

  it.skipIf(skip)(
    'db status and db migrate name the backend; db backup works on SQLite, points to pg_dump on PostgreSQL',
    async () => {
      const status = (await cli(['--json', 'db', 'status'])).json();
      expect(status).toMatchObject({ backend: name === 'SQLite' ? 'sqlite' : 'postgres', current: true, pending: [] });
      expect((await cli(['db', 'migrate'])).out).toContain('up to date');
      const backup = await cli(['db', 'backup', join(dir, 'copy.db')]);
      if (name === 'SQLite') {
        expect(backup.code).toBe(EXIT.ok);
        expect(backup.out).toContain('Integrity check');
      } else {
        expect(backup.code).toBe(EXIT.config);
        expect(backup.err).toContain('pg_dump');
      }
    },
  );

  it.skipIf(skip)('tokens: create one the server accepts, list, revoke', async () => {
    const created = (await cli(['--json', 'tokens', 'create', '--name', 'dash', '--scope', 'read'])).json();
    await withServer(async (running) => {
      const ok = await fetch(`${running.url}/api/admin/v1/entitlements`, {
        headers: { authorization: `Bearer ${created.token}` },
      });
      expect(ok.status).toBe(200);
    });
    expect((await cli(['tokens', 'list'])).out).toContain('dash');
    expect((await cli(['tokens', 'revoke', created.id])).out).toContain(`Revoked token ${created.id}`);
    expect((await cli(['tokens', 'revoke', 'tok_nope'])).code).toBe(EXIT.notFound);
  });

  it.skipIf(skip)(
    'licenses: list, search, show, suspend, reinstate, revoke, audit; licenses create and update',
    async () => {
      const a = await withServer(async ({ db }) => {
        const a = await seedEntitlement(db, { family: 'A', productId: 'prod-x' });
        await db.run(`UPDATE entitlements SET customer_name = 'Müller GmbH 华为' WHERE id = ?`, [a.id]);
        await seedEntitlement(db, { family: 'B', status: 'frozen' });
        return a;
      });
      expect((await cli(['--json', 'entitlements', 'list'])).json().total).toBe(2);
      // Case-insensitive for A-Z on both backends (PostgreSQL's LIKE alone is case-sensitive).
      expect((await cli(['--json', 'entitlements', 'list', '--search', 'mÜLLER gmbh'])).json().items).toEqual([]);
      expect((await cli(['--json', 'entitlements', 'list', '--search', 'MüLLER'])).json().items[0].id).toBe(a.id);
      expect((await cli(['--json', 'entitlements', 'list', '--search', '华为'])).json().items[0].id).toBe(a.id);
      expect((await cli(['entitlements', 'show', a.code!])).out).toContain('Müller GmbH 华为');
      expect((await cli(['suspend', a.id, '--reason', 'chargeback'])).out).toContain('status is now suspended');
      expect((await cli(['--json', 'reinstate', a.id])).json().entitlement.status).toBe('active');
      expect((await cli(['revoke', a.id])).out).toContain('revoked');
      const audit = (await cli(['--json', 'audit', 'list', '--entitlement', a.id])).json();
      expect(audit.items.map((x: { action: string }) => x.action)).toEqual([
        'entitlement.revoked',
        'entitlement.reinstated',
        'entitlement.suspended',
      ]);

      expect((await cli(['catalog', 'set-product', 'prod-y', '--edition', 'Standard'])).code).toBe(EXIT.ok);
      const created = await cli(['--json', 'licenses', 'create', '--product', 'prod-y', '--seats', '2']);
      expect(created.code, created.err).toBe(EXIT.ok);
      const id = created.json().entitlement.id;
      const updated = await cli(['--json', 'licenses', 'update', id, '--seats', '5', '--customer', 'ACME']);
      expect(updated.json().entitlement).toMatchObject({ seats: 5, customerName: 'ACME' });
    },
  );

  it.skipIf(skip)(
    'seats, activations, codes and an offline response signed with the keys the server uses',
    async () => {
      const { ent, other, activationId } = await withServer(async (running) => {
        const ent = await seedEntitlement(running.db, { family: 'A', seats: 2, productId: 'p' });
        const other = await seedEntitlement(running.db, { family: 'A', seats: 2, productId: 'p' });
        const input = activateRequestSchema.parse(activationBody(newDevice(), ent.code!));
        const r = await activate(running.licensor.ctx, input);
        return { ent, other, activationId: r.activation.id };
      });
      expect((await cli(['activations', '--entitlement', ent.id])).out).toContain(activationId);
      expect((await cli(['seats', 'move', activationId, '--to', other.code!])).out).toContain(`license ${other.id}`);
      expect((await cli(['seats', 'free', activationId])).out).toContain('Freed the seat');
      const reg = await cli(['--json', 'codes', 'register', 'PLBACKEND0001', '--product', 'p', '--seats', '3']);
      expect(reg.json()).toMatchObject({ created: true, entitlement: { code: 'PLBACKEND0001', seats: 3 } });
      expect((await cli(['codes', 'register', 'PLBACKEND0001'])).out).toContain('already registered');

      // After a rotation (on PostgreSQL into the database), the offline response is signed with the new key.
      const rotated = (await cli(['--json', 'keys', 'rotate'])).json().rotated.keyId;
      const device = newDevice();
      const requestFile = join(dir, 'request.txt');
      writeOfflineRequest(requestFile, device, other.code!);
      const out = join(dir, 'license.lic');
      const r = await cli(['offline-response', requestFile, '--out', out]);
      expect(r.code, r.err).toBe(EXIT.ok);
      const root = readFileSync(join(dir, 'keys', 'root.crt.pem'), 'utf8');
      const verified = new LicenseVerifier({ roots: [root] }).verify(readFileSync(out, 'utf8'));
      expect(verified.payload.eid).toBe(other.id);
      expect(verified.signingKeyId).toBe(rotated);
    },
  );

  it.skipIf(skip)('marketplace messages, the outbox and its retry', async () => {
    const failedId = await withServer(async (running) => {
      const ctx = running.licensor.ctx;
      ctx.messages.record({ direction: 'in', activity: 'getLicense', resultCode: '000000', httpStatus: 200 });
      await ctx.messages.flush();
      const id = await ctx.outbox.enqueue(running.db, 'license.upload', { eventId: 'E1' });
      await running.db.run(`UPDATE outbox SET status = 'failed', last_error = 'HTTP 500' WHERE id = ?`, [id]);
      return id;
    });
    expect((await cli(['--json', 'messages', 'list', '--result-code', '000000'])).json().total).toBe(1);
    expect((await cli(['outbox', 'list'])).out).toContain('HTTP 500');
    expect((await cli(['outbox', 'retry', String(failedId)])).out).toContain('queued for another attempt');
    expect((await cli(['--json', 'outbox', 'list'])).json().items[0].status).toBe('pending');
  });

  it.skipIf(skip)('catalogue and policy, operators, webhooks, enterprise sync', async () => {
    expect((await cli(['catalog', 'set-product', 'p1', '--name', 'Product One', '--seats', '2'])).code).toBe(EXIT.ok);
    expect((await cli(['catalog', 'set-sku', 'p1', 'SKU1', '--edition', 'Pro', '--feature', 'export'])).code).toBe(
      EXIT.ok,
    );
    expect((await cli(['catalog', 'show', 'p1'])).out).toContain('Product One');
    expect((await cli(['--json', 'catalog', 'resolve', 'p1', 'SKU1'])).json()).toMatchObject({ edition: 'Pro' });
    expect((await cli(['policy', 'set', 'p1', 'mode=floating', 'leaseMinutes=30'])).code).toBe(EXIT.ok);
    expect((await cli(['--json', 'policy', 'show', 'p1'])).json().effective.mode).toBe('floating');
    expect((await cli(['catalog', 'remove-sku', 'p1', 'SKU1'])).code).toBe(EXIT.ok);
    expect((await cli(['policy', 'clear', 'p1'])).code).toBe(EXIT.ok);
    expect((await cli(['--json', 'policy', 'show', 'p1'])).json().overrides).toBeNull();
    const file = join(dir, 'catalog.yaml');
    writeFileSync(
      file,
      'products:\n  - id: p2\n    edition: Basic\n    skus:\n      - code: S2\n        edition: Pro\n',
    );
    expect((await cli(['catalog', 'apply', file, '--dry-run'])).out).toContain('Dry run: nothing changed');
    expect((await cli(['catalog', 'apply', file])).out).toMatch(/Applied \d+ change/);
    expect((await cli(['catalog', 'apply', file])).out).toContain('nothing to change');
    expect((await cli(['--json', 'catalog', 'unknown-skus'])).code).toBe(EXIT.ok);
    expect((await cli(['catalog', 'remove-product', 'p2'])).code).toBe(EXIT.ok);
    expect((await cli(['catalog', 'remove-product', 'p2'])).code).toBe(EXIT.notFound);

    const op = await cli(['--json', 'operators', 'add', '--name', 'bob', '--role', 'viewer'], {
      LICENSOR_OPERATOR_PASSWORD: 'a long enough password 1',
    });
    expect(op.code, op.err).toBe(EXIT.ok);
    expect((await cli(['operators', 'list'])).out).toContain('bob');
    expect((await cli(['operators', 'set-role', 'bob', 'operator'])).code).toBe(EXIT.ok);
    expect((await cli(['operators', 'disable', 'bob'])).code).toBe(EXIT.ok);
    const reset = await cli(['--json', 'operators', 'reset-password', 'bob']);
    expect(reset.code, reset.err).toBe(EXIT.ok);
    expect(reset.json().password).toBeTruthy();
    expect((await cli(['--json', 'operators', 'list'])).json().items[0]).toMatchObject({
      name: 'bob',
      role: 'operator',
    });

    const hook = await cli(['--json', 'webhooks', 'add', 'https://hooks.example.com/licensor', '--events', '*']);
    expect(hook.code, hook.err).toBe(EXIT.ok);
    const endpointId = hook.json().endpoint.id;
    expect((await cli(['webhooks', 'list'])).out).toContain('hooks.example.com');
    expect((await cli(['webhooks', 'disable', endpointId])).code).toBe(EXIT.ok);
    expect((await cli(['webhooks', 'enable', endpointId])).code).toBe(EXIT.ok);
    expect((await cli(['webhooks', 'show', 'whd_nope'])).code).toBe(EXIT.notFound);
    expect((await cli(['--json', 'webhooks', 'deliveries'])).json().items).toEqual([]);

    expect((await cli(['kit', 'tenants'])).out).toContain('No enterprises synced');
    expect((await cli(['kit', 'tenant', 'i-1', 't-1'])).code).toBe(EXIT.notFound);
  });

  it.skipIf(skip)(
    'keys: show, rotate, revoke a retired key; the server serves the list without a restart',
    async () => {
      const first = (await cli(['--json', 'keys', 'show'])).json().signingKeys[0].keyId;
      expect((await cli(['keys', 'revoke', '--', first])).code).toBe(EXIT.invalidInput); // current: rotate first
      expect((await cli(['keys', 'rotate'])).code).toBe(EXIT.ok);
      await withServer(async (running) => {
        const revoked = await cli(['--json', 'keys', 'revoke', '--', first]);
        expect(revoked.code, revoked.err).toBe(EXIT.ok);
        expect(revoked.json().revoked).toMatchObject({ serial: 1, revoked: [first] });
        const root = readFileSync(join(dir, 'keys', 'root.crt.pem'), 'utf8');
        // SQLite: the next request reads the new file; PostgreSQL: the announcement reloads the list.
        const deadline = Date.now() + 10_000;
        let served: string[] = [];
        while (Date.now() < deadline) {
          const body = (await (await fetch(`${running.url}/api/v1/keys`)).json()) as { revoked?: unknown };
          served = body.revoked ? verifyRevocationList(body.revoked, [root]).revoked : [];
          if (served.length) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        expect(served).toEqual([first]);
      });
      const shown = (await cli(['--json', 'keys', 'show'])).json();
      expect(shown.revocationList).toMatchObject({ serial: 1, revoked: [first] });
      expect(shown.signingKeys.find((k: { keyId: string }) => k.keyId === first).revoked).toBe(true);
      expect((await cli(['keys', 'revoke', 'no-such-key'])).code).toBe(EXIT.notFound);
    },
  );
});
