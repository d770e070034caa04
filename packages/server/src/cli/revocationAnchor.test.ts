import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyRevocationList } from '@licensor/shared';
import { createTestPostgres } from '@licensor/testkit/postgres';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openPostgres, type PgDb } from '../db/postgres/facade';
import { EXIT, main } from './index';

/**
 * `licensor keys revoke` on PostgreSQL keeps the list the root last signed beside the offline root
 * (revocations.last.json) and refuses to build on a table someone without the root cut back
 * (docs/design/postgresql.md, "Revoked signing keys"). On SQLite the list stays keys/revoked.json.
 */

const PASS = 'test-passphrase';
/** move-root takes the root offline only under a passphrase of the operator's own. */
const ROOT_PASS = 'test-root-passphrase';
const pgTest = await createTestPostgres('cli_revocation_anchor');
afterAll(() => pgTest?.drop());
let schemas = 0;

describe.each([
  { name: 'SQLite', skip: false, postgres: false },
  { name: 'PostgreSQL', skip: !pgTest, postgres: true },
])('keys revoke with the root offline on $name', ({ skip, postgres }) => {
  let dir: string;
  let offline: string;
  let rootKey: string;
  let env: Record<string, string>;
  let pg: PgDb | undefined;
  /** Signing keys oldest first; the last one is current. */
  let keyIds: string[];

  async function cli(args: string[]) {
    let out = '';
    let err = '';
    const code = await main(['--data-dir', dir, ...args], {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
      env,
    });
    // biome-ignore lint/suspicious/noExplicitAny: reading --json output
    return { code, out, err, json: (): any => JSON.parse(out) };
  }
  const revoke = (keyId: string, ...extra: string[]) =>
    cli(['--json', 'keys', 'revoke', '--root-key', rootKey, ...extra, '--', keyId]);
  const anchorFile = () => join(offline, 'root', 'revocations.last.json');
  const root = () => readFileSync(join(dir, 'keys', 'root.crt.pem'), 'utf8');
  const anchor = () => verifyRevocationList(JSON.parse(readFileSync(anchorFile(), 'utf8')), [root()]);
  const shown = async () => (await cli(['--json', 'keys', 'show'])).json().revocationList;

  beforeEach(async () => {
    if (skip) return;
    dir = mkdtempSync(join(tmpdir(), 'licensor-revanchor-'));
    offline = mkdtempSync(join(tmpdir(), 'licensor-revanchor-offline-'));
    rootKey = join(offline, 'root', 'root.key.pem');
    const url = postgres ? await pgTest!.schemaUrl(`anchor_${++schemas}`) : undefined;
    pg = url ? openPostgres(url) : undefined;
    env = {
      USER: 'alice',
      LICENSOR_KEY_PASSPHRASE: PASS,
      LICENSOR_ROOT_PASSPHRASE: ROOT_PASS,
      ...(url ? { LICENSOR_DATABASE_URL: url } : {}),
    };
    expect((await cli(['keys', 'init'])).code).toBe(EXIT.ok);
    expect((await cli(['db', 'migrate'])).code).toBe(EXIT.ok);
    expect((await cli(['keys', 'move-root', join(offline, 'root')])).code).toBe(EXIT.ok);
    for (let i = 0; i < 3; i++) expect((await cli(['keys', 'rotate', '--root-key', rootKey])).code).toBe(EXIT.ok);
    const keys = (await cli(['--json', 'keys', 'show'])).json().signingKeys as { keyId: string; current: boolean }[];
    keyIds = [...keys.filter((k) => !k.current), ...keys.filter((k) => k.current)].map((k) => k.keyId);
    expect(keyIds).toHaveLength(4);
  });
  afterEach(async () => {
    if (skip) return;
    await pg?.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(offline, { recursive: true, force: true });
  });

  it.skipIf(skip || postgres)(
    'SQLite: the list stays keys/revoked.json; nothing is written beside the root',
    async () => {
      const first = await revoke(keyIds[0]!);
      expect(first.code, first.err).toBe(EXIT.ok);
      expect((await revoke(keyIds[1]!)).json().revoked).toMatchObject({ serial: 2 });
      const file = verifyRevocationList(JSON.parse(readFileSync(join(dir, 'keys', 'revoked.json'), 'utf8')), [root()]);
      expect(file).toMatchObject({ serial: 2, revoked: [keyIds[0], keyIds[1]].sort() });
      expect(existsSync(anchorFile())).toBe(false);
      expect(first.err).not.toContain('Notice');
    },
  );

  it.skipIf(skip || !postgres)('two revocations in a row: the file beside the root follows the table', async () => {
    // First use: no file yet, said so (a note, so without --json), and written after the insert.
    const first = await cli(['keys', 'revoke', '--root-key', rootKey, '--', keyIds[0]!]);
    expect(first.code, first.err).toBe(EXIT.ok);
    expect(first.out).toContain('list #1');
    expect(first.err).toContain(`Notice: no ${anchorFile()}`);
    expect(anchor()).toMatchObject({ serial: 1, revoked: [keyIds[0]] });
    const quietSecond = await cli(['keys', 'revoke', '--root-key', rootKey, '--', keyIds[1]!]);
    expect(quietSecond.code, quietSecond.err).toBe(EXIT.ok);
    expect(quietSecond.err).not.toContain('Notice');
    expect((await cli(['--json', 'keys', 'show'])).json().revocationList).toMatchObject({
      serial: 2,
      revoked: [keyIds[0], keyIds[1]].sort(),
    });
    expect(anchor()).toMatchObject({ serial: 2, revoked: [keyIds[0], keyIds[1]].sort() });
    expect(await shown()).toMatchObject({ serial: 2, revoked: [keyIds[0], keyIds[1]].sort() });
  });

  it.skipIf(skip || !postgres)(
    'the newest row deleted: refused, nothing signed; refile-revocations restores it and the next revocation keeps every key',
    async () => {
      expect((await revoke(keyIds[0]!)).code).toBe(EXIT.ok);
      expect((await revoke(keyIds[1]!)).code).toBe(EXIT.ok);
      await pg!.run('DELETE FROM key_revocations WHERE serial = 2');
      expect(await shown()).toMatchObject({ serial: 1, revoked: [keyIds[0]] });

      const refused = await revoke(keyIds[2]!);
      expect(refused.code).toBe(EXIT.config);
      expect(refused.err).toContain('list #1');
      expect(refused.err).toContain('list #2');
      expect(refused.err).toContain(keyIds[1]);
      expect(refused.err).toContain('keys refile-revocations');
      expect(await shown()).toMatchObject({ serial: 1, revoked: [keyIds[0]] });
      expect(anchor().serial).toBe(2);

      const refiled = await cli(['--json', 'keys', 'refile-revocations', '--root-key', rootKey]);
      expect(refiled.code, refiled.err).toBe(EXIT.ok);
      expect(refiled.json()).toMatchObject({ action: 'refiled', revocationList: { serial: 2 } });
      expect(await shown()).toMatchObject({ serial: 2, revoked: [keyIds[0], keyIds[1]].sort() });

      const next = await revoke(keyIds[2]!);
      expect(next.code, next.err).toBe(EXIT.ok);
      expect(next.json().revoked).toMatchObject({ serial: 3, revoked: [keyIds[0], keyIds[1], keyIds[2]].sort() });
      expect(anchor().serial).toBe(3);
    },
  );

  it.skipIf(skip || !postgres)(
    'every row deleted: refused as well (the table has no list, the root signed #1)',
    async () => {
      expect((await revoke(keyIds[0]!)).code).toBe(EXIT.ok);
      await pg!.run('DELETE FROM key_revocations');
      const refused = await revoke(keyIds[1]!);
      expect(refused.code).toBe(EXIT.config);
      expect(refused.err).toContain('no list');
      expect(await shown()).toBeNull();
    },
  );

  it.skipIf(skip || !postgres)('a file beside the root that does not verify is refused, nothing signed', async () => {
    expect((await revoke(keyIds[0]!)).code).toBe(EXIT.ok);
    const genuine = readFileSync(anchorFile(), 'utf8');
    const signed = JSON.parse(genuine) as { list: string; sig: string };
    const list = JSON.parse(Buffer.from(signed.list, 'base64url').toString('utf8'));
    // A list that revokes nothing, under the genuine signature: what an edit to let a key back in would look like.
    const edited = { ...signed, list: Buffer.from(JSON.stringify({ ...list, revoked: [] })).toString('base64url') };
    writeFileSync(anchorFile(), JSON.stringify(edited));
    const refused = await revoke(keyIds[1]!);
    expect(refused.code).toBe(EXIT.config);
    expect(refused.err).toContain('does not verify');
    expect(await shown()).toMatchObject({ serial: 1 });
    writeFileSync(anchorFile(), genuine);
    expect((await revoke(keyIds[1]!)).json().revoked).toMatchObject({ serial: 2 });
  });
});
