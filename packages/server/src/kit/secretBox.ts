import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LicensorError } from '@licensor/shared';

/**
 * Encrypts Kit application secrets at rest (AES-256-GCM). The marketplace sends `clientSecret` RSA-OAEP
 * encrypted with the merchant's public key — but the seller-center debugger sends whatever the seller typed,
 * in clear — so the value is sealed as received: a copied database or backup reveals neither form. The
 * 256-bit key lives beside the database in `<data>/secrets/kit.key` (owner-only), deliberately outside the
 * database, so a database backup alone cannot be decrypted; back the key file up separately if the secrets
 * must survive a move to another machine. Envelope: `v1.<keyId>.<base64url(iv ‖ tag ‖ ciphertext)>`, with the
 * row's identity as associated data so a sealed value cannot be moved to another row.
 */
export class SecretBox {
  readonly keyId: string;

  private constructor(private readonly key: Buffer) {
    this.keyId = createHash('sha256').update(key).digest('hex').slice(0, 8);
  }

  private static readonly cache = new Map<string, SecretBox>();

  /** A box with a throw-away key. */
  static ephemeral(): SecretBox {
    return new SecretBox(randomBytes(32));
  }

  /**
   * The data folder's box (cached per folder, so the router and readers in one process share it). A
   * ':memory:' data folder gets one throw-away key per process: nothing it seals outlives the process anyway.
   */
  static forDataDir(dataDir: string): SecretBox {
    let box = SecretBox.cache.get(dataDir);
    if (!box) {
      box = dataDir === ':memory:' ? SecretBox.ephemeral() : SecretBox.load(dataDir);
      SecretBox.cache.set(dataDir, box);
    }
    return box;
  }

  /** Reads the folder's key file, creating it on first use (atomically, so concurrent starts agree). */
  static load(dataDir: string): SecretBox {
    const dir = join(dataDir, 'secrets');
    const file = join(dir, 'kit.key');
    if (!existsSync(file)) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      writeFileSync(tmp, randomBytes(32).toString('base64url'), { mode: 0o600 });
      try {
        linkSync(tmp, file); // fails with EEXIST if another process won the race: then use its key
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      } finally {
        unlinkSync(tmp);
      }
      chmodSync(file, 0o600);
    }
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url');
    if (key.length !== 32) {
      throw new LicensorError(
        'CONFIG_INVALID',
        `${file} does not hold a 256-bit key; restore it from backup, or delete it to start a new key (stored Kit client secrets then become unreadable)`,
      );
    }
    return new SecretBox(key);
  }

  seal(plaintext: string, aad: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `v1.${this.keyId}.${Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64url')}`;
  }

  open(envelope: string, aad: string): string {
    const [version, keyId, data] = envelope.split('.');
    if (version !== 'v1' || !keyId || data === undefined) {
      throw new LicensorError('KEY_DECRYPT_FAILED', 'Not a sealed Kit secret (expected v1.<keyId>.<data>)');
    }
    if (keyId !== this.keyId) {
      throw new LicensorError(
        'KEY_DECRYPT_FAILED',
        `Sealed with key ${keyId} but this server's Kit key is ${this.keyId}: restore <data>/secrets/kit.key from the original server`,
      );
    }
    const raw = Buffer.from(data, 'base64url');
    if (raw.length < 28) throw new LicensorError('KEY_DECRYPT_FAILED', 'Sealed Kit secret is truncated');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch (err) {
      throw new LicensorError(
        'KEY_DECRYPT_FAILED',
        'Sealed Kit secret failed authentication (tampered, or moved to another row)',
        undefined,
        {
          cause: err,
        },
      );
    }
  }
}
