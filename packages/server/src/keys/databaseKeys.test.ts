import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { domainSign, domainVerify } from '@licensor/shared';
import { createTestPostgres } from '@licensor/testkit/postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PgDb } from '../db/postgres/facade';
import { migratePostgres } from '../db/postgres/migrate';
import type { Logger } from '../logger';
import { DatabaseKeySource } from './databaseKeys';
import { DbSigningKeys } from './dbSigningKeys';
import { KeyStore } from './keystore';

const pgTest = await createTestPostgres('database key source');

const PASSPHRASE = 'signing keys passphrase';
const ROOT_PASSPHRASE = 'root passphrase';

/** A logger that keeps the messages it was given. */
function recordingLog(): { log: Logger; messages: string[] } {
  const messages: string[] = [];
  const keep = (_obj: unknown, msg?: string) => {
    messages.push(String(msg));
  };
  return { log: { info: keep, warn: keep, error: keep } as unknown as Logger, messages };
}

async function until(what: string, probe: () => boolean, boundMs = 2000): Promise<number> {
  const started = Date.now();
  while (!probe()) {
    if (Date.now() - started > boundMs) throw new Error(`${what}: not within ${boundMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - started;
}

describe.skipIf(!pgTest)('signing keys of a server on PostgreSQL (DatabaseKeySource)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'licensor-dbkeysource-'));
  const keysDir = join(dir, 'keys');
  const pools: PgDb[] = [];
  const sources: DatabaseKeySource[] = [];

  beforeAll(async () => {
    pools.push(pgTest!.open(), pgTest!.open(), pgTest!.open());
    await migratePostgres(pools[0]!);
  });
  afterAll(async () => {
    await Promise.all(sources.map((s) => s.close()));
    await pgTest?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('two instances starting at once import the key files once; a rotation reaches both without a restart', {
    timeout: 60_000,
  }, async () => {
    // An existing deployment's key files: a development root, a first key, rotated once (a retired certificate).
    const { store } = KeyStore.open(keysDir, PASSPHRASE, { rootPassphrase: ROOT_PASSPHRASE });
    const retired = store.current().keyId;
    const fileCurrent = store.rotate().keyId;

    const logs = [recordingLog(), recordingLog()];
    const stores = [0, 1].map(() => KeyStore.open(keysDir, PASSPHRASE, { rootPassphrase: ROOT_PASSPHRASE }).store);
    const opened = await Promise.all(
      [0, 1].map((i) =>
        DatabaseKeySource.open(pools[i]!, stores[i]!, { passphrase: PASSPHRASE, log: logs[i]!.log, ttlMs: 600_000 }),
      ),
    );
    sources.push(...opened);
    for (const [i, source] of opened.entries()) stores[i]!.useSource(source);
    const imports = logs.flatMap((l) => l.messages).filter((m) => m.includes('imported from the key files'));
    expect(imports).toHaveLength(1);
    for (const s of stores) {
      expect(s.current().keyId).toBe(fileCurrent);
      expect(s.list().map((k) => [k.keyId, k.current])).toEqual([
        [retired, false],
        [fileCurrent, true],
      ]);
      expect(s.certificate(retired)).toBe(store.certificate(retired));
    }
    const rows = await pools[0]!.all<{ key_id: string; has_key: boolean }>(
      'SELECT key_id, private_key_enc IS NOT NULL AS has_key FROM signing_keys ORDER BY has_key',
    );
    expect(rows).toEqual([
      { key_id: retired, has_key: false },
      { key_id: fileCurrent, has_key: true },
    ]);

    // The CLI's rotation: certified with the root at hand, stored through a third connection, announced.
    const cli = new DbSigningKeys(pools[2]!, {
      passphrase: PASSPHRASE,
      rootCertificatePem: store.rootCertificatePem,
      listen: false,
    });
    const fresh = (await cli.store(store.issueSigningKey())).keyId;
    await cli.close();
    // A TTL of 10 minutes: only the notification explains both switching this fast.
    for (const s of stores) {
      const took = await until('the rotated key signs', () => s.current().keyId === fresh);
      expect(took).toBeLessThan(2000);
      const signer = s.current();
      const signature = domainSign('license', 'payload', signer.privateKey);
      expect(domainVerify('license', 'payload', signature, new X509Certificate(s.certificate(fresh)).publicKey)).toBe(
        true,
      );
      expect(
        s
          .list()
          .filter((k) => k.current)
          .map((k) => k.keyId),
      ).toEqual([fresh]);
    }
  });
});
