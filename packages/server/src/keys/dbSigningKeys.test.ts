import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createRootCertificate,
  domainSign,
  domainVerify,
  encryptPrivateKey,
  issueSigningCertificate,
  LicensorError,
} from '@licensor/shared';
import { createTestPostgres } from '@licensor/testkit/postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgres, type PgDb } from '../db/postgres/facade';
import { migratePostgres } from '../db/postgres/migrate';
import { DbSigningKeys } from './dbSigningKeys';
import { KeyStore } from './keystore';

const pgTest = await createTestPostgres('signing keys');

const PASSPHRASE = 'signing keys passphrase';
const ROOT_PASSPHRASE = 'root passphrase';

async function code(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return err instanceof LicensorError ? err.code : String(err);
  }
}

describe.skipIf(!pgTest)('signing keys in PostgreSQL', () => {
  const dir = mkdtempSync(join(tmpdir(), 'licensor-dbkeys-'));
  const root = createRootCertificate({ commonName: 'Test Root' });
  const rootKeyFile = join(dir, 'root.key.pem'); // the "offline" root
  writeFileSync(rootKeyFile, encryptPrivateKey(root.privateKey, ROOT_PASSPHRASE));
  let a: PgDb;
  let b: PgDb;
  const opened: DbSigningKeys[] = [];
  const open = (db: PgDb, extra: Partial<ConstructorParameters<typeof DbSigningKeys>[1]> = {}) => {
    const keys = new DbSigningKeys(db, { passphrase: PASSPHRASE, rootCertificatePem: root.certificatePem, ...extra });
    opened.push(keys);
    return keys;
  };

  beforeAll(async () => {
    a = pgTest!.open();
    b = pgTest!.open();
    await migratePostgres(a);
  });
  afterAll(async () => {
    await Promise.all(opened.map((k) => k.close()));
    await pgTest?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('instance A rotates; instance B signs with the new key within a second, without a restart', async () => {
    const instanceA = open(a, { ttlMs: 600_000 });
    // A long TTL: only the LISTEN/NOTIFY invalidation can explain B switching within a second.
    const instanceB = open(b, { ttlMs: 600_000 });
    await Promise.all([instanceA.listening, instanceB.listening]);
    const first = await instanceA.rotate({ rootKeyFile, rootPassphrase: ROOT_PASSPHRASE });
    const before = await instanceB.current();
    expect(before.keyId).toBe(first.keyId);

    const second = await instanceA.rotate({ rootKeyFile, rootPassphrase: ROOT_PASSPHRASE });
    expect(second.keyId).not.toBe(first.keyId);
    const started = Date.now();
    let signer = await instanceB.current();
    while (signer.keyId !== second.keyId && Date.now() - started < 1000) {
      await new Promise((r) => setTimeout(r, 20));
      signer = await instanceB.current();
    }
    expect(signer.keyId).toBe(second.keyId);
    expect(Date.now() - started).toBeLessThan(1000);

    // B's signature verifies with the new certificate, which chains to the root.
    const signature = domainSign('license', 'payload', signer.privateKey);
    const certificate = new X509Certificate(await instanceA.certificate(second.keyId));
    expect(certificate.verify(new X509Certificate(root.certificatePem).publicKey)).toBe(true);
    expect(domainVerify('license', 'payload', signature, certificate.publicKey)).toBe(true);

    // The retired key keeps its certificate (older files verify) but its private key is erased.
    const rows = await a.all<{ key_id: string; current: number; has_key: boolean }>(
      'SELECT key_id, current, private_key_enc IS NOT NULL AS has_key FROM signing_keys ORDER BY created_at, current',
    );
    expect(rows).toEqual([
      { key_id: first.keyId, current: 0, has_key: false },
      { key_id: second.keyId, current: 1, has_key: true },
    ]);
    expect((await instanceB.list()).map((k) => [k.keyId, k.current])).toEqual([
      [first.keyId, false],
      [second.keyId, true],
    ]);
  });

  it('keeps hearing rotations after its LISTEN connection is killed (PostgreSQL restarted, connection dropped)', async () => {
    const errors: Error[] = [];
    const listener = open(b, { ttlMs: 600_000, onListenError: (e) => errors.push(e) });
    const rotator = open(a, { listen: false });
    await listener.listening;
    await listener.current();
    const listeners = () =>
      a.all<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
      );
    const killed = await listeners();
    expect(killed.length).toBeGreaterThan(0);
    await a.all('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(?::int[])', [
      killed.map((k) => k.pid),
    ]);
    // Wait for the loop to notice and LISTEN again on a new connection.
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const now = await listeners();
      if (errors.length > 0 && now.some((l) => !killed.some((k) => k.pid === l.pid))) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(errors.length).toBeGreaterThan(0);
    const next = await rotator.rotate({ rootKeyFile, rootPassphrase: ROOT_PASSPHRASE });
    const started = Date.now();
    while ((await listener.current()).keyId !== next.keyId && Date.now() - started < 1000) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await listener.current()).keyId).toBe(next.keyId);
  });

  it('with the database unreachable: reports why, answers STORAGE_UNAVAILABLE, and closes without waiting out its back-off', async () => {
    const down = openPostgres('postgres://postgres@127.0.0.1:1/none', {
      settings: {
        poolSize: 1,
        statementTimeoutMs: 1000,
        connectTimeoutMs: 500,
        ssl: undefined,
        sslCaFile: undefined,
        applicationName: 'licensor-tests',
      },
    });
    const errors: Error[] = [];
    const keys = new DbSigningKeys(down, {
      passphrase: PASSPHRASE,
      rootCertificatePem: root.certificatePem,
      onListenError: (e) => errors.push(e),
    });
    try {
      // Five failures: the back-off before the sixth attempt is 1.6 s.
      const deadline = Date.now() + 10_000;
      while (errors.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect((errors[0] as LicensorError).code).toBe('STORAGE_UNAVAILABLE');
      expect(await code(keys.current())).toBe('STORAGE_UNAVAILABLE');
      const started = Date.now();
      await keys.close();
      expect(Date.now() - started).toBeLessThan(800);
    } finally {
      await keys.close();
      await down.close();
    }
  });

  it('stores the private key encrypted under the passphrase; a wrong passphrase gives KEY_DECRYPT_FAILED', async () => {
    const row = await a.first<{ private_key_enc: string }>(
      'SELECT private_key_enc FROM signing_keys WHERE current = 1',
    );
    expect(row!.private_key_enc).toContain('-----BEGIN ENCRYPTED PRIVATE KEY-----');
    const wrong = open(b, { passphrase: 'not the passphrase', listen: false });
    expect(await code(wrong.current())).toBe('KEY_DECRYPT_FAILED');
  });

  it('without a notification (not listening), the cached key is re-read when the TTL ends', async () => {
    let now = 1_000_000;
    const polling = open(b, { listen: false, ttlMs: 5000, now: () => now });
    const rotator = open(a, { listen: false });
    const old = await polling.current();
    const next = await rotator.rotate({ rootKeyFile, rootPassphrase: ROOT_PASSPHRASE });
    now += 4999;
    expect((await polling.current()).keyId).toBe(old.keyId);
    now += 1;
    expect((await polling.current()).keyId).toBe(next.keyId);
  });

  it('refuses a key the pinned root did not certify, and a private key that is not the certificate’s', async () => {
    const keys = open(a, { listen: false });
    const otherRoot = createRootCertificate({ commonName: 'Other Root' });
    const foreign = issueSigningCertificate(otherRoot, { commonName: 'foreign' });
    expect(await code(keys.store(foreign))).toBe('CERTIFICATE_INVALID');
    const ours = issueSigningCertificate(root, { commonName: 'ours' });
    const mismatched = { certificatePem: ours.certificatePem, privateKey: foreign.privateKey };
    expect(await code(keys.store(mismatched))).toBe('INVALID_INPUT');
    const current = await a.all('SELECT key_id FROM signing_keys WHERE current = 1');
    expect(current).toHaveLength(1);
    expect(current[0]).not.toEqual({ key_id: foreign.keyId });
  });

  it('imports the key files of an existing deployment unchanged (the same encrypted PEM)', async () => {
    const keysDir = join(dir, 'keys');
    const { store } = KeyStore.open(keysDir, PASSPHRASE, { rootPassphrase: ROOT_PASSPHRASE });
    const fileKey = store.current();
    await a.run('DELETE FROM signing_keys');
    const keys = open(a, { listen: false, rootCertificatePem: store.rootCertificatePem });
    const imported = await keys.importKeyFiles(keysDir);
    expect(imported.keyId).toBe(fileKey.keyId);
    const row = await a.first<{ private_key_enc: string }>(
      'SELECT private_key_enc FROM signing_keys WHERE key_id = ?',
      [fileKey.keyId],
    );
    expect(row!.private_key_enc).toBe(readFileSync(join(keysDir, 'signing', `${fileKey.keyId}.key.pem`), 'utf8'));
    expect((await keys.current()).keyId).toBe(fileKey.keyId);
    // The wrong passphrase is refused before anything is written.
    const wrong = open(a, { listen: false, passphrase: 'wrong', rootCertificatePem: store.rootCertificatePem });
    expect(await code(wrong.importKeyFiles(keysDir))).toBe('KEY_DECRYPT_FAILED');
  });
});
