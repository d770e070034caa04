import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RevocationList, SignedRevocationList } from '@licensor/shared';
import { afterAll, describe, expect, it } from 'vitest';
import { KeyStore } from './keystore';
import { checkAgainstRevocationAnchor, readRevocationAnchor, writeRevocationAnchor } from './revocationAnchor';

describe('the revocation list kept beside the root', () => {
  const dir = mkdtempSync(join(tmpdir(), 'licensor-anchor-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const store = KeyStore.open(join(dir, 'keys'), 'signing passphrase', { rootPassphrase: 'root passphrase' }).store;
  const rootKeyFile = store.rootKeyPath;
  const [a, b, c] = [store.issueSigningKey(), store.issueSigningKey(), store.issueSigningKey()].map((k) => k.keyId) as [
    string,
    string,
    string,
  ];
  const sign = (keyId: string | undefined, previous?: SignedRevocationList, anchor?: RevocationList) =>
    store.signRevocation(keyId, { currentKeyId: 'none', previous, anchor });

  it('is read back verified; a list the root signed that leaves out an anchored key is refused even at a higher serial', () => {
    expect(readRevocationAnchor(rootKeyFile, store.rootCertificatePem)).toBeUndefined();
    const one = sign(a);
    const two = sign(b, one.signed);
    writeRevocationAnchor(rootKeyFile, two.signed);
    const anchor = readRevocationAnchor(rootKeyFile, store.rootCertificatePem)!;
    expect(anchor.list).toEqual(two.list);
    expect(() => checkAgainstRevocationAnchor(anchor, two.list)).not.toThrow();
    expect(() => checkAgainstRevocationAnchor(anchor, one.list)).toThrow(/list #1.*list #2/);
    // Another host without the file signed #3 on top of #1 (b left out): higher serial, still refused.
    const divergent = sign(c, sign(undefined, one.signed).signed);
    expect(divergent.list.serial).toBe(3);
    expect(() => checkAgainstRevocationAnchor(anchor, divergent.list)).toThrow(
      expect.objectContaining({ code: 'CERTIFICATE_INVALID', message: expect.stringContaining(b) }),
    );
    // The union of both, above both serials.
    expect(sign(undefined, divergent.signed, anchor.list).list).toMatchObject({
      serial: 4,
      revoked: [a, b, c].sort(),
    });
  });
});
