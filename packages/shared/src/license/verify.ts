import type { KeyObject, X509Certificate } from 'node:crypto';
import { LicensorError } from '../errors';
import { keyIdOf } from '../keys/certificates';
import { assertChainValidAt, parsePinnedRoots, type VerifiedChain, verifyChainStructure } from '../keys/chain';
import { domainVerify } from '../keys/domain';
import { decodeLicenseFile, type LicenseEnvelope, SUPPORTED_LICENSE_ALGORITHMS } from './file';
import type { LicensePayload } from './types';
import { decodeVerdictRecord, type VerdictPayload } from './verdict';

export interface LicenseVerifierOptions {
  /** Pinned root certificate PEMs (a string may hold several). */
  roots: string[];
  /** Accepted algorithms; default ['EdDSA']. The envelope's `alg` is never trusted beyond this list. */
  algorithms?: readonly string[];
}

export interface VerifiedLicenseFile {
  payload: LicensePayload;
  envelope: LicenseEnvelope;
  signingKeyId: string;
}

export interface VerifiedVerdict {
  payload: VerdictPayload;
  signingKeyId: string;
}

interface TrustedChain {
  chain: VerifiedChain;
  publicKey: KeyObject;
  keyId: string;
}

// Signing keys rotate rarely, so a handful of entries covers every chain a client meets; the bound keeps a
// stream of forged chains from growing memory.
const CHAIN_CACHE_SIZE = 16;

/**
 * Verifies License files against pinned roots: decode, certificate chain to a pinned root valid at the
 * file's `issuedAt`, `kid`, then the Ed25519 signature; an online file's refreshBy and graceUntil must not be
 * after its signing certificate's notAfter. Validity windows, fingerprints and status are the
 * caller's business. Verified chains are cached, so a warm verify is one Ed25519 verify plus parsing.
 */
export class LicenseVerifier {
  readonly #roots: X509Certificate[];
  readonly #algorithms: ReadonlySet<string>;
  readonly #chains = new Map<string, TrustedChain>();
  #revoked: ReadonlySet<string> = new Set();

  constructor(opts: LicenseVerifierOptions) {
    this.#roots = parsePinnedRoots(opts?.roots);
    const algorithms = opts.algorithms ?? SUPPORTED_LICENSE_ALGORITHMS;
    const supported: readonly string[] = SUPPORTED_LICENSE_ALGORITHMS;
    const unknown = algorithms.filter((a) => !supported.includes(a));
    if (algorithms.length === 0 || unknown.length > 0) {
      const message = `algorithms must be a non-empty subset of ${supported.join(', ')}`;
      throw new LicensorError('INVALID_INPUT', message, { unknown });
    }
    this.#algorithms = new Set(algorithms);
  }

  /** Signing key ids to refuse from now on (the ids of a verified, root-signed revocation list). */
  setRevokedKeys(keyIds: Iterable<string>): void {
    this.#revoked = new Set(keyIds);
  }

  verify(text: string | Uint8Array): VerifiedLicenseFile {
    const { envelope, payload } = decodeLicenseFile(text);
    if (!this.#algorithms.has(envelope.alg)) {
      throw new LicensorError('UNSUPPORTED_ALGORITHM', `Algorithm "${envelope.alg}" is not allowed`, {
        alg: envelope.alg,
      });
    }
    const trusted = this.#trustedChain(envelope.x5c);
    if (this.#revoked.has(trusted.keyId)) {
      throw new LicensorError('CERTIFICATE_INVALID', `The signing key ${trusted.keyId} has been revoked by the root`, {
        keyId: trusted.keyId,
        revoked: true,
      });
    }
    if (envelope.kid !== trusted.keyId) {
      throw new LicensorError('FILE_SIGNATURE_INVALID', 'The key id does not match the signing certificate');
    }
    if (!domainVerify('license', envelope.payload, envelope.sig, trusted.publicKey)) {
      throw new LicensorError('FILE_SIGNATURE_INVALID', 'The License signature does not verify');
    }
    // After the signature, so issuedAt is authentic: the key must have been valid when it signed, even if
    // it has since been rotated out or its certificate has expired.
    assertChainValidAt(trusted.chain, new Date(payload.issuedAt));
    // issuedAt is the signer's claim: a key that leaked (or a short-lived leaf, backdated) could otherwise issue
    // an online file that lives forever. An online file must end (grace included) while its leaf is valid.
    const leafEnd = trusted.chain.windows[0]!.notAfter;
    for (const [field, value] of [
      ['refreshBy', payload.refreshBy],
      ['graceUntil', payload.graceUntil],
    ] as const) {
      if (value !== null && Date.parse(value) > leafEnd) {
        throw new LicensorError(
          'CERTIFICATE_INVALID',
          `The file's ${field} (${value}) is after its signing certificate expires (${new Date(leafEnd).toISOString()})`,
          { field, notAfter: new Date(leafEnd).toISOString() },
        );
      }
    }
    return { payload, envelope, signingKeyId: trusted.keyId };
  }

  /**
   * Verifies a signed verdict record (see `signVerdict`): strict decode, chain to a pinned root valid at the
   * verdict's time, `kid`, and the Ed25519 signature under the 'verdict' domain (a License signature never
   * passes). Throws FILE_MALFORMED, FILE_SIGNATURE_INVALID, CERTIFICATE_INVALID, ….
   */
  verifyVerdict(text: string): VerifiedVerdict {
    const { envelope, payload } = decodeVerdictRecord(text);
    if (!this.#algorithms.has(envelope.alg)) {
      throw new LicensorError('UNSUPPORTED_ALGORITHM', `Algorithm "${envelope.alg}" is not allowed`);
    }
    const trusted = this.#trustedChain(envelope.x5c);
    if (envelope.kid !== trusted.keyId) {
      throw new LicensorError('FILE_SIGNATURE_INVALID', 'The key id does not match the signing certificate');
    }
    if (!domainVerify('verdict', envelope.payload, envelope.sig, trusted.publicKey)) {
      throw new LicensorError('FILE_SIGNATURE_INVALID', 'The verdict signature does not verify');
    }
    assertChainValidAt(trusted.chain, new Date(payload.issuedAt));
    return { payload, signingKeyId: trusted.keyId };
  }

  #trustedChain(x5c: string[]): TrustedChain {
    const cacheKey = x5c.join('.'); // '.' is not a base64 character, so the key is unambiguous
    const cached = this.#chains.get(cacheKey);
    if (cached) return cached;
    const chain = verifyChainStructure(x5c, this.#roots);
    const trusted = { chain, publicKey: chain.leaf.publicKey, keyId: keyIdOf(chain.leaf.publicKey) };
    if (this.#chains.size >= CHAIN_CACHE_SIZE) this.#chains.delete(this.#chains.keys().next().value!);
    this.#chains.set(cacheKey, trusted);
    return trusted;
  }
}
