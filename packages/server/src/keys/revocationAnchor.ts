import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { LicensorError, type RevocationList, type SignedRevocationList, verifyRevocationList } from '@licensor/shared';

/**
 * The last revocation list the offline root signed on PostgreSQL, kept beside the root key
 * (docs/design/postgresql.md, "Revoked signing keys"): someone who can write to the database but has no root can
 * delete the newest `key_revocations` rows; this file lets `licensor keys revoke` notice before the root signs a
 * list that silently drops them.
 */
export const REVOCATION_ANCHOR_FILE = 'revocations.last.json';

export function revocationAnchorPath(rootKeyFile: string): string {
  return join(dirname(rootKeyFile), REVOCATION_ANCHOR_FILE);
}

export interface RevocationAnchor {
  path: string;
  signed: SignedRevocationList;
  list: RevocationList;
}

/** The anchor beside the root key, verified against the pinned root; undefined when there is none yet. */
export function readRevocationAnchor(rootKeyFile: string, rootCertificatePem: string): RevocationAnchor | undefined {
  const path = revocationAnchorPath(rootKeyFile);
  if (!existsSync(path)) return undefined;
  try {
    const signed = JSON.parse(readFileSync(path, 'utf8')) as SignedRevocationList;
    return { path, signed, list: verifyRevocationList(signed, [rootCertificatePem]) };
  } catch (err) {
    throw new LicensorError(
      'CERTIFICATE_INVALID',
      `${path} does not verify against the root certificate (${(err as Error).message}): it was edited or belongs to another root. Nothing was signed. Restore it from the backup of the offline root folder; delete it only if you are sure the database's list (licensor keys show) holds every key you revoked.`,
    );
  }
}

/**
 * Refuses when the database's newest verified list is older than the anchor or leaves out a key the anchor
 * revokes: rows were deleted (or the database restored from an older backup) by someone without the root.
 */
export function checkAgainstRevocationAnchor(anchor: RevocationAnchor, stored: RevocationList | undefined): void {
  const storedSerial = stored?.serial ?? 0;
  const missing = anchor.list.revoked.filter((keyId) => !stored?.revoked.includes(keyId));
  if (storedSerial >= anchor.list.serial && missing.length === 0) return;
  const found = stored ? `list #${stored.serial} (${stored.revoked.length} key(s))` : 'no list';
  throw new LicensorError(
    'CERTIFICATE_INVALID',
    [
      `The database holds ${found}, but the root last signed list #${anchor.list.serial} (${anchor.path})`,
      missing.length > 0 ? `; it leaves out revoked key(s) ${missing.join(', ')}` : '',
      '. key_revocations was edited or restored from an older backup by someone without the root. Nothing was signed.',
      ' Restore the table from a backup, or file the last signed list again with `licensor keys refile-revocations --root-key <file>`, then revoke.',
    ].join(''),
  );
}

/** Written after the database stored the list, atomically: a crash leaves the previous anchor, never half a file. */
export function writeRevocationAnchor(rootKeyFile: string, signed: SignedRevocationList): string {
  const path = revocationAnchorPath(rootKeyFile);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(signed), { mode: 0o600 });
  renameSync(tmp, path);
  return path;
}
