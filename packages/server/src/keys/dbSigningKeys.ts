import { type KeyObject, X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type CertifiedKey,
  decryptPrivateKey,
  encryptPrivateKey,
  issueSigningCertificate,
  keyIdOf,
  LicensorError,
  type SignedRevocationList,
  verifyCertificateChain,
  verifyRevocationList,
} from '@licensor/shared';
import type pg from 'pg';
import type { PgDb } from '../db/postgres/facade';
import type { Signer, SigningKeyInfo } from './keystore';

/**
 * Signing keys in the database, for instances on several hosts with no shared disk (decision in
 * docs/design/postgresql.md, "Signing keys with no shared disk"):
 *
 * - the private key is stored exactly as `keys/signing/<kid>.key.pem` is on disk: encrypted PKCS#8 under
 *   LICENSOR_KEY_PASSPHRASE (`encryptPrivateKey` of @licensor/shared, the KeyStore's own code). The passphrase
 *   comes from each host's secret store and never reaches the database, so a database dump cannot sign;
 * - the root stays offline: a new key is certified by the root elsewhere (`rotate` with the root key file) and
 *   only the certified signing key is written here;
 * - rotation makes the new key current and erases the retired key's private key in one transaction (as the file
 *   store deletes retired key files), then `NOTIFY licensor_keys`; every instance LISTENs and drops its cached
 *   signer, so the next signature uses the new key without a restart. A notification missed while the listening
 *   connection was down is covered by a short TTL on the cache and by dropping the cache on every reconnect.
 */
export const KEYS_CHANNEL = 'licensor_keys';
/** Advisory lock key of the first-start import (arbitrary, distinct from the migration lock). */
const KEYS_IMPORT_LOCK = '5506041306733047667';

export interface DbSigningKeysOptions {
  /** LICENSOR_KEY_PASSPHRASE: the signing keys' passphrase (the same on every instance). */
  passphrase: string;
  /** The pinned root certificate: every stored key must chain to it. */
  rootCertificatePem: string;
  /** How long a cached signer is trusted without a notification (default 30 s). */
  ttlMs?: number;
  /** LISTEN for rotations (default true) on a connection of its own, outside `db`'s pool. */
  listen?: boolean;
  now?: () => number;
  onListenError?: (err: Error) => void;
  /** Hears every invalidation (a rotation announced, a reconnect, a local store): a mirror reloads then. */
  onInvalidate?: () => void;
}

interface KeyRow {
  key_id: string;
  certificate_pem: string;
  private_key_enc: string | null;
  not_before: string;
  not_after: string;
  current: number;
}

export class DbSigningKeys {
  private cached: { signer: Signer; at: number } | undefined;
  private loading: Promise<Signer> | undefined;
  /** Bumped by every invalidation: a load that started before one is not cached. */
  private generation = 0;
  private closed = false;
  /** Ends a reconnect back-off at once when the store closes. */
  private readonly closing = new AbortController();
  private stopListening: (() => void) | undefined;
  private listener: Promise<void> | undefined;
  private listeningResolved: (() => void) | undefined;
  /** Resolves once the first LISTEN is in place (tests and start-up wait for it). */
  readonly listening: Promise<void>;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(
    private readonly db: PgDb,
    private readonly opts: DbSigningKeysOptions,
  ) {
    if (!opts.passphrase) throw new LicensorError('CONFIG_INVALID', 'LICENSOR_KEY_PASSPHRASE is required');
    this.ttlMs = opts.ttlMs ?? 30_000;
    this.now = opts.now ?? Date.now;
    this.listening = new Promise((resolve) => {
      this.listeningResolved = resolve;
    });
    if (opts.listen === false) this.listeningResolved?.();
    else this.listener = this.listenLoop();
  }

  /** Drops the cached signer: the next `current()` reads the database. */
  invalidate(): void {
    this.generation++;
    this.cached = undefined;
    this.loading = undefined;
    this.opts.onInvalidate?.();
  }

  /** The current signing key, decrypted (cached until a rotation is announced or the TTL ends). */
  async current(): Promise<Signer> {
    if (this.cached && this.now() - this.cached.at < this.ttlMs) return this.cached.signer;
    if (!this.loading) {
      const generation = this.generation;
      const load = this.load().then(
        (signer) => {
          if (generation === this.generation) this.cached = { signer, at: this.now() };
          if (this.loading === load) this.loading = undefined;
          return signer;
        },
        (err) => {
          if (this.loading === load) this.loading = undefined;
          throw err;
        },
      );
      this.loading = load;
    }
    return this.loading;
  }

  private async load(): Promise<Signer> {
    const row = await this.db.first<KeyRow>('SELECT * FROM signing_keys WHERE current = 1');
    if (!row?.private_key_enc) {
      throw new LicensorError(
        'KEY_NOT_FOUND',
        'No current signing key in the database: store one with `licensor keys rotate --root-key <offline root key>` (or import the key files of an existing deployment)',
      );
    }
    // KEY_DECRYPT_FAILED on a wrong LICENSOR_KEY_PASSPHRASE, exactly as for the key files.
    const privateKey = decryptPrivateKey(row.private_key_enc, this.opts.passphrase);
    // Whoever writes to the database can put back a revoked key's encrypted private key from an old dump, as
    // current or under another key id: the key id must be the certificate's and the key's, and not revoked.
    if (keyIdOf(row.certificate_pem) !== row.key_id || keyIdOf(privateKey) !== row.key_id) {
      throw new LicensorError(
        'CERTIFICATE_INVALID',
        `The current signing key ${row.key_id} does not match its certificate (signing_keys was edited)`,
      );
    }
    const revocations = await this.revocations();
    if (revocations && verifyRevocationList(revocations, [this.opts.rootCertificatePem]).revoked.includes(row.key_id)) {
      throw new LicensorError(
        'CERTIFICATE_INVALID',
        `The current signing key ${row.key_id} is revoked: rotate (licensor keys rotate) to sign again`,
      );
    }
    return {
      keyId: row.key_id,
      certificatePem: row.certificate_pem,
      privateKey,
      notAfter: Date.parse(row.not_after),
    };
  }

  /** A signing certificate by key id (kept after rotation: clients verify older files with it). */
  async certificate(keyId: string): Promise<string> {
    const row = await this.db.first<{ certificate_pem: string }>(
      'SELECT certificate_pem FROM signing_keys WHERE key_id = ?',
      [keyId],
    );
    if (!row) throw new LicensorError('KEY_NOT_FOUND', `No signing key ${keyId}`);
    return row.certificate_pem;
  }

  async list(): Promise<SigningKeyInfo[]> {
    const rows = await this.db.all<KeyRow>(
      'SELECT key_id, not_before, not_after, current FROM signing_keys ORDER BY created_at, key_id',
    );
    return rows.map((r) => ({
      keyId: r.key_id,
      notBefore: r.not_before,
      notAfter: r.not_after,
      current: r.current === 1,
    }));
  }

  /**
   * Makes a certified key current: checks that it chains to the pinned root and that the private key is the
   * certificate's, encrypts it, retires the previous key (its private key erased), announces the rotation.
   */
  async store(key: Pick<CertifiedKey, 'certificatePem' | 'privateKey'>): Promise<SigningKeyInfo> {
    return this.storeEncrypted(
      key.certificatePem,
      encryptPrivateKey(key.privateKey, this.opts.passphrase),
      key.privateKey,
    );
  }

  private async storeEncrypted(
    certificatePem: string,
    privateKeyEnc: string,
    privateKey: KeyObject,
  ): Promise<SigningKeyInfo> {
    const at = new Date(this.now());
    const leaf = verifyCertificateChain([certificatePem], [this.opts.rootCertificatePem], at);
    const keyId = keyIdOf(certificatePem);
    if (keyIdOf(privateKey) !== keyId) {
      throw new LicensorError('INVALID_INPUT', "The private key does not match the signing certificate's public key");
    }
    const info = {
      keyId,
      notBefore: new Date(leaf.validFrom).toISOString(),
      notAfter: new Date(leaf.validTo).toISOString(),
      current: true,
    };
    await this.db.transaction(async (tx) => {
      // The row lock on the current key serialises two rotations started at once: the second waits, then
      // retires the first's key instead of both ending current (the partial unique index would refuse that too).
      await tx.all('SELECT key_id FROM signing_keys WHERE current = 1 FOR UPDATE');
      await tx.run(
        'UPDATE signing_keys SET current = 0, private_key_enc = NULL, retired_at = ? WHERE current = 1 AND key_id <> ?',
        [at.toISOString(), keyId],
      );
      await tx.run(
        `INSERT INTO signing_keys (key_id, certificate_pem, private_key_enc, not_before, not_after, current, created_at)
         VALUES (?, ?, ?, ?, ?, 1, ?)
         ON CONFLICT (key_id) DO UPDATE SET private_key_enc = excluded.private_key_enc, current = 1, retired_at = NULL`,
        [keyId, certificatePem, privateKeyEnc, info.notBefore, info.notAfter, at.toISOString()],
      );
      // Delivered to every listener when the transaction commits, never for a rolled-back rotation.
      await tx.run('SELECT pg_notify(?, ?)', [KEYS_CHANNEL, keyId]);
    });
    this.invalidate();
    return info;
  }

  /** Issues a new signing key with the offline root key and makes it current (`licensor keys rotate`). */
  async rotate(opts: { rootKeyFile: string; rootPassphrase: string; commonName?: string }): Promise<SigningKeyInfo> {
    if (!existsSync(opts.rootKeyFile)) {
      throw new LicensorError(
        'KEY_NOT_FOUND',
        `Root private key not found at ${opts.rootKeyFile}: mount the offline root`,
      );
    }
    const rootKey = decryptPrivateKey(readFileSync(opts.rootKeyFile, 'utf8'), opts.rootPassphrase);
    const issued = issueSigningCertificate(
      { certificatePem: this.opts.rootCertificatePem, privateKey: rootKey },
      { commonName: opts.commonName ?? 'Licensor signing key' },
    );
    return this.store(issued);
  }

  /**
   * Moves a deployment's current key file (`<data>/keys`, the KeyStore layout) into the database unchanged: the
   * encrypted PEM is stored as it is on disk, after proving the configured passphrase opens it.
   */
  async importKeyFiles(keysDir: string): Promise<SigningKeyInfo> {
    const keyId = readFileSync(join(keysDir, 'current'), 'utf8').trim();
    if (!/^[A-Za-z0-9_-]+$/.test(keyId)) throw new LicensorError('KEY_NOT_FOUND', `No signing key ${keyId}`);
    const certificatePem = readFileSync(join(keysDir, 'signing', `${keyId}.crt.pem`), 'utf8');
    const encrypted = readFileSync(join(keysDir, 'signing', `${keyId}.key.pem`), 'utf8');
    return this.storeEncrypted(certificatePem, encrypted, decryptPrivateKey(encrypted, this.opts.passphrase));
  }

  /** Every stored signing certificate by key id (retired ones too: clients verify older files with them). */
  async certificates(): Promise<Map<string, string>> {
    const rows = await this.db.all<{ key_id: string; certificate_pem: string }>(
      'SELECT key_id, certificate_pem FROM signing_keys',
    );
    return new Map(rows.map((r) => [r.key_id, r.certificate_pem]));
  }

  /**
   * First start on a database without keys: imports the key files of `keysDir` (the KeyStore layout) — the current
   * key unchanged (as importKeyFiles), and the older certificates as retired keys. Instances starting together
   * take an advisory lock, so one imports and the others find its key. Returns whether this call imported.
   */
  async importKeyFilesIfNone(keysDir: string): Promise<boolean> {
    return this.db.withClient(async (client) => {
      await client.query('SELECT pg_advisory_lock($1)', [KEYS_IMPORT_LOCK]);
      try {
        if (await this.db.first('SELECT 1 FROM signing_keys WHERE current = 1')) return false;
        const current = await this.importKeyFiles(keysDir);
        const signingDir = join(keysDir, 'signing');
        const at = new Date(this.now()).toISOString();
        for (const f of readdirSync(signingDir)) {
          if (!f.endsWith('.crt.pem') || f === `${current.keyId}.crt.pem`) continue;
          const certificatePem = readFileSync(join(signingDir, f), 'utf8');
          const cert = new X509Certificate(certificatePem);
          await this.db.run(
            `INSERT INTO signing_keys (key_id, certificate_pem, private_key_enc, not_before, not_after, current, created_at, retired_at)
             VALUES (?, ?, NULL, ?, ?, 0, ?, ?) ON CONFLICT (key_id) DO NOTHING`,
            [
              keyIdOf(certificatePem),
              certificatePem,
              new Date(cert.validFrom).toISOString(),
              new Date(cert.validTo).toISOString(),
              new Date(cert.validFrom).toISOString(),
              at,
            ],
          );
        }
        return true;
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [KEYS_IMPORT_LOCK]);
      }
    });
  }

  /**
   * The newest root-signed list of revoked signing keys (`licensor keys revoke`), verified against the pinned
   * root: a row nobody with the root signed never reaches a client.
   */
  async revocations(): Promise<SignedRevocationList | undefined> {
    const row = await this.db.first<{ serial: number; list_json: string }>(
      'SELECT serial, list_json FROM key_revocations ORDER BY serial DESC LIMIT 1',
    );
    if (!row) return undefined;
    const signed = JSON.parse(row.list_json) as SignedRevocationList;
    const list = verifyRevocationList(signed, [this.opts.rootCertificatePem]);
    // The serial column is not signed: an older genuine list filed under a higher serial would hide newer ones.
    if (list.serial !== Number(row.serial)) {
      throw new LicensorError(
        'CERTIFICATE_INVALID',
        `Revoked-key list refused: row #${row.serial} of key_revocations holds the root-signed list #${list.serial} (the table was edited)`,
      );
    }
    return signed;
  }

  /**
   * Stores a list the root signed elsewhere (the root never comes near the database) and announces it: every
   * instance serves it within a reload. Its serial must follow the newest stored one (a revocation that raced
   * another for the same serial is refused and runs again on the newer list); no key on it may be the current
   * one; the private keys of the keys on it are erased.
   */
  async storeRevocations(signed: SignedRevocationList): Promise<void> {
    const list = verifyRevocationList(signed, [this.opts.rootCertificatePem]);
    const at = new Date(this.now()).toISOString();
    await this.db.transaction(async (tx) => {
      // The lock on the current key orders a revocation after a rotation that runs at the same time.
      const current = await tx.first<{ key_id: string }>(
        'SELECT key_id FROM signing_keys WHERE current = 1 FOR UPDATE',
      );
      if (current && list.revoked.includes(current.key_id)) {
        throw new LicensorError(
          'CONFLICT',
          `${current.key_id} is the current signing key: rotate first (licensor keys rotate), then revoke it`,
        );
      }
      const newest = await tx.first<{ serial: number }>('SELECT MAX(serial) AS serial FROM key_revocations');
      if ((newest?.serial ?? 0) >= list.serial) {
        throw new LicensorError(
          'CONFLICT',
          `A revocation list #${newest?.serial} is already stored (this one is #${list.serial}): another revocation ran at the same time; run the command again`,
        );
      }
      await tx.run('INSERT INTO key_revocations (serial, list_json, issued_at, stored_at) VALUES (?, ?, ?, ?)', [
        list.serial,
        JSON.stringify(signed),
        list.issuedAt,
        at,
      ]);
      for (const keyId of list.revoked) {
        await tx.run('UPDATE signing_keys SET private_key_enc = NULL WHERE key_id = ?', [keyId]);
      }
      await tx.run('SELECT pg_notify(?, ?)', [KEYS_CHANNEL, `revoked:${list.serial}`]);
    });
    this.invalidate();
  }

  /**
   * First start on a database without a revocation list: stores the data folder's keys/revoked.json (a SQLite
   * deployment moving to PostgreSQL), so the keys it revoked stay revoked. Returns whether this call stored it.
   */
  async importRevocationFileIfNone(keysDir: string): Promise<boolean> {
    const file = join(keysDir, 'revoked.json');
    if (!existsSync(file)) return false;
    if (await this.db.first('SELECT 1 FROM key_revocations LIMIT 1')) return false;
    try {
      await this.storeRevocations(JSON.parse(readFileSync(file, 'utf8')) as SignedRevocationList);
    } catch (err) {
      // Another instance imported the same file first: its row is the one in force.
      if (err instanceof LicensorError && err.code === 'CONFLICT' && /already stored/.test(err.message)) return false;
      throw err;
    }
    return true;
  }

  private async listenLoop(): Promise<void> {
    let delay = 100;
    while (!this.closed) {
      try {
        const client = await this.db.connectDedicated();
        const onNotification = (msg: pg.Notification) => {
          if (msg.channel === KEYS_CHANNEL) this.invalidate();
        };
        try {
          await new Promise<void>((resolve, reject) => {
            client.on('notification', onNotification);
            client.on('error', reject);
            client.on('end', () => reject(new LicensorError('STORAGE_UNAVAILABLE', 'The LISTEN connection ended')));
            this.stopListening = resolve;
            if (this.closed) resolve();
            client.query(`LISTEN ${KEYS_CHANNEL}`).then(() => {
              // Whatever was announced while no connection listened is unknown: read afresh.
              this.invalidate();
              delay = 100;
              this.listeningResolved?.();
            }, reject);
          });
        } finally {
          await client.end().catch(() => undefined);
        }
      } catch (err) {
        if (this.closed) return;
        this.opts.onListenError?.(err as Error);
        await sleep(delay, undefined, { signal: this.closing.signal }).catch(() => undefined);
        delay = Math.min(delay * 2, 5000);
      } finally {
        this.stopListening = undefined;
      }
    }
  }

  /** Stops listening and releases the connection. */
  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort();
    this.stopListening?.();
    await this.listener;
  }
}
