import { LicensorError, type SignedRevocationList, verifyRevocationList } from '@licensor/shared';
import type { PgDb } from '../db/postgres/facade';
import type { Logger } from '../logger';
import { DbSigningKeys } from './dbSigningKeys';
import type { KeyStore, Signer, SigningKeyInfo, SigningKeySource } from './keystore';

interface Snapshot {
  signer: Signer;
  list: SigningKeyInfo[];
  certificates: Map<string, string>;
  revocations: SignedRevocationList | undefined;
  /** The serial of `revocations` (0 when none). */
  revocationSerial: number;
}

async function read(keys: DbSigningKeys, rootCertificatePem: string): Promise<Snapshot> {
  const [signer, list, certificates, revocations] = await Promise.all([
    keys.current(),
    keys.list(),
    keys.certificates(),
    keys.revocations(),
  ]);
  const revocationSerial = revocations ? verifyRevocationList(revocations, [rootCertificatePem]).serial : 0;
  return { signer, list, certificates, revocations, revocationSerial };
}

export interface DatabaseKeySourceOptions {
  /** LICENSOR_KEY_PASSPHRASE (or the development one): decrypts the stored key, never stored itself. */
  passphrase: string;
  log: Logger;
  /** Re-read regardless of notifications this often (default 30 s): covers a notification lost in transit. */
  ttlMs?: number;
}

/**
 * The signing keys of a server on PostgreSQL (docs/design/postgresql.md, "Signing keys with no shared disk"): read
 * from the `signing_keys` table through DbSigningKeys and mirrored in memory, because signing happens inside
 * synchronous code (KeyStore.current()). The mirror is reloaded whenever DbSigningKeys invalidates (a rotation
 * announced with NOTIFY by any instance or the CLI, a LISTEN reconnect) and every `ttlMs`; until a reload lands
 * the instance signs with the key it had, which stays certified by the root, so a rotation reaches every instance
 * within a reload, without a restart. The root-signed list of revoked keys is mirrored the same way
 * (`licensor keys revoke` stores it and announces it on the same channel). The root certificate is read from the data folder (`keys/root.crt.pem`,
 * public, copied to each host); the root private key never enters the database.
 */
export class DatabaseKeySource implements SigningKeySource {
  private reloading: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    private readonly keys: DbSigningKeys,
    private readonly log: Logger,
    private readonly rootCertificatePem: string,
    private snapshot: Snapshot,
  ) {}

  /**
   * Opens the mirror: on a database without keys, imports the data folder's key files first (an existing
   * deployment moving to PostgreSQL, or instances prepared with `licensor keys init`), then reads and listens.
   */
  static async open(pg: PgDb, store: KeyStore, opts: DatabaseKeySourceOptions): Promise<DatabaseKeySource> {
    let source: DatabaseKeySource | undefined;
    const keys = new DbSigningKeys(pg, {
      passphrase: opts.passphrase,
      rootCertificatePem: store.rootCertificatePem,
      ttlMs: opts.ttlMs,
      onInvalidate: () => source?.reload(),
      onListenError: (err) => opts.log.warn({ err }, 'signing keys: LISTEN connection lost; reconnecting'),
    });
    try {
      if (await keys.importKeyFilesIfNone(store.dir)) {
        opts.log.info({ keysDir: store.dir }, 'signing keys imported from the key files into the database');
      }
      if (await keys.importRevocationFileIfNone(store.dir)) {
        opts.log.info({ keysDir: store.dir }, 'revoked-key list imported from keys/revoked.json into the database');
      }
      await keys.listening;
      const rootCertificatePem = store.rootCertificatePem;
      source = new DatabaseKeySource(keys, opts.log, rootCertificatePem, await read(keys, rootCertificatePem));
      // A rotation announced during that first read found no source to reload: read once more.
      source.reload();
    } catch (err) {
      await keys.close();
      throw err;
    }
    const ttl = opts.ttlMs ?? 30_000;
    source.timer = setInterval(() => keys.invalidate(), ttl);
    source.timer.unref();
    return source;
  }

  /** Reloads the mirror; a reload asked for while one runs runs once more after it. */
  private reload(): void {
    if (this.closed) return;
    if (this.reloading) {
      this.again = true;
      return;
    }
    this.reloading = (async () => {
      do {
        this.again = false;
        try {
          const next = await read(this.keys, this.rootCertificatePem);
          const before = this.snapshot.revocations;
          if (before && next.revocationSerial < this.snapshot.revocationSerial) {
            // Only someone writing to the database without the root can make the newest list go back or vanish:
            // a revoked key stays revoked here, whatever the table says now.
            this.log.error(
              { served: this.snapshot.revocationSerial, found: next.revocationSerial || undefined },
              'revoked-key list: the database holds an older list than this instance served (key_revocations was edited); keeping the newer one',
            );
            next.revocations = before;
            next.revocationSerial = this.snapshot.revocationSerial;
          }
          if (
            next.revocations &&
            verifyRevocationList(next.revocations, [this.rootCertificatePem]).revoked.includes(next.signer.keyId)
          ) {
            throw new LicensorError(
              'CERTIFICATE_INVALID',
              `The current signing key ${next.signer.keyId} is revoked: not signing with it`,
            );
          }
          if (next.signer.keyId !== this.snapshot.signer.keyId) {
            this.log.info({ keyId: next.signer.keyId }, 'signing key rotated: signing with the new key');
          }
          if (before && next.revocations && before.list === next.revocations.list) {
            // The same list: keep the object, so whatever is derived from it (GET /api/v1/keys) stays cached.
            next.revocations = before;
          } else if (next.revocations) {
            this.log.info({ revocationList: next.revocations }, 'revoked-key list loaded');
          }
          this.snapshot = next;
        } catch (err) {
          // Keep signing with the key at hand (still certified); the next notification or tick tries again.
          this.log.error({ err }, 'signing keys: reload from the database failed');
        }
      } while (this.again && !this.closed);
    })().finally(() => {
      this.reloading = undefined;
    });
  }

  current(): Signer {
    return this.snapshot.signer;
  }

  list(): SigningKeyInfo[] {
    return this.snapshot.list;
  }

  certificate(keyId: string): string | undefined {
    return this.snapshot.certificates.get(keyId);
  }

  revocations(): SignedRevocationList | undefined {
    return this.snapshot.revocations;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.keys.close();
    await this.reloading;
  }
}
