import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LicensorError, verifyRevocationList } from '@licensor/shared';
import { createTestPostgres } from '@licensor/testkit/postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PgDb } from '../db/postgres/facade';
import { migratePostgres } from '../db/postgres/migrate';
import type { Logger } from '../logger';
import { DatabaseKeySource } from './databaseKeys';
import { DbSigningKeys } from './dbSigningKeys';
import { KeyStore } from './keystore';

/**
 * Someone who can write to the database but does not hold the offline root (a leaked application credential, a
 * compromised replica promoted, a careless restore) must not be able to un-revoke a signing key, nor make an
 * instance sign with one.
 */
const pgTest = await createTestPostgres('revocation tampering');

const PASSPHRASE = 'signing keys passphrase';
const ROOT_PASSPHRASE = 'root passphrase';
const quiet = { info() {}, warn() {}, error() {} } as unknown as Logger;

async function until(what: string, probe: () => boolean, boundMs = 3000): Promise<void> {
  const started = Date.now();
  while (!probe()) {
    if (Date.now() - started > boundMs) throw new Error(`${what}: not within ${boundMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const serialOf = (signed: Parameters<typeof verifyRevocationList>[0], rootPem: string) =>
  verifyRevocationList(signed, [rootPem]).serial;

describe.skipIf(!pgTest)('a revocation in the database cannot be undone without the root', () => {
  const dir = mkdtempSync(join(tmpdir(), 'licensor-revtamper-'));
  const keysDir = join(dir, 'keys');
  let db: PgDb;
  let store: KeyStore;
  let cli: DbSigningKeys;
  let source: DatabaseKeySource;
  /** k1 and k2 revoked (lists #1 and #2), k3 current; k1's encrypted private key as a dump taken before had it. */
  let k1: string;
  let k1Dump: string;
  let k3: string;

  /** The key a fresh signer of the CLI signs with now, or the error code it refuses with. */
  async function freshSignerKeyOrCode(): Promise<string> {
    const fresh = new DbSigningKeys(db, {
      passphrase: PASSPHRASE,
      rootCertificatePem: store.rootCertificatePem,
      listen: false,
    });
    try {
      return await fresh.current().then(
        (s) => s.keyId,
        (err: unknown) => (err instanceof LicensorError ? err.code : String(err)),
      );
    } finally {
      await fresh.close();
    }
  }

  beforeAll(async () => {
    db = pgTest!.open();
    await migratePostgres(db);
    store = KeyStore.open(keysDir, PASSPHRASE, { rootPassphrase: ROOT_PASSPHRASE }).store;
    cli = new DbSigningKeys(db, {
      passphrase: PASSPHRASE,
      rootCertificatePem: store.rootCertificatePem,
      listen: false,
    });
    k1 = (await cli.store(store.issueSigningKey())).keyId;
    k1Dump = (await db.first<{ p: string }>('SELECT private_key_enc AS p FROM signing_keys WHERE key_id = ?', [k1]))!.p;
    const k2 = (await cli.store(store.issueSigningKey())).keyId;
    k3 = (await cli.store(store.issueSigningKey())).keyId;
    for (const keyId of [k1, k2]) {
      const { signed } = store.signRevocation(keyId, { currentKeyId: k3, previous: await cli.revocations() });
      await cli.storeRevocations(signed);
    }
    source = await DatabaseKeySource.open(db, store, { passphrase: PASSPHRASE, log: quiet, ttlMs: 600_000 });
    expect(serialOf(source.revocations()!, store.rootCertificatePem)).toBe(2);
  });
  afterAll(async () => {
    await source?.close();
    await cli?.close();
    await pgTest?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a genuine older list filed under a higher serial is not taken for the newest', async () => {
    await db.run('UPDATE key_revocations SET serial = 99 WHERE serial = 1');
    try {
      const newest = await cli.revocations().then(
        (signed) => (signed ? serialOf(signed, store.rootCertificatePem) : undefined),
        (err: unknown) => (err instanceof LicensorError ? err.code : err),
      );
      // Either the true newest list (#2) or a refusal; never list #1, which leaves k2 unrevoked.
      expect(newest === 2 || newest === 'CERTIFICATE_INVALID').toBe(true);
    } finally {
      await db.run('UPDATE key_revocations SET serial = 1 WHERE serial = 99');
    }
  });

  it('a running instance keeps the newest list it served when the newer rows are deleted', async () => {
    const saved = await db.all<{ serial: number; list_json: string; issued_at: string; stored_at: string }>(
      'SELECT * FROM key_revocations',
    );
    let reloaded = false;
    try {
      await db.run('DELETE FROM key_revocations WHERE serial = 2');
      await db.run("SELECT pg_notify('licensor_keys', 'x')");
      // Wait until the instance has surely read the table again: a rotation announced after the delete.
      const k4 = (await cli.store(store.issueSigningKey())).keyId;
      await until('the rotation is read', () => source.current().keyId === k4);
      reloaded = true;
      expect(serialOf(source.revocations()!, store.rootCertificatePem)).toBe(2);
      await db.run('DELETE FROM key_revocations');
      const k5 = (await cli.store(store.issueSigningKey())).keyId;
      await until('the rotation is read', () => source.current().keyId === k5);
      expect(serialOf(source.revocations()!, store.rootCertificatePem)).toBe(2);
    } finally {
      expect(reloaded).toBe(true);
      await db.run('DELETE FROM key_revocations');
      for (const r of saved) {
        await db.run('INSERT INTO key_revocations (serial, list_json, issued_at, stored_at) VALUES (?, ?, ?, ?)', [
          r.serial,
          r.list_json,
          r.issued_at,
          r.stored_at,
        ]);
      }
    }
  });

  it('a revoked key put back as current (its private key from an old dump) is not signed with', async () => {
    const before = source.current().keyId;
    expect(before).not.toBe(k1);
    await db.transaction(async (tx) => {
      await tx.run('UPDATE signing_keys SET current = 0 WHERE current = 1');
      await tx.run('UPDATE signing_keys SET current = 1, private_key_enc = ? WHERE key_id = ?', [k1Dump, k1]);
    });
    await db.run("SELECT pg_notify('licensor_keys', 'x')");
    // The CLI's signer refuses it outright.
    expect(await freshSignerKeyOrCode()).toBe('CERTIFICATE_INVALID');
    // The instance keeps signing with the key it had (give a reload the time it takes).
    await new Promise((r) => setTimeout(r, 500));
    expect(source.current().keyId).toBe(before);
    // A new instance refuses to start on it.
    const opening = await DatabaseKeySource.open(db, store, {
      passphrase: PASSPHRASE,
      log: quiet,
      ttlMs: 600_000,
    }).then(
      async (s) => {
        const id = s.current().keyId;
        await s.close();
        return id;
      },
      (err: unknown) => (err instanceof LicensorError ? err.code : String(err)),
    );
    expect(opening).toBe('CERTIFICATE_INVALID');
  });

  it('a current key whose stored key id is not its certificate’s is not signed with', async () => {
    // A revoked key's certificate and private key filed under a new, unrevoked id.
    const k1Cert = (await db.first<{ c: string }>('SELECT certificate_pem AS c FROM signing_keys WHERE key_id = ?', [
      k1,
    ]))!.c;
    await db.transaction(async (tx) => {
      await tx.run('UPDATE signing_keys SET current = 0 WHERE current = 1');
      await tx.run(
        `INSERT INTO signing_keys (key_id, certificate_pem, private_key_enc, not_before, not_after, current, created_at)
         SELECT 'disguised', ?, ?, not_before, not_after, 1, created_at FROM signing_keys WHERE key_id = ?`,
        [k1Cert, k1Dump, k1],
      );
    });
    const got = await freshSignerKeyOrCode();
    expect(got).not.toBe('disguised');
    expect(got).toBe('CERTIFICATE_INVALID');
  });

  it('two revocations racing for the next serial: one is stored, the other is told to run again', async () => {
    const other = pgTest!.open();
    try {
      const second = new DbSigningKeys(other, {
        passphrase: PASSPHRASE,
        rootCertificatePem: store.rootCertificatePem,
        listen: false,
      });
      const retiredA = (await cli.store(store.issueSigningKey())).keyId;
      const retiredB = (await cli.store(store.issueSigningKey())).keyId;
      await cli.store(store.issueSigningKey());
      const current = (await cli.list()).find((k) => k.current)!.keyId;
      const previous = await cli.revocations();
      const lists = [retiredA, retiredB].map(
        (keyId) => store.signRevocation(keyId, { currentKeyId: current, previous }).signed,
      );
      const outcomes = await Promise.allSettled([cli.storeRevocations(lists[0]!), second.storeRevocations(lists[1]!)]);
      await second.close();
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      const refused = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
      expect(refused.reason).toBeInstanceOf(LicensorError);
      expect((refused.reason as LicensorError).code).toBe('CONFLICT');
      expect((refused.reason as LicensorError).message).toMatch(/run the command again/);
      const rows = await db.all<{ serial: number }>('SELECT serial FROM key_revocations ORDER BY serial');
      expect(rows.map((r) => r.serial)).toEqual([1, 2, 3]);
    } finally {
      await db.run('DELETE FROM key_revocations WHERE serial > 2');
      await other.close();
    }
  });
});
