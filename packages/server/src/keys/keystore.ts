import { createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import {
  type CertifiedKey,
  createRootCertificate,
  decryptPrivateKey,
  encryptPrivateKey,
  issueSigningCertificate,
  keyIdOf,
  LicensorError,
  type RevocationList,
  type SignedRevocationList,
  signRevocationList,
  verifyRevocationList,
} from '@licensor/shared';

export interface Signer {
  keyId: string;
  certificatePem: string;
  privateKey: KeyObject;
  /** When the signing certificate expires (epoch ms): no online file may outlive it. */
  notAfter: number;
}

export interface SigningKeyInfo {
  keyId: string;
  notBefore: string;
  notAfter: string;
  current: boolean;
}

/**
 * Where the signing keys come from when not from the key files: the database on PostgreSQL (databaseKeys.ts),
 * mirrored in memory so that signing stays synchronous. The root certificate stays in the data folder.
 */
export interface SigningKeySource {
  current(): Signer;
  list(): SigningKeyInfo[];
  /** undefined when no such key is stored. */
  certificate(keyId: string): string | undefined;
  /** The root-signed list of revoked keys in force, already verified against the root; undefined if none. */
  revocations(): SignedRevocationList | undefined;
}

/** fsync of a file or folder where the platform allows it (folders cannot be opened for it on Windows). */
function syncPath(path: string): void {
  try {
    const fd = openSync(path, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* best effort */
  }
}

/**
 * Writes a file atomically with owner-only permissions (keys must never be world-readable), on disk before it
 * returns: the root key's offline copy is followed by the deletion of the only other one.
 */
function writeSecretFile(path: string, content: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  syncPath(tmp);
  renameSync(tmp, path);
  chmodSync(path, 0o600);
  syncPath(dirname(path));
}

/**
 * Passphrases of a development key store, used only when none is configured outside production. They are in
 * this source file on purpose: such keys are not protected, and the server says so loudly at every start.
 */
export const DEVELOPMENT_KEY_PASSPHRASE = 'licensor-development-signing-keys-NOT-PROTECTED';
export const DEVELOPMENT_ROOT_PASSPHRASE = 'licensor-development-root-NOT-PROTECTED';

export interface KeyStoreOptions {
  commonName?: string;
  /** The root key's own passphrase (LICENSOR_ROOT_PASSPHRASE), never the signing keys'. */
  rootPassphrase?: string;
  /**
   * Production mode: refuse to create a development root or to open a store whose root private key sits in
   * the data folder, and require configured passphrases.
   */
  production?: boolean;
}

const PASSPHRASE_FILE = '.passphrase';

/** How to retire a `.passphrase` file written by earlier versions. */
const passphraseFileMessage = (dir: string) =>
  `${join(dir, PASSPHRASE_FILE)} holds the passphrase of the keys beside it, so anyone with the data folder or a backup can mint licenses. ` +
  'Move to configured passphrases (the file is then deleted): choose two different passphrases and run\n' +
  '  LICENSOR_KEY_PASSPHRASE=<signing keys passphrase> LICENSOR_ROOT_PASSPHRASE=<root passphrase> licensor keys migrate-passphrase\n' +
  'then start the server with the same LICENSOR_KEY_PASSPHRASE (and keep LICENSOR_ROOT_PASSPHRASE for `licensor keys rotate`).';

/** How to take the root private key out of the data folder (production refuses to start while it is there). */
export const offlineRootMessage = (dir: string) =>
  `The root private key ${join(dir, 'root.key.pem')} is in the data folder: whoever reads the folder or a backup can mint licenses every client trusts. ` +
  'Move it to offline storage (a removable drive kept in a safe) and delete it here:\n' +
  `  LICENSOR_ROOT_PASSPHRASE=<root passphrase> licensor keys move-root <offline folder>\n` +
  '(a root a development start created is under the development passphrase: set a new one, move-root re-encrypts it). ' +
  'Rotate later with the drive mounted: licensor keys rotate --root-key <offline folder>/root.key.pem. ' +
  'A new deployment creates its root offline from the start: licensor keys init --offline-root <offline folder>. ' +
  'See docs/merchant-guide.md, "Keys".';

/**
 * The server's key hierarchy on disk (`<data>/keys`):
 *   root.crt.pem              root certificate — what clients pin
 *   root.key.pem              root private key, encrypted PKCS#8 under the root's own passphrase — only in a
 *                             development store; production keeps it offline (`keys init --offline-root`)
 *   signing/<kid>.crt.pem     signing certificates issued by the root (kept: clients verify older files)
 *   signing/<kid>.key.pem     the current signing key's private key, encrypted PKCS#8; rotation deletes the
 *                             retired ones, so a copied data folder cannot sign with an old key
 *   current                   key id of the signing key in use
 * No passphrase is ever written to disk: signing keys use LICENSOR_KEY_PASSPHRASE, the root LICENSOR_ROOT_PASSPHRASE;
 * outside production, missing passphrases fall back to development ones and the server says so.
 */
export class KeyStore {
  private signer: Signer | undefined;
  private source: SigningKeySource | undefined;

  private constructor(
    readonly dir: string,
    private readonly passphrase: string,
    private readonly rootPassphrase: string,
  ) {}

  /** Opens the store, creating a development root and a first signing key on first start (not in production). */
  static open(
    dir: string,
    configuredPassphrase?: string,
    opts: KeyStoreOptions = {},
  ): { store: KeyStore; created: boolean } {
    if (existsSync(join(dir, PASSPHRASE_FILE))) throw new LicensorError('CONFIG_INVALID', passphraseFileMessage(dir));
    if (opts.production && !configuredPassphrase) {
      throw new LicensorError(
        'CONFIG_INVALID',
        "Production mode needs LICENSOR_KEY_PASSPHRASE (the signing keys' passphrase): set it in the environment or the secret store that starts the server.",
      );
    }
    const store = new KeyStore(
      dir,
      configuredPassphrase ?? DEVELOPMENT_KEY_PASSPHRASE,
      opts.rootPassphrase ?? DEVELOPMENT_ROOT_PASSPHRASE,
    );
    let created = false;
    if (!existsSync(store.rootCertPath)) {
      if (opts.production) {
        throw new LicensorError(
          'CONFIG_INVALID',
          `No keys in ${dir}. In production the root is created offline, never by the server: run\n` +
            '  LICENSOR_KEY_PASSPHRASE=<...> LICENSOR_ROOT_PASSPHRASE=<...> licensor keys init --offline-root <offline folder>\n' +
            'then start the server again. See docs/merchant-guide.md, "Keys".',
        );
      }
      store.init(opts.commonName ?? 'Licensor Root');
      created = true;
    }
    if (opts.production && store.hasRootKey) throw new LicensorError('CONFIG_INVALID', offlineRootMessage(dir));
    return { store, created };
  }

  /**
   * Creates a store whose root private key never touches the data folder: the root key goes to `offlineDir`
   * (encrypted under `rootPassphrase`), its certificate to both, and a first signing key, certified now while the
   * root is at hand, to the data folder.
   */
  static initWithOfflineRoot(
    dir: string,
    offlineDir: string,
    passphrases: { key: string; root: string },
    opts: { commonName?: string } = {},
  ): KeyStore {
    if (existsSync(join(dir, 'root.crt.pem'))) {
      throw new LicensorError(
        'CONFLICT',
        `Keys already exist in ${dir}; clients pin that root, so it is never replaced`,
      );
    }
    const offlineKey = join(offlineDir, 'root.key.pem');
    if (existsSync(offlineKey))
      throw new LicensorError('CONFLICT', `${offlineKey} already exists; pick an empty folder`);
    const commonName = opts.commonName ?? 'Licensor Root';
    const root = createRootCertificate({ commonName });
    mkdirSync(offlineDir, { recursive: true, mode: 0o700 });
    writeSecretFile(offlineKey, encryptPrivateKey(root.privateKey, passphrases.root));
    writeFileSync(join(offlineDir, 'root.crt.pem'), root.certificatePem);
    const store = new KeyStore(dir, passphrases.key, passphrases.root);
    mkdirSync(store.signingDir, { recursive: true, mode: 0o700 });
    writeFileSync(store.rootCertPath, root.certificatePem);
    store.storeSigningKey(issueSigningCertificate(root, { commonName: `${commonName} signing key` }));
    return store;
  }

  /**
   * Retires a `.passphrase` file: re-encrypts the signing keys under `key` and the root key (if it is here) under
   * `root`, then deletes the file. The two passphrases must differ.
   */
  static migratePassphraseFile(dir: string, passphrases: { key: string; root: string }): { rootKeyHere: boolean } {
    const file = join(dir, PASSPHRASE_FILE);
    if (!existsSync(file)) throw new LicensorError('NOT_FOUND', `No ${file}: nothing to migrate`);
    if (passphrases.key === passphrases.root) {
      throw new LicensorError('INVALID_INPUT', 'LICENSOR_ROOT_PASSPHRASE must differ from LICENSOR_KEY_PASSPHRASE');
    }
    const old = readFileSync(file, 'utf8').trim();
    const signingDir = join(dir, 'signing');
    const rewrites: [string, string][] = [];
    for (const f of existsSync(signingDir) ? readdirSync(signingDir) : []) {
      if (!f.endsWith('.key.pem')) continue;
      const path = join(signingDir, f);
      rewrites.push([path, encryptPrivateKey(decryptPrivateKey(readFileSync(path, 'utf8'), old), passphrases.key)]);
    }
    const rootKey = join(dir, 'root.key.pem');
    const rootKeyHere = existsSync(rootKey);
    if (rootKeyHere) {
      rewrites.push([
        rootKey,
        encryptPrivateKey(decryptPrivateKey(readFileSync(rootKey, 'utf8'), old), passphrases.root),
      ]);
    }
    // Every key decrypted before any is rewritten: a wrong file leaves the store as it was.
    for (const [path, pem] of rewrites) writeSecretFile(path, pem);
    rmSync(file);
    return { rootKeyHere };
  }

  /** Whether the root private key is in the data folder (a development store, or one not yet moved offline). */
  get hasRootKey(): boolean {
    return existsSync(this.rootKeyPath);
  }

  /** Said at every start of a store whose root can be read from the data folder. */
  developmentWarning(): string | undefined {
    if (!this.hasRootKey) return undefined;
    const weak = this.rootPassphrase === DEVELOPMENT_ROOT_PASSPHRASE || this.passphrase === DEVELOPMENT_KEY_PASSPHRASE;
    return `DEVELOPMENT ROOT: the root private key is in ${this.dir}${weak ? ' under a development passphrase' : ''}. Fine for trying Licensor; before shipping, create the production root offline (licensor keys init --offline-root <folder>) and pin that root certificate instead. Production mode (NODE_ENV=production or LICENSOR_PRODUCTION=on) refuses to start like this.`;
  }

  /**
   * Moves the root private key out of the data folder to `offlineDir`; the store keeps only the certificate.
   * A root still under the development passphrase (a development start: it is in the source code) is written
   * re-encrypted under the configured root passphrase, which must then be set: a root moved offline under a
   * public passphrase would protect nothing. The data folder keeps no copy of it (nor a leftover temp file).
   */
  moveRoot(offlineDir: string): { path: string; reEncrypted: boolean } {
    if (!this.hasRootKey) {
      this.removeRootTemps(); // a move that stopped after deleting the key, before its temp files
      throw new LicensorError('KEY_NOT_FOUND', `No root private key in ${this.dir}: it is already offline`);
    }
    const target = join(offlineDir, 'root.key.pem');
    const developmentPassphrases = [DEVELOPMENT_ROOT_PASSPHRASE, DEVELOPMENT_KEY_PASSPHRASE];
    if (developmentPassphrases.includes(this.rootPassphrase)) {
      throw new LicensorError(
        'INVALID_INPUT',
        'The root key goes offline under a passphrase of your own, never the development one (it is in the source code): set LICENSOR_ROOT_PASSPHRASE and run again — the passphrase the root was created under, or for a root a development start created, a new one (at least 12 characters, different from LICENSOR_KEY_PASSPHRASE) to re-encrypt it under',
      );
    }
    const pinned = new X509Certificate(this.rootCertificatePem).publicKey;
    /** Whether a key file's text opens under the configured root passphrase as the pinned root's key. */
    const isPinnedRootKey = (text: string): boolean => {
      try {
        return pinned.equals(createPublicKey(decryptPrivateKey(text, this.rootPassphrase)));
      } catch {
        return false;
      }
    };
    let reEncrypted = false;
    if (existsSync(target)) {
      // A move that stopped after writing the offline copy (before deleting this one) is finished; any other file
      // there is not this root's under this passphrase, and is left alone.
      if (!isPinnedRootKey(readFileSync(target, 'utf8'))) {
        throw new LicensorError('CONFLICT', `${target} already exists; pick an empty folder`);
      }
    } else {
      const pem = readFileSync(this.rootKeyPath, 'utf8');
      // Proves a passphrase opens it before anything moves: an unopenable offline root could never rotate again.
      let rootKey: KeyObject;
      try {
        rootKey = decryptPrivateKey(pem, this.rootPassphrase);
      } catch (err) {
        if ((err as LicensorError).code !== 'KEY_DECRYPT_FAILED') throw err;
        try {
          rootKey = decryptPrivateKey(pem, DEVELOPMENT_ROOT_PASSPHRASE); // a development start's root
        } catch {
          throw err; // neither opens it: the configured passphrase is wrong
        }
        reEncrypted = true;
      }
      if (!pinned.equals(createPublicKey(rootKey))) {
        throw new LicensorError(
          'CONFIG_INVALID',
          `${this.rootKeyPath} is not the private key of the root certificate beside it`,
        );
      }
      mkdirSync(offlineDir, { recursive: true, mode: 0o700 });
      writeSecretFile(target, reEncrypted ? encryptPrivateKey(rootKey, this.rootPassphrase) : pem);
      // Read back from the drive: the data folder's copy goes only once the offline one opens as the pinned root's.
      if (!isPinnedRootKey(readFileSync(target, 'utf8'))) {
        throw new LicensorError(
          'STORAGE_UNAVAILABLE',
          `${target} does not read back as the root key just written; the root key stays in ${this.dir}: check the drive and run again with an empty folder`,
        );
      }
    }
    writeFileSync(join(offlineDir, 'root.crt.pem'), this.rootCertificatePem);
    syncPath(join(offlineDir, 'root.crt.pem'));
    // Temp files an interrupted write of the root key left behind hold it too (under the passphrase of then).
    this.removeRootTemps();
    rmSync(this.rootKeyPath);
    return { path: target, reEncrypted };
  }

  private removeRootTemps(): void {
    for (const f of readdirSync(this.dir)) {
      if (f.startsWith('root.key.pem.') && f.endsWith('.tmp')) rmSync(join(this.dir, f), { force: true });
    }
  }

  private get rootCertPath() {
    return join(this.dir, 'root.crt.pem');
  }
  /** Where the root private key is when it is not kept offline (`--root-key` names the offline file). */
  get rootKeyPath(): string {
    return join(this.dir, 'root.key.pem');
  }
  private get signingDir() {
    return join(this.dir, 'signing');
  }

  private init(commonName: string): void {
    mkdirSync(this.signingDir, { recursive: true, mode: 0o700 });
    const root = createRootCertificate({ commonName });
    writeSecretFile(this.rootKeyPath, encryptPrivateKey(root.privateKey, this.rootPassphrase));
    writeFileSync(this.rootCertPath, root.certificatePem);
    this.storeSigningKey(issueSigningCertificate(root, { commonName: `${commonName} signing key` }));
  }

  /** Makes `key` current and destroys every other signing private key (their certificates stay). */
  private storeSigningKey(key: CertifiedKey): void {
    mkdirSync(this.signingDir, { recursive: true, mode: 0o700 });
    writeFileSync(join(this.signingDir, `${key.keyId}.crt.pem`), key.certificatePem);
    writeSecretFile(join(this.signingDir, `${key.keyId}.key.pem`), encryptPrivateKey(key.privateKey, this.passphrase));
    writeSecretFile(join(this.dir, 'current'), key.keyId);
    // A retired key signs nothing legitimate again; kept on disk it would let a copy of the data folder (or a
    // backup) issue files that verify. Deleted only after the new key is durably current.
    for (const f of readdirSync(this.signingDir)) {
      if (f.endsWith('.key.pem') && f !== `${key.keyId}.key.pem`) rmSync(join(this.signingDir, f));
    }
    this.signer = undefined;
  }

  get rootCertificatePem(): string {
    return readFileSync(this.rootCertPath, 'utf8');
  }

  get rootKeyId(): string {
    return keyIdOf(this.rootCertificatePem);
  }

  /**
   * Reads the signing keys from `source` from now on (the server on PostgreSQL); the files keep only the root
   * certificate's role. Rotation and revocation then go through the database (`licensor keys rotate`).
   */
  useSource(source: SigningKeySource): void {
    this.source = source;
  }

  /** The signing key in use (decrypted once and cached). */
  current(): Signer {
    if (this.source) return this.source.current();
    if (this.signer) return this.signer;
    const keyId = readFileSync(join(this.dir, 'current'), 'utf8').trim();
    const certificatePem = this.certificate(keyId);
    const keyPem = readFileSync(join(this.signingDir, `${keyId}.key.pem`), 'utf8');
    this.signer = {
      keyId,
      certificatePem,
      privateKey: decryptPrivateKey(keyPem, this.passphrase),
      notAfter: Date.parse(new X509Certificate(certificatePem).validTo),
    };
    return this.signer;
  }

  certificate(keyId: string): string {
    if (!/^[A-Za-z0-9_-]+$/.test(keyId)) throw new LicensorError('KEY_NOT_FOUND', `No signing key ${keyId}`);
    if (this.source) {
      const pem = this.source.certificate(keyId);
      if (!pem) throw new LicensorError('KEY_NOT_FOUND', `No signing key ${keyId}`);
      return pem;
    }
    const path = join(this.signingDir, `${keyId}.crt.pem`);
    if (!existsSync(path)) throw new LicensorError('KEY_NOT_FOUND', `No signing key ${keyId}`);
    return readFileSync(path, 'utf8');
  }

  list(): SigningKeyInfo[] {
    if (this.source) return this.source.list();
    const currentId = readFileSync(join(this.dir, 'current'), 'utf8').trim();
    return readdirSync(this.signingDir)
      .filter((f) => f.endsWith('.crt.pem'))
      .map((f) => {
        const cert = new X509Certificate(readFileSync(join(this.signingDir, f)));
        const keyId = f.slice(0, -'.crt.pem'.length);
        return {
          keyId,
          notBefore: new Date(cert.validFrom).toISOString(),
          notAfter: new Date(cert.validTo).toISOString(),
          current: keyId === currentId,
        };
      })
      .sort((a, b) => a.notBefore.localeCompare(b.notBefore));
  }

  private get revokedPath() {
    return join(this.dir, 'revoked.json');
  }

  #revocations: { mtimeMs: number; signed: SignedRevocationList } | undefined;

  /** The root-signed list of revoked signing keys, if the root ever revoked one (re-read when the file changes). */
  revocations(): SignedRevocationList | undefined {
    if (this.source) return this.source.revocations();
    let mtimeMs: number;
    try {
      mtimeMs = statSync(this.revokedPath).mtimeMs;
    } catch {
      return undefined;
    }
    if (this.#revocations?.mtimeMs !== mtimeMs) {
      const signed = JSON.parse(readFileSync(this.revokedPath, 'utf8')) as SignedRevocationList;
      verifyRevocationList(signed, [this.rootCertificatePem]); // a damaged file must not reach clients
      this.#revocations = { mtimeMs, signed };
    }
    return this.#revocations.signed;
  }

  /** Key ids on the current revocation list. */
  revokedKeyIds(): string[] {
    const signed = this.revocations();
    return signed ? verifyRevocationList(signed, [this.rootCertificatePem]).revoked : [];
  }

  /**
   * Adds a signing key to the root-signed revocation list (needs the root key, like rotation). The current key
   * cannot be revoked: rotate first, so the server always has a key clients still accept.
   */
  revoke(keyId: string, opts: { rootKeyFile?: string; rootPassphrase?: string; now?: Date } = {}): RevocationList {
    this.certificate(keyId); // must be one of ours
    const currentId = readFileSync(join(this.dir, 'current'), 'utf8').trim();
    const { list, signed } = this.signRevocation(keyId, {
      ...opts,
      currentKeyId: currentId,
      previous: this.revocations(),
    });
    const tmp = `${this.revokedPath}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(signed));
    renameSync(tmp, this.revokedPath);
    this.forgetPrivateKey(keyId);
    this.#revocations = undefined;
    return list;
  }

  /** A revoked key signs nothing again, even from this folder. */
  forgetPrivateKey(keyId: string): void {
    if (!/^[A-Za-z0-9_-]+$/.test(keyId)) return;
    rmSync(join(this.signingDir, `${keyId}.key.pem`), { force: true });
  }

  /**
   * The next root-signed revocation list: `previous` (the list in force) plus `keyId`, signed with the root key
   * (from the store, or `rootKeyFile` when the root is kept offline) and checked against the pinned root. Not
   * stored: `revoke` writes it to keys/revoked.json, `licensor keys revoke` on PostgreSQL to the database.
   * `anchor` (the list the root last signed, already verified) joins in: the next list revokes what either
   * revokes, under a serial above both. Without `keyId` the list only re-files what they revoke.
   */
  signRevocation(
    keyId: string | undefined,
    opts: {
      currentKeyId: string;
      previous: SignedRevocationList | undefined;
      anchor?: RevocationList;
      rootKeyFile?: string;
      rootPassphrase?: string;
      now?: Date;
    },
  ): { list: RevocationList; signed: SignedRevocationList } {
    if (keyId !== undefined && keyId === opts.currentKeyId) {
      throw new LicensorError(
        'CONFLICT',
        `${keyId} is the current signing key: rotate first (licensor keys rotate), then revoke it`,
      );
    }
    const keyFile = opts.rootKeyFile ?? this.rootKeyPath;
    if (!existsSync(keyFile)) {
      throw new LicensorError(
        'KEY_NOT_FOUND',
        `Root private key not found at ${keyFile}. The root is kept offline: pass --root-key <file> to revoke.`,
      );
    }
    const rootKey = decryptPrivateKey(readFileSync(keyFile, 'utf8'), opts.rootPassphrase ?? this.rootPassphrase);
    const before = opts.previous ? verifyRevocationList(opts.previous, [this.rootCertificatePem]) : undefined;
    const list: RevocationList = {
      v: 1,
      serial: Math.max(before?.serial ?? 0, opts.anchor?.serial ?? 0) + 1,
      issuedAt: (opts.now ?? new Date()).toISOString(),
      revoked: [
        ...new Set([...(before?.revoked ?? []), ...(opts.anchor?.revoked ?? []), ...(keyId ? [keyId] : [])]),
      ].sort(),
    };
    const signed = signRevocationList(list, rootKey);
    verifyRevocationList(signed, [this.rootCertificatePem]); // the root key must match the pinned certificate
    return { list, signed };
  }

  /**
   * Issues a new signing key with the root key (from the store, or from `rootKeyFile` when the root is
   * kept offline) and makes it current.
   */
  rotate(opts: { rootKeyFile?: string; rootPassphrase?: string; commonName?: string } = {}): SigningKeyInfo {
    const issued = this.issueSigningKey(opts);
    this.storeSigningKey(issued);
    return this.list().find((k) => k.keyId === issued.keyId)!;
  }

  /**
   * A new signing key certified by the root key (from the store, or from `rootKeyFile` when the root is kept
   * offline), not stored: `rotate` writes it to the key files, `licensor keys rotate` on PostgreSQL to the database.
   */
  issueSigningKey(opts: { rootKeyFile?: string; rootPassphrase?: string; commonName?: string } = {}): CertifiedKey {
    const keyFile = opts.rootKeyFile ?? this.rootKeyPath;
    if (!existsSync(keyFile)) {
      throw new LicensorError(
        'KEY_NOT_FOUND',
        `Root private key not found at ${keyFile}. The root is kept offline: pass --root-key <file> to rotate.`,
      );
    }
    const rootKey = decryptPrivateKey(readFileSync(keyFile, 'utf8'), opts.rootPassphrase ?? this.rootPassphrase);
    return issueSigningCertificate(
      { certificatePem: this.rootCertificatePem, privateKey: rootKey },
      { commonName: opts.commonName ?? 'Licensor signing key' },
    );
  }
}
