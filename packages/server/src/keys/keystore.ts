import { type KeyObject, randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type CertifiedKey,
  createRootCertificate,
  decryptPrivateKey,
  encryptPrivateKey,
  issueSigningCertificate,
  keyIdOf,
  LicensorError,
} from '@licensor/shared';

export interface Signer {
  keyId: string;
  certificatePem: string;
  privateKey: KeyObject;
}

export interface SigningKeyInfo {
  keyId: string;
  notBefore: string;
  notAfter: string;
  current: boolean;
}

/** Writes a file atomically with owner-only permissions (keys must never be world-readable). */
function writeSecretFile(path: string, content: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  renameSync(tmp, path);
  chmodSync(path, 0o600);
}

/**
 * The server's key hierarchy on disk (`<data>/keys`):
 *   root.crt.pem              root certificate — what clients pin
 *   root.key.pem              root private key, encrypted PKCS#8 (move it offline after `keys init`)
 *   signing/<kid>.crt.pem     signing certificates issued by the root
 *   signing/<kid>.key.pem     their private keys, encrypted PKCS#8
 *   current                   key id of the signing key in use
 *   .passphrase               generated passphrase, only when LICENSOR_KEY_PASSPHRASE is not set
 * Rotation issues a new signing key; files signed by older keys stay valid because clients verify the
 * chain at the file's issue time and only pin the root.
 */
export class KeyStore {
  private signer: Signer | undefined;

  private constructor(
    readonly dir: string,
    private readonly passphrase: string,
  ) {}

  static passphraseFor(dir: string, configured: string | undefined): { passphrase: string; generated: boolean } {
    if (configured) return { passphrase: configured, generated: false };
    const file = join(dir, '.passphrase');
    if (existsSync(file)) return { passphrase: readFileSync(file, 'utf8').trim(), generated: true };
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const passphrase = randomBytes(32).toString('base64url');
    writeSecretFile(file, passphrase);
    return { passphrase, generated: true };
  }

  /** Opens the store, creating the root and a first signing key on first start. */
  static open(
    dir: string,
    configuredPassphrase?: string,
    opts: { commonName?: string } = {},
  ): { store: KeyStore; created: boolean } {
    const { passphrase } = KeyStore.passphraseFor(dir, configuredPassphrase);
    const store = new KeyStore(dir, passphrase);
    let created = false;
    if (!existsSync(store.rootCertPath)) {
      store.init(opts.commonName ?? 'Licensor Root');
      created = true;
    }
    return { store, created };
  }

  private get rootCertPath() {
    return join(this.dir, 'root.crt.pem');
  }
  private get rootKeyPath() {
    return join(this.dir, 'root.key.pem');
  }
  private get signingDir() {
    return join(this.dir, 'signing');
  }

  private init(commonName: string): void {
    mkdirSync(this.signingDir, { recursive: true, mode: 0o700 });
    const root = createRootCertificate({ commonName });
    writeSecretFile(this.rootKeyPath, encryptPrivateKey(root.privateKey, this.passphrase));
    writeFileSync(this.rootCertPath, root.certificatePem);
    this.storeSigningKey(issueSigningCertificate(root, { commonName: `${commonName} signing key` }));
  }

  private storeSigningKey(key: CertifiedKey): void {
    mkdirSync(this.signingDir, { recursive: true, mode: 0o700 });
    writeFileSync(join(this.signingDir, `${key.keyId}.crt.pem`), key.certificatePem);
    writeSecretFile(join(this.signingDir, `${key.keyId}.key.pem`), encryptPrivateKey(key.privateKey, this.passphrase));
    writeSecretFile(join(this.dir, 'current'), key.keyId);
    this.signer = undefined;
  }

  get rootCertificatePem(): string {
    return readFileSync(this.rootCertPath, 'utf8');
  }

  get rootKeyId(): string {
    return keyIdOf(this.rootCertificatePem);
  }

  /** The signing key in use (decrypted once and cached). */
  current(): Signer {
    if (this.signer) return this.signer;
    const keyId = readFileSync(join(this.dir, 'current'), 'utf8').trim();
    const certificatePem = this.certificate(keyId);
    const keyPem = readFileSync(join(this.signingDir, `${keyId}.key.pem`), 'utf8');
    this.signer = { keyId, certificatePem, privateKey: decryptPrivateKey(keyPem, this.passphrase) };
    return this.signer;
  }

  certificate(keyId: string): string {
    if (!/^[A-Za-z0-9_-]+$/.test(keyId)) throw new LicensorError('KEY_NOT_FOUND', `No signing key ${keyId}`);
    const path = join(this.signingDir, `${keyId}.crt.pem`);
    if (!existsSync(path)) throw new LicensorError('KEY_NOT_FOUND', `No signing key ${keyId}`);
    return readFileSync(path, 'utf8');
  }

  list(): SigningKeyInfo[] {
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

  /**
   * Issues a new signing key with the root key (from the store, or from `rootKeyFile` when the root is
   * kept offline) and makes it current.
   */
  rotate(opts: { rootKeyFile?: string; rootPassphrase?: string; commonName?: string } = {}): SigningKeyInfo {
    const keyFile = opts.rootKeyFile ?? this.rootKeyPath;
    if (!existsSync(keyFile)) {
      throw new LicensorError(
        'KEY_NOT_FOUND',
        `Root private key not found at ${keyFile}. The root is kept offline: pass --root-key <file> to rotate.`,
      );
    }
    const rootKey = decryptPrivateKey(readFileSync(keyFile, 'utf8'), opts.rootPassphrase ?? this.passphrase);
    const issued = issueSigningCertificate(
      { certificatePem: this.rootCertificatePem, privateKey: rootKey },
      { commonName: opts.commonName ?? 'Licensor signing key' },
    );
    this.storeSigningKey(issued);
    return this.list().find((k) => k.keyId === issued.keyId)!;
  }
}
