/**
 * The root-signed list of revoked signing keys. The offline root signs it (`licensor keys revoke`); the server
 * hands it to clients with every check-in answer and from `GET /api/v1/keys`; a client keeps the newest list it
 * has seen (by `serial`, never an older one) and refuses License files and answers signed by a listed key, offline
 * too. Revoking is for a key that may have leaked: a leaked key could otherwise issue files dated inside its
 * certificate's validity, which no time check can tell from genuine ones.
 */
import type { KeyObject } from 'node:crypto';
import {
  type RevocationList,
  revocationListSchema,
  type SignedRevocationList,
  signedRevocationListSchema,
} from '../api/schemas';
import { LicensorError } from '../errors';
import { parsePinnedRoots } from './chain';
import { domainSign, domainVerify } from './domain';

export { type RevocationList, revocationListSchema, type SignedRevocationList, signedRevocationListSchema };

export function signRevocationList(list: RevocationList, rootPrivateKey: KeyObject): SignedRevocationList {
  const text = Buffer.from(JSON.stringify(revocationListSchema.parse(list)), 'utf8').toString('base64url');
  return { list: text, sig: domainSign('key-revocations', text, rootPrivateKey) };
}

/** The list, if it is well-formed and signed by one of the pinned roots; throws CERTIFICATE_INVALID otherwise. */
export function verifyRevocationList(signed: unknown, rootsPem: string[]): RevocationList {
  const parsed = signedRevocationListSchema.safeParse(signed);
  const invalid = (why: string) => new LicensorError('CERTIFICATE_INVALID', `Revoked-key list refused: ${why}`);
  if (!parsed.success) throw invalid('malformed');
  const { list, sig } = parsed.data;
  if (!parsePinnedRoots(rootsPem).some((root) => domainVerify('key-revocations', list, sig, root.publicKey))) {
    throw invalid('not signed by a pinned root');
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(list, 'base64url').toString('utf8'));
  } catch {
    throw invalid('not JSON');
  }
  const checked = revocationListSchema.safeParse(body);
  if (!checked.success) throw invalid('unexpected content');
  return checked.data;
}
