import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  activateRequestSchema,
  decryptPrivateKey,
  encryptPrivateKey,
  LicenseVerifier,
  verifyRevocationList,
} from '@licensor/shared';
import { activationBody, newDevice, seedEntitlement, writeOfflineRequest } from '@licensor/testkit/licensing';
import { createTestApp } from '@licensor/testkit/server';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteDatabase } from '../db/sqlite';
import { DEVELOPMENT_ROOT_PASSPHRASE } from '../keys/keystore';
import { activate } from '../licensing';
import { EXIT, main } from './index';

const PASS = 'test-passphrase'; // what createTestApp encrypts its keys with
const ROOT_PASS = 'test-root-passphrase';
const quiet = () => ({ stdout: { write: () => true }, stderr: { write: () => true } });

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'licensor-cli-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  code: number;
  out: string;
  err: string;
  // biome-ignore lint/suspicious/noExplicitAny: test convenience for reading --json output
  json: () => any;
}

async function cli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; tty?: boolean; signal?: AbortSignal } = {},
): Promise<Run> {
  let out = '';
  let err = '';
  const code = await main(['--data-dir', dir, ...args], {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s), isTTY: opts.tty },
    env: { USER: 'alice', LICENSOR_KEY_PASSPHRASE: PASS, ...opts.env },
    signal: opts.signal,
  });
  return { code, out, err, json: () => JSON.parse(out) };
}

/** A data folder with keys, a schema and whatever `seed` writes, as the server would leave it. */
async function withData<T>(seed: (t: Awaited<ReturnType<typeof createTestApp>>) => T | Promise<T>): Promise<T> {
  const t = await createTestApp({}, dir);
  try {
    return await seed(t);
  } finally {
    await t.close();
  }
}

describe('usage and exit codes', () => {
  it('returns 0 for help, 1 for usage errors, with one line saying what to do', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(EXIT.ok);
    expect(help.out).toContain('entitlements');
    expect(help.out).toContain('Exit codes: 0 ok, 1 usage, 2 not found, 3 invalid input, 4 configuration, 5 internal');
    expect((await cli(['suspend', '--help'])).out).toContain('--data-dir');

    const unknown = await cli(['frobnicate']);
    expect(unknown.code).toBe(EXIT.usage);
    expect(unknown.err).toContain("unknown command 'frobnicate'");
    expect((await cli(['suspend'])).code).toBe(EXIT.usage);
    expect((await cli(['tokens', 'create', '--name', 'x', '--scope', 'root'])).code).toBe(EXIT.usage);
    expect((await cli([])).code).toBe(EXIT.usage);
  });

  it('accepts argv as node passes it and treats a missing database as a configuration error (4)', async () => {
    let err = '';
    const code = await main([process.execPath, '/usr/bin/licensor', '--data-dir', dir, 'tokens', 'list'], {
      stdout: { write: () => true },
      stderr: { write: (s: string) => (err += s) },
      env: {},
    });
    expect(code).toBe(EXIT.config);
    expect(err.trim().split('\n')).toHaveLength(1);
    expect(err).toContain(`No database at ${join(dir, 'licensor.db')}`);
    expect(err).toContain('licensor db migrate');
    expect(existsSync(join(dir, 'licensor.db'))).toBe(false);

    const json = await cli(['--json', 'entitlements', 'list']);
    expect(JSON.parse(json.err).error).toMatchObject({ code: 'CONFIG_INVALID', exitCode: 4 });
    expect((await cli(['entitlements', 'list'], { env: { PORT: 'abc' } })).code).toBe(EXIT.config);
  });
});

describe('keys', () => {
  it('init creates the hierarchy once and prints the root certificate to pin', async () => {
    const first = await cli(['keys', 'init']);
    expect(first.code).toBe(0);
    expect(first.out).toContain('Created the root key');
    expect(first.out).toContain('-----BEGIN CERTIFICATE-----');
    expect(first.out).toContain(join(dir, 'keys', 'root.crt.pem'));
    expect(first.err).toContain('offline');
    const pem = readFileSync(join(dir, 'keys', 'root.crt.pem'), 'utf8');

    const again = await cli(['--json', 'keys', 'init']);
    expect(again.json()).toMatchObject({ created: false, rootCertificatePem: pem });
    expect(readFileSync(join(dir, 'keys', 'root.crt.pem'), 'utf8')).toBe(pem);

    const wrong = await cli(['keys', 'init'], { env: { LICENSOR_KEY_PASSPHRASE: 'another-passphrase' } });
    expect(wrong.code).toBe(EXIT.config);
    expect(wrong.err).toContain('LICENSOR_KEY_PASSPHRASE');
  });

  it('rotates (also with an offline root key) and shows the signing keys', async () => {
    expect((await cli(['keys', 'init'])).code).toBe(0);
    const before = (await cli(['--json', 'keys', 'show'])).json();
    expect(before.signingKeys).toHaveLength(1);

    const rotated = await cli(['keys', 'rotate']);
    expect(rotated.code).toBe(0);
    expect(rotated.out).toContain('Restart the server');
    const offlineKey = join(dir, 'root-offline.pem');
    writeFileSync(offlineKey, readFileSync(join(dir, 'keys', 'root.key.pem')));
    rmSync(join(dir, 'keys', 'root.key.pem'));
    expect((await cli(['keys', 'rotate'])).code).toBe(EXIT.notFound);
    const viaFile = await cli(['--json', 'keys', 'rotate', '--root-key', offlineKey]);
    expect(viaFile.code).toBe(0);
    expect((await cli(['keys', 'rotate', '--root-key', offlineKey, '--root-passphrase-env', 'NOPE'])).code).toBe(
      EXIT.invalidInput,
    );

    const show = await cli(['keys', 'show']);
    expect(show.out).toContain(before.rootKeyId);
    const rows = show.out.split('\n').filter((l) => /^\S+\s+\d{4}-/.test(l));
    expect(rows).toHaveLength(3);
    expect(rows.filter((l) => l.trimEnd().endsWith('yes'))).toHaveLength(1);
    const after = (await cli(['--json', 'keys', 'show'])).json();
    expect(after.signingKeys.find((k: { current: boolean }) => k.current).keyId).toBe(viaFile.json().rotated.keyId);
  });

  it('never writes a passphrase file, gives the root its own passphrase, and rotation destroys retired keys', async () => {
    const bare = await cli(['keys', 'init'], { env: { LICENSOR_KEY_PASSPHRASE: undefined } });
    expect(bare.code).toBe(0);
    expect(bare.err).toContain('DEVELOPMENT ROOT');
    expect(existsSync(join(dir, 'keys', '.passphrase'))).toBe(false);
    rmSync(join(dir, 'keys'), { recursive: true });

    const env = { LICENSOR_ROOT_PASSPHRASE: ROOT_PASS };
    expect((await cli(['keys', 'init'], { env })).code).toBe(0);
    expect(readdirSync(join(dir, 'keys'))).not.toContain('.passphrase');
    const rootPem = readFileSync(join(dir, 'keys', 'root.key.pem'), 'utf8');
    expect(() => decryptPrivateKey(rootPem, PASS)).toThrow(expect.objectContaining({ code: 'KEY_DECRYPT_FAILED' }));
    expect(decryptPrivateKey(rootPem, ROOT_PASS).asymmetricKeyType).toBe('ed25519');
    // The same passphrase for both is refused: the root's must be its own.
    expect((await cli(['keys', 'show'], { env: { LICENSOR_ROOT_PASSPHRASE: PASS } })).code).toBe(EXIT.config);

    const signingKeys = () => readdirSync(join(dir, 'keys', 'signing')).filter((f) => f.endsWith('.key.pem'));
    const first = signingKeys();
    expect(first).toHaveLength(1);
    expect((await cli(['keys', 'rotate'], { env })).code).toBe(0);
    expect((await cli(['keys', 'rotate'], { env })).code).toBe(0);
    const current = (await cli(['--json', 'keys', 'show'], { env }))
      .json()
      .signingKeys.find((k: { current: boolean }) => k.current).keyId;
    // Only the current private key is left; the retired keys' certificates stay for verifying older files.
    expect(signingKeys()).toEqual([`${current}.key.pem`]);
    expect(readdirSync(join(dir, 'keys', 'signing')).filter((f) => f.endsWith('.crt.pem'))).toHaveLength(3);
  });

  it('production: refuses a root key in the data folder and says how to move it; keys init --offline-root never puts it there', async () => {
    const env = { LICENSOR_ROOT_PASSPHRASE: ROOT_PASS, PORT: '0', HOST: '127.0.0.1', LICENSOR_LOG_LEVEL: 'silent' };
    expect((await cli(['keys', 'init'], { env })).code).toBe(0);
    for (const production of [{ LICENSOR_PRODUCTION: 'on' }, { NODE_ENV: 'production' }]) {
      const refused = await cli(['start'], { env: { ...env, ...production } });
      expect(refused.code).toBe(EXIT.config);
      expect(refused.err).toContain('licensor keys move-root');
    }
    const offline = mkdtempSync(join(tmpdir(), 'licensor-offline-root-'));
    try {
      const moved = await cli(['keys', 'move-root', join(offline, 'root')], { env });
      expect(moved.code).toBe(0);
      expect(existsSync(join(dir, 'keys', 'root.key.pem'))).toBe(false);
      expect(existsSync(join(offline, 'root', 'root.key.pem'))).toBe(true);
      // Starts now (stopped right away), and rotation works with the offline root mounted.
      const stop = new AbortController();
      stop.abort();
      expect(
        await main(['--data-dir', dir, 'start'], {
          ...quiet(),
          env: { ...env, LICENSOR_KEY_PASSPHRASE: PASS, LICENSOR_PRODUCTION: 'on' },
          signal: stop.signal,
        }),
      ).toBe(0);
      expect((await cli(['keys', 'rotate', '--root-key', join(offline, 'root', 'root.key.pem')], { env })).code).toBe(
        0,
      );

      // A new deployment: the root is created offline, only its certificate reaches the data folder.
      const fresh = mkdtempSync(join(tmpdir(), 'licensor-cli-fresh-'));
      const init = await main(['--data-dir', fresh, 'keys', 'init', '--offline-root', join(offline, 'new')], {
        ...quiet(),
        env: { LICENSOR_KEY_PASSPHRASE: PASS, LICENSOR_ROOT_PASSPHRASE: ROOT_PASS },
      });
      expect(init).toBe(0);
      expect(readdirSync(join(fresh, 'keys'))).not.toContain('root.key.pem');
      expect(readFileSync(join(fresh, 'keys', 'root.crt.pem'), 'utf8')).toBe(
        readFileSync(join(offline, 'new', 'root.crt.pem'), 'utf8'),
      );
      const withoutRootPassphrase = await main(
        [
          '--data-dir',
          mkdtempSync(join(tmpdir(), 'licensor-cli-x-')),
          'keys',
          'init',
          '--offline-root',
          join(offline, 'x'),
        ],
        { ...quiet(), env: { LICENSOR_KEY_PASSPHRASE: PASS } },
      );
      expect(withoutRootPassphrase).toBe(EXIT.invalidInput);
      rmSync(fresh, { recursive: true, force: true });
    } finally {
      rmSync(offline, { recursive: true, force: true });
    }
  });

  it('move-root takes a development start to production: the root goes offline under LICENSOR_ROOT_PASSPHRASE, no copy under the development passphrase stays', async () => {
    const base = { PORT: '0', HOST: '127.0.0.1', LICENSOR_LOG_LEVEL: 'silent' };
    const stopped = () => {
      const stop = new AbortController();
      stop.abort();
      return stop.signal;
    };
    // `npm start` on a fresh data folder, no passphrase set: development keys.
    expect(await main(['--data-dir', dir, 'start'], { ...quiet(), env: base, signal: stopped() })).toBe(0);
    const keys = join(dir, 'keys');
    const devRoot = readFileSync(join(keys, 'root.key.pem'), 'utf8');
    expect(decryptPrivateKey(devRoot, DEVELOPMENT_ROOT_PASSPHRASE).asymmetricKeyType).toBe('ed25519');
    // What an interrupted write of the root key leaves behind.
    writeFileSync(join(keys, 'root.key.pem.4242.tmp'), devRoot);
    const offline = mkdtempSync(join(tmpdir(), 'licensor-offline-dev-root-'));
    try {
      // Offline under the public development passphrase would protect nothing: refused, nothing moves.
      const unset = await cli(['keys', 'move-root', join(offline, 'root')], {
        env: { ...base, LICENSOR_KEY_PASSPHRASE: undefined },
      });
      expect(unset.code).toBe(EXIT.invalidInput);
      expect(unset.err).toContain('LICENSOR_ROOT_PASSPHRASE');
      expect(readFileSync(join(keys, 'root.key.pem'), 'utf8')).toBe(devRoot);
      expect(existsSync(join(offline, 'root', 'root.key.pem'))).toBe(false);

      // One step: decrypted under the development passphrase, written offline under the operator's own.
      const env = { ...base, LICENSOR_KEY_PASSPHRASE: PASS, LICENSOR_ROOT_PASSPHRASE: ROOT_PASS };
      const moved = await cli(['--json', 'keys', 'move-root', join(offline, 'root')], { env });
      expect(moved.code, moved.err).toBe(0);
      const target = join(offline, 'root', 'root.key.pem');
      expect(moved.json()).toEqual({ rootKey: target, reEncrypted: true });
      const offlinePem = readFileSync(target, 'utf8');
      expect(() => decryptPrivateKey(offlinePem, DEVELOPMENT_ROOT_PASSPHRASE)).toThrow(
        expect.objectContaining({ code: 'KEY_DECRYPT_FAILED' }),
      );
      expect(decryptPrivateKey(offlinePem, ROOT_PASS).asymmetricKeyType).toBe('ed25519');

      // No file left in the data folder (temp files included) opens under the development root passphrase.
      const files = (readdirSync(dir, { recursive: true }) as string[]).map((f) => join(dir, f));
      const openable = files.filter((f) => {
        let text: string;
        try {
          text = readFileSync(f, 'latin1');
        } catch {
          return false; // a folder
        }
        const pems = text.match(/-----BEGIN ENCRYPTED PRIVATE KEY-----[\s\S]*?-----END ENCRYPTED PRIVATE KEY-----/g);
        return (pems ?? []).some((pem) => {
          try {
            decryptPrivateKey(pem, DEVELOPMENT_ROOT_PASSPHRASE);
            return true;
          } catch {
            return false;
          }
        });
      });
      expect(openable).toEqual([]);
      expect(readdirSync(keys).filter((f) => f.startsWith('root.key.pem'))).toEqual([]);

      // The rest of the way to production, as the merchant guide says: a signing key under LICENSOR_KEY_PASSPHRASE.
      expect((await cli(['keys', 'rotate', '--root-key', target], { env })).code).toBe(0);
      expect(
        await main(['--data-dir', dir, 'start'], {
          ...quiet(),
          env: { ...env, LICENSOR_PRODUCTION: 'on' },
          signal: stopped(),
        }),
      ).toBe(0);

      // A root under a passphrase of the operator's is moved as it is, and only with that passphrase.
      const other = mkdtempSync(join(tmpdir(), 'licensor-cli-own-root-'));
      const own = (args: string[], rootPassphrase: string) =>
        main(['--data-dir', other, ...args], {
          ...quiet(),
          env: { LICENSOR_KEY_PASSPHRASE: PASS, LICENSOR_ROOT_PASSPHRASE: rootPassphrase },
        });
      try {
        expect(await own(['keys', 'init'], ROOT_PASS)).toBe(0);
        const ownRoot = readFileSync(join(other, 'keys', 'root.key.pem'), 'utf8');
        expect(await own(['keys', 'move-root', join(offline, 'own')], 'another-root-passphrase')).toBe(EXIT.config);
        expect(readFileSync(join(other, 'keys', 'root.key.pem'), 'utf8')).toBe(ownRoot);
        // A folder holding some other file under that name is not overwritten.
        mkdirSync(join(offline, 'taken'));
        writeFileSync(join(offline, 'taken', 'root.key.pem'), 'not this root');
        expect(await own(['keys', 'move-root', join(offline, 'taken')], ROOT_PASS)).not.toBe(0);
        expect(readFileSync(join(offline, 'taken', 'root.key.pem'), 'utf8')).toBe('not this root');
        expect(readFileSync(join(other, 'keys', 'root.key.pem'), 'utf8')).toBe(ownRoot);
        expect(await own(['keys', 'move-root', join(offline, 'own')], ROOT_PASS)).toBe(0);
        expect(readFileSync(join(offline, 'own', 'root.key.pem'), 'utf8')).toBe(ownRoot);
        // A move that stopped after writing the offline copy (the data folder's still there) is finished by a rerun.
        writeFileSync(join(other, 'keys', 'root.key.pem'), ownRoot, { mode: 0o600 });
        expect(await own(['keys', 'move-root', join(offline, 'own')], ROOT_PASS)).toBe(0);
        expect(existsSync(join(other, 'keys', 'root.key.pem'))).toBe(false);
        expect(readFileSync(join(offline, 'own', 'root.key.pem'), 'utf8')).toBe(ownRoot);
      } finally {
        rmSync(other, { recursive: true, force: true });
      }
    } finally {
      rmSync(offline, { recursive: true, force: true });
    }
  });

  it('a data folder with a .passphrase file gets a message and a command, not a crash', async () => {
    const LEGACY = 'legacy-generated-passphrase';
    await withData(() => undefined);
    // The layout earlier versions wrote: every key under one generated passphrase, kept beside them.
    const keys = join(dir, 'keys');
    for (const path of [
      join(keys, 'root.key.pem'),
      ...readdirSync(join(keys, 'signing'))
        .filter((f) => f.endsWith('.key.pem'))
        .map((f) => join(keys, 'signing', f)),
    ]) {
      const old = path.endsWith('root.key.pem') ? DEVELOPMENT_ROOT_PASSPHRASE : PASS;
      writeFileSync(path, encryptPrivateKey(decryptPrivateKey(readFileSync(path, 'utf8'), old), LEGACY));
    }
    writeFileSync(join(keys, '.passphrase'), LEGACY);

    const refused = await cli(['keys', 'show'], { env: { LICENSOR_KEY_PASSPHRASE: undefined } });
    expect(refused.code).toBe(EXIT.config);
    expect(refused.err).toContain('licensor keys migrate-passphrase');

    const env = { LICENSOR_ROOT_PASSPHRASE: ROOT_PASS };
    const migrated = await cli(['keys', 'migrate-passphrase'], { env });
    expect(migrated.code).toBe(0);
    expect(migrated.out).toContain('move-root');
    expect(existsSync(join(keys, '.passphrase'))).toBe(false);
    // The keys now open with the configured passphrases: rotation decrypts the root and writes a signing key.
    expect((await cli(['keys', 'rotate'], { env })).code).toBe(0);
  });

  it('revokes a retired signing key with the root, never the current one', async () => {
    const env = { LICENSOR_ROOT_PASSPHRASE: ROOT_PASS };
    expect((await cli(['keys', 'init'], { env })).code).toBe(0);
    const retired = (await cli(['--json', 'keys', 'show'], { env })).json().signingKeys[0].keyId;
    // Key ids are base64url: one in 64 starts with '-', so the id goes after `--`, as the help says.
    const current = await cli(['keys', 'revoke', '--', retired], { env });
    expect(current.code).toBe(EXIT.invalidInput);
    expect(current.err).toContain('rotate first');
    expect((await cli(['keys', 'rotate'], { env })).code).toBe(0);
    const revoked = await cli(['--json', 'keys', 'revoke', '--', retired], { env });
    expect(revoked.code).toBe(0);
    expect(revoked.json().revoked).toMatchObject({ serial: 1, revoked: [retired] });
    const root = readFileSync(join(dir, 'keys', 'root.crt.pem'), 'utf8');
    const signed = JSON.parse(readFileSync(join(dir, 'keys', 'revoked.json'), 'utf8'));
    expect(verifyRevocationList(signed, [root]).revoked).toEqual([retired]);
    expect((await cli(['keys', 'revoke', 'no-such-key'], { env })).code).toBe(EXIT.notFound);
    // After `--` every word is the key id, even one that looks like an option: `-x` is looked up (not found), and
    // `--json` there is an id, not the switch to JSON error output.
    const dashed = await cli(['keys', 'revoke', '--', '-not-a-key'], { env });
    expect([dashed.code, dashed.err]).toEqual([EXIT.notFound, expect.stringContaining('-not-a-key')]);
    const literal = await cli(['keys', 'revoke', '--', '--json'], { env });
    expect(literal.code).toBe(EXIT.notFound);
    expect(literal.err).toMatch(/^✖ .*--json/);
  });

  it('needs keys before showing them', async () => {
    const r = await cli(['keys', 'show']);
    expect(r.code).toBe(EXIT.config);
    expect(r.err).toContain('licensor keys init');
  });
});

describe('database', () => {
  it('migrates a new database and reports an up-to-date one', async () => {
    const first = (await cli(['--json', 'db', 'migrate'])).json();
    expect(first.from).toBe(0);
    expect(first.applied[0]).toBe(1);
    const second = await cli(['db', 'migrate']);
    expect(second.out).toContain('is up to date');
  });

  it('backs up online to a file that opens and passes integrity_check, with progress on stderr', async () => {
    await withData(async (t) => {
      await t.db.transaction(async (tx) => {
        for (let i = 0; i < 2000; i++) await seedEntitlement(tx, { family: 'A' });
      });
    });
    const dest = join(dir, 'backups', 'one.db');
    const r = await cli(['db', 'backup', dest]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Integrity check');
    const lines = r.err.trim().split('\n');
    expect(lines[lines.length - 1]).toBe('backup: 100%');
    expect(lines.every((l) => /^backup: \d+%$/.test(l))).toBe(true);

    const copy = openSqliteDatabase(dest, { migrate: false });
    expect(await copy.integrityCheck()).toEqual(['ok']);
    expect((await copy.first<{ n: number }>('SELECT COUNT(*) AS n FROM entitlements'))!.n).toBe(2000);
    await copy.close();

    const exists = await cli(['db', 'backup', dest]);
    expect(exists.code).toBe(EXIT.invalidInput);
    expect(exists.err).toContain('--force');
    const tty = await cli(['--json', 'db', 'backup', dest, '--force'], { tty: true });
    expect(tty.code).toBe(0);
    expect(tty.err).toContain('\rBackup [');
    expect(tty.json()).toMatchObject({ file: dest, integrity: 'ok' });
    expect((await cli(['db', 'backup', join(dir, 'licensor.db')])).code).toBe(EXIT.invalidInput);
  });
});

describe('tokens', () => {
  it('creates a token the server accepts, lists it without the secret and revokes it', async () => {
    await cli(['db', 'migrate']);
    const created = await cli(['--json', 'tokens', 'create', '--name', 'dashboard', '--scope', 'read']);
    expect(created.code).toBe(0);
    const { id, token } = created.json();
    expect(token).toMatch(/^lsr_/);
    const human = await cli(['tokens', 'create', '--name', 'ops', '--scope', 'write']);
    expect(human.out).toContain('shown only once');

    const list = await cli(['tokens', 'list']);
    expect(list.out).toMatch(/ID\s+NAME\s+SCOPE/);
    expect(list.out).toContain('dashboard');
    expect(list.out).not.toContain(token);

    await withData(async (t) => {
      const r = await request(t.licensor.app).get('/api/admin/v1/entitlements').set('Authorization', `Bearer ${token}`);
      expect(r.status).toBe(200);
    });
    expect((await cli(['tokens', 'revoke', id])).out).toContain(`Revoked token ${id}`);
    expect((await cli(['tokens', 'revoke', id])).out).toContain('already revoked');
    expect((await cli(['tokens', 'revoke', 'tok_nope'])).code).toBe(EXIT.notFound);
    await withData(async (t) => {
      const r = await request(t.licensor.app).get('/api/admin/v1/entitlements').set('Authorization', `Bearer ${token}`);
      expect(r.status).toBe(401);
      const audit = await t.db.all<{ actor: string; action: string }>(
        'SELECT actor, action FROM audit_log ORDER BY id',
      );
      expect(audit).toContainEqual({ actor: 'cli:alice', action: 'admin_token.revoked' });
    });
  });

  it('creates admin-scoped tokens, the only ones besides the bootstrap token that manage tokens', async () => {
    await cli(['db', 'migrate']);
    const admin = (await cli(['--json', 'tokens', 'create', '--name', 'owner', '--scope', 'admin'])).json();
    const write = (await cli(['--json', 'tokens', 'create', '--name', 'ops', '--scope', 'write'])).json();
    expect(admin.scope).toBe('admin');
    await withData(async (t) => {
      const as = (token: string) =>
        request(t.licensor.app)
          .post('/api/admin/v1/tokens')
          .set('Authorization', `Bearer ${token}`)
          .send({ name: 'more', scope: 'write' });
      expect((await as(write.token)).status).toBe(403);
      expect((await as(admin.token)).status).toBe(201);
    });
  });
});

describe('operator commands', () => {
  it('lists, shows, suspends, reinstates and revokes licenses', async () => {
    const { a, b } = await withData(async (t) => {
      const a = await seedEntitlement(t.db, { family: 'A', productId: 'prod-x' });
      const b = await seedEntitlement(t.db, { family: 'B', status: 'frozen' });
      await t.db.run(`UPDATE entitlements SET customer_name = '华为测试客户' WHERE id = ?`, [a.id]);
      const test = await seedEntitlement(t.db);
      await t.db.run('UPDATE entitlements SET test = 1 WHERE id = ?', [test.id]);
      return { a, b };
    });
    const list = await cli(['entitlements', 'list']);
    expect(list.code).toBe(0);
    const lines = list.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+CODE\s+FAM\s+STATUS/);
    expect(lines).toHaveLength(2 + 2 + 1); // header, rule, two rows, footer
    expect(lines[4]).toBe('2 of 2 shown');
    // Columns line up even with wide (CJK) characters: STATUS starts at the same display column in every row.
    const statusAt = lines[0]!.indexOf('STATUS');
    expect(lines.slice(2, 4).every((l) => /^(active|frozen)/.test(l.slice(statusAt)))).toBe(true);

    const json = (await cli(['--json', 'entitlements', 'list', '--status', 'frozen'])).json();
    expect(json.items.map((e: { id: string }) => e.id)).toEqual([b.id]);
    expect((await cli(['--json', 'entitlements', 'list', '--include-test'])).json().total).toBe(3);
    const paged = (await cli(['--json', 'entitlements', 'list', '--limit', '1'])).json();
    expect(paged.nextCursor).toBeTruthy();
    const next = (await cli(['--json', 'entitlements', 'list', '--limit', '1', '--cursor', paged.nextCursor])).json();
    expect(next.items[0].id).not.toBe(paged.items[0].id);
    const bad = await cli(['entitlements', 'list', '--limit', '500']);
    expect(bad.code).toBe(EXIT.invalidInput);
    expect(bad.err).toContain('limit');

    const show = await cli(['entitlements', 'show', a.code!]);
    expect(show.out).toContain(`License:`);
    expect(show.out).toContain('华为测试客户');
    expect((await cli(['entitlements', 'show', 'nope'])).code).toBe(EXIT.notFound);

    const suspended = await cli(['suspend', a.id, '--reason', 'chargeback']);
    expect(suspended.out).toContain('status is now suspended');
    expect((await cli(['--json', 'reinstate', a.id])).json().entitlement.status).toBe('active');
    expect((await cli(['revoke', a.id])).out).toContain('revoked');
    expect((await cli(['suspend', 'nope'])).code).toBe(EXIT.notFound);
    const conflict = await cli(['suspend', a.id]);
    expect(conflict.code).toBe(EXIT.invalidInput); // revoked: reinstate first
    expect(conflict.err).toContain('reinstate it first');

    const audit = await cli(['--json', 'audit', 'list', '--entitlement', a.id]);
    expect(audit.json().items.map((x: { actor: string; action: string }) => `${x.actor} ${x.action}`)).toEqual([
      'cli:alice entitlement.revoked',
      'cli:alice entitlement.reinstated',
      'cli:alice entitlement.suspended',
    ]);
  });

  it('frees and moves seats, lists activations, registers codes', async () => {
    const { ent, other, activationId } = await withData(async (t) => {
      const ent = await seedEntitlement(t.db, { family: 'A', seats: 2, productId: 'p' });
      const other = await seedEntitlement(t.db, { family: 'A', seats: 2, productId: 'p' });
      const input = activateRequestSchema.parse(activationBody(newDevice(), ent.code!));
      const r = await activate(t.licensor.ctx, input);
      return { ent, other, activationId: r.activation.id };
    });
    const acts = await cli(['activations', '--entitlement', ent.id]);
    expect(acts.out).toContain(activationId);
    expect((await cli(['seats', 'move', activationId, '--to', other.code!])).out).toContain(`license ${other.id}`);
    expect((await cli(['seats', 'free', activationId])).out).toContain('Freed the seat');
    expect((await cli(['seats', 'free', activationId])).out).toContain('nothing changed');
    expect((await cli(['seats', 'free', 'nope'])).code).toBe(EXIT.notFound);

    const reg = await cli([
      '--json',
      'codes',
      'register',
      'PLTESTCODE0001',
      '--test',
      '--product',
      'p',
      '--seats',
      '3',
      '--expires',
      '20301231235959',
    ]);
    expect(reg.code).toBe(0);
    expect(reg.json()).toMatchObject({
      created: true,
      entitlement: { code: 'PLTESTCODE0001', seats: 3, test: true, expiresAt: '2030-12-31T23:59:59.000Z' },
    });
    expect((await cli(['codes', 'register', 'PLTESTCODE0001'])).out).toContain('already registered');
    expect((await cli(['codes', 'register', 'PLX', '--seats', 'many'])).code).toBe(EXIT.invalidInput);
    expect((await cli(['codes', 'register', 'PLX', '--expires', 'soon'])).code).toBe(EXIT.invalidInput);
    // A date alone is the end of that day, UTC (the whole day is included), as --help says.
    const byDate = await cli([
      '--json',
      'codes',
      'register',
      'PLTESTCODE0002',
      '--product',
      'p',
      '--expires',
      '2030-12-31',
    ]);
    expect(byDate.json().entitlement.expiresAt).toBe('2030-12-31T23:59:59.999Z');
    expect((await cli(['codes', 'register', 'PLX', '--product', 'p', '--expires', '2030-02-30'])).code).toBe(
      EXIT.invalidInput,
    );
    const help = (await cli(['codes', 'register', '--help'])).out.replace(/\s+/g, ' ');
    expect(help).toContain('2027-01-31 (the end of that day, 23:59:59.999 UTC)');
  });

  it('refuses to register a code without a product, and stores codes as activation looks them up', async () => {
    await withData(() => undefined);
    const bare = await cli(['codes', 'register', 'PLNOPRODUCT01']);
    expect(bare.code).toBe(EXIT.invalidInput);
    expect(bare.err).toContain('--product');
    expect(bare.err).toContain('LICENSOR_PRODUCT_ID');
    expect((await cli(['--json', 'entitlements', 'list'])).json().total).toBe(0);

    // A documented default product applies when none is given.
    const byDefault = await cli(['--json', 'codes', 'register', 'PLDEFAULT01'], {
      env: { LICENSOR_PRODUCT_ID: 'dflt' },
    });
    expect(byDefault.json()).toMatchObject({ created: true, entitlement: { code: 'PLDEFAULT01', productId: 'dflt' } });

    // Lower case and spaces, as someone might paste it: stored in the form a typed code is looked up by.
    const lower = await cli(['--json', 'codes', 'register', ' pllower01 ', '--product', 'p']);
    expect(lower.json()).toMatchObject({ created: true, entitlement: { code: 'PLLOWER01', productId: 'p' } });
    expect((await cli(['codes', 'register', 'PLLOWER01', '--product', 'p'])).out).toContain('already registered');
  });

  it('answers an offline request file with a verifiable License file', async () => {
    const ent = await withData((t) => seedEntitlement(t.db, { family: 'A' }));
    const device = newDevice();
    const requestFile = join(dir, 'request.txt');
    writeOfflineRequest(requestFile, device, ent.code!);
    const out = join(dir, 'license.lic');
    const r = await cli(['offline-response', requestFile, '--out', out]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(out);
    const root = readFileSync(join(dir, 'keys', 'root.crt.pem'), 'utf8');
    expect(new LicenseVerifier({ roots: [root] }).verify(readFileSync(out, 'utf8')).payload.eid).toBe(ent.id);
    expect((await cli(['offline-response', requestFile, '--out', out])).code).toBe(EXIT.invalidInput); // exists
    const printed = await cli(['offline-response', requestFile]);
    expect(printed.out).toContain('-----BEGIN LICENSOR LICENSE-----');
    expect((await cli(['offline-response', join(dir, 'missing.txt')])).code).toBe(EXIT.invalidInput);
    writeFileSync(join(dir, 'garbage.txt'), 'not a request');
    const garbage = await cli(['offline-response', join(dir, 'garbage.txt')]);
    expect(garbage.code).toBe(EXIT.invalidInput);
    expect(garbage.err).toMatch(/^✖ .+\n$/);
  });

  it('lists marketplace messages and the outbox, and retries an item', async () => {
    const failedId = await withData(async (t) => {
      t.licensor.ctx.messages.record({
        direction: 'in',
        activity: 'getLicense',
        resultCode: '000000',
        httpStatus: 200,
      });
      t.licensor.ctx.messages.record({
        direction: 'out',
        activity: 'license.query',
        resultCode: '92020005',
        code: 'PL9',
      });
      const id = await t.licensor.ctx.outbox.enqueue(t.db, 'license.upload', { eventId: 'E1' });
      await t.db.run(`UPDATE outbox SET status = 'failed', last_error = 'HTTP 500' WHERE id = ?`, [id]);
      return id;
    });
    const all = await cli(['messages', 'list']);
    expect(all.out).toMatch(/ID\s+AT\s+DIR\s+ACTIVITY/);
    const failed = (await cli(['--json', 'messages', 'list', '--failed'])).json();
    expect(failed.items.map((m: { activity: string }) => m.activity)).toEqual(['license.query']);
    expect((await cli(['--json', 'messages', 'list', '--result-code', '000000'])).json().total).toBe(1);

    const ob = await cli(['outbox', 'list']);
    expect(ob.out).toContain('license.upload');
    expect(ob.out).toContain('HTTP 500');
    expect((await cli(['outbox', 'retry', String(failedId)])).out).toContain('queued for another attempt');
    expect((await cli(['--json', 'outbox', 'list'])).json().items[0].status).toBe('pending');
    expect((await cli(['outbox', 'retry', '4242'])).code).toBe(EXIT.notFound);
    expect((await cli(['outbox', 'retry', 'abc'])).code).toBe(EXIT.invalidInput);
  });
});

describe('start', () => {
  it('runs the server until stopped', async () => {
    const stop = new AbortController();
    const env = { PORT: '0', HOST: '127.0.0.1', LICENSOR_LOG_LEVEL: 'silent', LICENSOR_SCHEDULER: 'on' };
    let out = '';
    const running = main(['--data-dir', dir, 'start'], {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: () => true },
      env: { ...env, LICENSOR_KEY_PASSPHRASE: PASS },
      signal: stop.signal,
    });
    const deadline = Date.now() + 5000;
    while (!out.includes('listening on') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const url = /listening on (\S+)/.exec(out)![1]!;
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(out).toContain('(new: keys generated)');
    stop.abort();
    expect(await running).toBe(0);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    // The daily scheduler ran at start: the (empty) days of the catch-up window are planned.
    const db = openSqliteDatabase(join(dir, 'licensor.db'));
    expect((await db.first<{ n: number }>(`SELECT COUNT(*) AS n FROM daily_runs WHERE job = 'daily.plan'`))!.n).toBe(7);
    await db.close();
  });
});
