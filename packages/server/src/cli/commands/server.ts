import { join, resolve } from 'node:path';
import { LicensorError, type RevocationList, verifyRevocationList } from '@licensor/shared';
import type { Command } from 'commander';
import { loadConfig } from '../../config';
import { openPostgres } from '../../db/postgres/facade';
import { postgresSettings } from '../../db/postgres/settings';
import { DbSigningKeys } from '../../keys/dbSigningKeys';
import { DEVELOPMENT_KEY_PASSPHRASE, KeyStore } from '../../keys/keystore';
import {
  checkAgainstRevocationAnchor,
  readRevocationAnchor,
  revocationAnchorPath,
  writeRevocationAnchor,
} from '../../keys/revocationAnchor';
import { createLogger } from '../../logger';
import { metricsWhere, type RunningServer, startServer } from '../../server';
import { type CliIo, fields, table } from '../output';
import type { Runner, Session } from '../session';

/** Resolves on SIGINT, SIGTERM or when the caller's AbortSignal fires; listeners are removed afterwards. */
function untilStopped(signal: AbortSignal | undefined): Promise<string> {
  return new Promise((resolve) => {
    const stop = (why: string) => () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      signal?.removeEventListener('abort', onAbort);
      resolve(why);
    };
    const onInt = stop('SIGINT');
    const onTerm = stop('SIGTERM');
    const onAbort = stop('abort');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

async function start(s: Session, io: CliIo) {
  const config = loadConfig(s.serverEnv);
  const log = createLogger(config.logLevel);
  let running: RunningServer;
  try {
    running = await startServer(config, log);
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === 'EADDRINUSE') {
      throw new LicensorError('CONFIG_INVALID', `Port ${config.port} is in use: set PORT to a free port`);
    }
    if (e.code === 'EACCES') {
      throw new LicensorError('CONFIG_INVALID', `Not allowed to listen on port ${config.port}: set PORT above 1023`);
    }
    throw err;
  }
  const info = {
    url: running.url,
    dataDir: config.dataDir,
    keysCreated: running.keysCreated,
    rootCertificate: join(config.dataDir, 'keys', 'root.crt.pem'),
    productionUrl: `${running.url}/api/koogallery/produce`,
    adminApi: `${running.url}/api/admin/v1`,
  };
  s.print(info, () =>
    [
      `Licensor server listening on ${info.url}`,
      fields([
        ['Data folder', `${info.dataDir}${info.keysCreated ? '  (new: keys generated)' : ''}`],
        ['Root certificate', `${info.rootCertificate}  (pin this in @licensor/client)`],
        ['Production URL', info.productionUrl],
        ['Admin API', `${info.adminApi}${config.adminToken ? '' : '  (create a token: licensor tokens create)'}`],
        ['Health / metrics', `${info.url}/healthz  ${metricsWhere(config, running)}`],
      ]),
      'Press Ctrl+C to stop.',
    ].join('\n'),
  );
  if (running.developmentRoot) s.note(running.developmentRoot);
  const why = await untilStopped(io.signal);
  log.info({ signal: why }, 'shutting down');
  await running.close();
  log.flush?.();
}

/** Both passphrases, from the environment, for commands that write keys meant for production. */
function productionPassphrases(s: Session, why: string): { key: string; root: string } {
  const config = s.config();
  const missing = [
    config.keyPassphrase ? '' : 'LICENSOR_KEY_PASSPHRASE (signing keys)',
    config.rootPassphrase ? '' : 'LICENSOR_ROOT_PASSPHRASE (root key, a different passphrase)',
  ].filter(Boolean);
  if (missing.length > 0)
    throw new LicensorError('INVALID_INPUT', `${why} needs ${missing.join(' and ')} in the environment`);
  return { key: config.keyPassphrase!, root: config.rootPassphrase! };
}

function keysInit(s: Session, opts: { offlineRoot?: string }) {
  const config = s.config();
  const dir = s.keysDir;
  let store: KeyStore;
  let created = true;
  if (opts.offlineRoot) {
    const offlineDir = resolve(opts.offlineRoot);
    if (offlineDir === resolve(s.dataDir) || offlineDir.startsWith(`${resolve(s.dataDir)}/`)) {
      throw new LicensorError('INVALID_INPUT', '--offline-root must be outside the data folder (offline storage)');
    }
    store = KeyStore.initWithOfflineRoot(dir, offlineDir, productionPassphrases(s, 'keys init --offline-root'));
  } else {
    if (config.production && !s.hasKeys) {
      throw new LicensorError(
        'CONFIG_INVALID',
        'Production mode creates the root offline: licensor keys init --offline-root <folder outside the data folder>',
      );
    }
    ({ store, created } = KeyStore.open(dir, config.keyPassphrase, { rootPassphrase: config.rootPassphrase }));
  }
  const signer = store.current(); // proves the passphrase opens the keys
  const rootCertificatePath = join(dir, 'root.crt.pem');
  const data = {
    created,
    keysDir: dir,
    rootKeyId: store.rootKeyId,
    rootCertificatePath,
    rootCertificatePem: store.rootCertificatePem,
    currentSigningKeyId: signer.keyId,
    rootKey: opts.offlineRoot
      ? join(resolve(opts.offlineRoot), 'root.key.pem')
      : store.hasRootKey
        ? join(dir, 'root.key.pem')
        : null,
    development: store.developmentWarning() !== undefined,
  };
  s.print(data, () =>
    [
      created ? `Created the root key and a first signing key in ${dir}` : `Keys already exist in ${dir} (unchanged)`,
      fields([
        ['Root key id', data.rootKeyId],
        ['Signing key', data.currentSigningKeyId],
        ['Root certificate', rootCertificatePath],
        ['Root private key', data.rootKey ?? 'offline'],
      ]),
      'Pin this root certificate in @licensor/client (clients trust nothing else):',
      data.rootCertificatePem.trimEnd(),
    ].join('\n'),
  );
  if (opts.offlineRoot) {
    s.note(
      `The root private key is in ${data.rootKey} only: put that folder offline now. Rotate later with it mounted: licensor keys rotate --root-key ${data.rootKey}`,
    );
  } else if (data.development) {
    s.note(store.developmentWarning()!);
  }
}

function keysMoveRoot(s: Session, offlineFolder: string) {
  const offlineDir = resolve(offlineFolder);
  if (offlineDir === resolve(s.dataDir) || offlineDir.startsWith(`${resolve(s.dataDir)}/`)) {
    throw new LicensorError('INVALID_INPUT', 'The offline folder must be outside the data folder');
  }
  const { path: target, reEncrypted } = s.keys().moveRoot(offlineDir);
  s.print({ rootKey: target, reEncrypted }, () =>
    [
      `Moved the root private key to ${target}${reEncrypted ? ', re-encrypted under LICENSOR_ROOT_PASSPHRASE (it was under the development passphrase)' : ''}; the data folder keeps only the root certificate.`,
      `Put ${offlineDir} offline now. Rotate later with it mounted: licensor keys rotate --root-key ${target}`,
      ...(reEncrypted
        ? [
            `A development start's signing key is under the development passphrase too; production mode needs one under yours: LICENSOR_KEY_PASSPHRASE=… LICENSOR_ROOT_PASSPHRASE=… licensor keys rotate --root-key ${target}`,
          ]
        : []),
    ].join('\n'),
  );
}

function keysMigratePassphrase(s: Session) {
  const { rootKeyHere } = KeyStore.migratePassphraseFile(
    s.keysDir,
    productionPassphrases(s, 'keys migrate-passphrase'),
  );
  s.print({ migrated: true, rootKeyInDataFolder: rootKeyHere }, () =>
    [
      'Re-encrypted the keys under LICENSOR_KEY_PASSPHRASE (signing keys) and LICENSOR_ROOT_PASSPHRASE (root), and deleted keys/.passphrase.',
      'Start the server with the same LICENSOR_KEY_PASSPHRASE.',
      ...(rootKeyHere
        ? ['The root private key is still in the data folder: move it offline with `licensor keys move-root <folder>`.']
        : []),
    ].join('\n'),
  );
}

/**
 * On PostgreSQL the servers read their signing keys from the database (keys/databaseKeys.ts): key commands work
 * there. The key files of this host are imported first if the database has no key yet (as a server's first start
 * does), so the history of certificates is complete.
 */
async function withDatabaseKeys<T>(s: Session, fn: (keys: DbSigningKeys) => Promise<T>): Promise<T> {
  const config = s.config();
  const database = config.database as { kind: 'postgres'; url: string };
  const store = s.keys();
  const pg = openPostgres(database.url, { settings: postgresSettings(s.serverEnv) });
  const keys = new DbSigningKeys(pg, {
    passphrase: config.keyPassphrase ?? DEVELOPMENT_KEY_PASSPHRASE,
    rootCertificatePem: store.rootCertificatePem,
    listen: false,
  });
  try {
    await keys.importKeyFilesIfNone(store.dir);
    await keys.importRevocationFileIfNone(store.dir);
    return await fn(keys);
  } finally {
    await keys.close();
    await pg.close();
  }
}

const onPostgres = (s: Session) => s.config().database.kind === 'postgres';

async function keysRotate(s: Session, opts: { rootKey?: string; rootPassphraseEnv?: string }) {
  let rootPassphrase: string | undefined;
  if (opts.rootPassphraseEnv) {
    rootPassphrase = s.io.env[opts.rootPassphraseEnv];
    if (!rootPassphrase) {
      throw new LicensorError(
        'INVALID_INPUT',
        `Environment variable ${opts.rootPassphraseEnv} is not set: export the root key passphrase in it`,
      );
    }
  }
  const keys = s.keys();
  if (onPostgres(s)) {
    // Certified here with the root at hand; only the certified signing key goes to the database, which announces it.
    const issued = keys.issueSigningKey({ rootKeyFile: opts.rootKey, rootPassphrase });
    const { info, list } = await withDatabaseKeys(s, async (db) => ({
      info: await db.store(issued),
      list: await db.list(),
    }));
    s.print({ rotated: info, keys: list }, () =>
      [
        `New signing key ${info.keyId} is current in the database (valid ${info.notBefore} → ${info.notAfter}).`,
        'Files signed by older keys stay valid; the retired private key was erased. Every running instance signs with the new key within seconds, without a restart.',
      ].join('\n'),
    );
    return;
  }
  const info = keys.rotate({ rootKeyFile: opts.rootKey, rootPassphrase });
  s.print({ rotated: info, keys: keys.list() }, () =>
    [
      `New signing key ${info.keyId} is current (valid ${info.notBefore} → ${info.notAfter}).`,
      'Files signed by older keys stay valid; the retired private keys were deleted. Restart the server so it signs with the new key.',
    ].join('\n'),
  );
}

/**
 * The newest list in the database, checked against the list the root last signed (the anchor beside the root key):
 * what `keys revoke` and `keys refile-revocations` build on. Without an anchor, a notice (first use, or a moved
 * offline folder).
 */
async function revocationBase(s: Session, db: DbSigningKeys, rootKeyFile: string) {
  const keys = s.keys();
  const anchor = readRevocationAnchor(rootKeyFile, keys.rootCertificatePem);
  const previous = await db.revocations();
  const stored = previous ? verifyRevocationList(previous, [keys.rootCertificatePem]) : undefined;
  if (!anchor) {
    s.note(
      `Notice: no ${revocationAnchorPath(rootKeyFile)} beside the root key (first revocation on PostgreSQL, or the folder moved): building on the database's newest list (${stored ? `#${stored.serial}` : 'none'}) unchecked; check \`licensor keys show\` lists every key you revoked. The file is written after this revocation.`,
    );
  }
  return { anchor, previous, stored };
}

async function keysRevoke(s: Session, keyId: string, opts: { rootKey?: string }) {
  const keys = s.keys();
  let list: RevocationList;
  if (onPostgres(s)) {
    const rootKeyFile = opts.rootKey ?? keys.rootKeyPath;
    // Signed here with the offline root at hand; only the signed list goes to the database, which announces it.
    list = await withDatabaseKeys(s, async (db) => {
      const stored = await db.list();
      if (!stored.some((k) => k.keyId === keyId)) {
        throw new LicensorError(
          'KEY_NOT_FOUND',
          `No signing key ${keyId} in the database: \`licensor keys show\` lists them`,
        );
      }
      const base = await revocationBase(s, db, rootKeyFile);
      if (base.anchor) checkAgainstRevocationAnchor(base.anchor, base.stored);
      const signed = keys.signRevocation(keyId, {
        currentKeyId: stored.find((k) => k.current)?.keyId ?? '',
        previous: base.previous,
        anchor: base.anchor?.list,
        rootKeyFile,
      });
      await db.storeRevocations(signed.signed);
      writeRevocationAnchor(rootKeyFile, signed.signed);
      return signed.list;
    });
    keys.forgetPrivateKey(keyId);
  } else {
    list = keys.revoke(keyId, { rootKeyFile: opts.rootKey });
  }
  s.print({ revoked: list }, () =>
    [
      `Signing key ${keyId} is revoked (list #${list.serial}, ${list.revoked.length} key(s)); its private key is deleted ${onPostgres(s) ? 'from the database and this data folder' : 'here'}.`,
      onPostgres(s)
        ? 'Every running instance serves the new list within seconds (announced through the database, re-read every 30 s at the latest), without a restart.'
        : 'The server serves the new list from its next request, without a restart.',
      'Clients learn the list at their next check-in (and from GET /api/v1/keys) and from then on refuse files and answers signed by it, offline too.',
      'Devices holding a file from that key get a fresh one at check-in; offline-activated devices need a new offline response.',
    ].join('\n'),
  );
}

/**
 * After rows of key_revocations were deleted: files the list the root last signed (the anchor) again, as it is
 * when its serial is still free above the table's newest, else a new list signed by the root revoking what both
 * revoke under the next serial.
 */
async function keysRefileRevocations(s: Session, opts: { rootKey?: string }) {
  if (!onPostgres(s)) {
    throw new LicensorError(
      'CONFIG_INVALID',
      'keys refile-revocations is for PostgreSQL: on SQLite the list is keys/revoked.json in the data folder',
    );
  }
  const keys = s.keys();
  const rootKeyFile = opts.rootKey ?? keys.rootKeyPath;
  const result = await withDatabaseKeys(s, async (db) => {
    const anchor = readRevocationAnchor(rootKeyFile, keys.rootCertificatePem);
    if (!anchor) {
      throw new LicensorError(
        'KEY_NOT_FOUND',
        `No ${revocationAnchorPath(rootKeyFile)} beside the root key: nothing to file again (pass --root-key with the offline root file it sits beside)`,
      );
    }
    const previous = await db.revocations();
    const stored = previous ? verifyRevocationList(previous, [keys.rootCertificatePem]) : undefined;
    const covered = anchor.list.revoked.every((keyId) => stored?.revoked.includes(keyId));
    if (stored && stored.serial >= anchor.list.serial && covered) return { list: stored, action: 'kept' as const };
    const extra = (stored?.revoked ?? []).filter((keyId) => !anchor.list.revoked.includes(keyId));
    if ((stored?.serial ?? 0) < anchor.list.serial && extra.length === 0) {
      await db.storeRevocations(anchor.signed);
      return { list: anchor.list, action: 'refiled' as const };
    }
    const signed = keys.signRevocation(undefined, {
      currentKeyId: (await db.list()).find((k) => k.current)?.keyId ?? '',
      previous,
      anchor: anchor.list,
      rootKeyFile,
    });
    await db.storeRevocations(signed.signed);
    writeRevocationAnchor(rootKeyFile, signed.signed);
    return { list: signed.list, action: 'signed' as const };
  });
  s.print({ revocationList: result.list, action: result.action }, () =>
    result.action === 'kept'
      ? `The database already holds list #${result.list.serial}, which revokes every key the root last signed: nothing to do.`
      : `The database holds list #${result.list.serial} again (${result.list.revoked.length} key(s)${result.action === 'signed' ? ', newly signed by the root' : ', as the root last signed it'}); every running instance serves it within seconds.`,
  );
}

async function keysShow(s: Session) {
  const keys = s.keys();
  const { list, signed } = onPostgres(s)
    ? await withDatabaseKeys(s, async (db) => ({ list: await db.list(), signed: await db.revocations() }))
    : { list: keys.list(), signed: keys.revocations() };
  const revoked = signed ? verifyRevocationList(signed, [keys.rootCertificatePem]) : undefined;
  const revokedIds = new Set(revoked?.revoked ?? []);
  const data = {
    rootKeyId: keys.rootKeyId,
    rootCertificatePath: join(s.keysDir, 'root.crt.pem'),
    signingKeys: list.map((k) => ({ ...k, revoked: revokedIds.has(k.keyId) })),
    revocationList: revoked ? { serial: revoked.serial, issuedAt: revoked.issuedAt, revoked: revoked.revoked } : null,
  };
  s.print(data, () =>
    [
      fields([
        ['Root key id', data.rootKeyId],
        ['Root certificate', data.rootCertificatePath],
        [
          'Revocation list',
          revoked ? `#${revoked.serial} of ${revoked.issuedAt}, ${revoked.revoked.length} key(s)` : 'none',
        ],
      ]),
      table(data.signingKeys, [
        { header: 'SIGNING KEY', value: (k) => k.keyId, max: 64 },
        { header: 'VALID FROM', value: (k) => k.notBefore },
        { header: 'VALID UNTIL', value: (k) => k.notAfter },
        { header: 'REVOKED', value: (k) => (k.revoked ? 'yes' : '') },
        { header: 'CURRENT', value: (k) => (k.current ? 'yes' : '') },
      ]),
    ].join('\n'),
  );
}

export function registerServerCommands(program: Command, run: Runner, io: CliIo): void {
  program
    .command('start')
    .description('start the server (same as npm start); stops on Ctrl+C / SIGTERM')
    .action(run((s) => start(s, io)));

  const keys = program.command('keys').description('the signing key hierarchy (root + rotating signing keys)');
  keys
    .command('init')
    .description('create the root and a first signing key if missing; print the root certificate clients pin')
    .option(
      '--offline-root <folder>',
      'create the root private key in this folder (offline storage, outside the data folder), never in the data folder',
    )
    .action(run((s, opts: { offlineRoot?: string }) => keysInit(s, opts)));
  keys
    .command('move-root')
    .description(
      'move the root private key out of the data folder to offline storage (production needs this), under LICENSOR_ROOT_PASSPHRASE (a development root is re-encrypted under it)',
    )
    .argument('<folder>', 'offline folder (e.g. a removable drive)')
    .action(run((s, folder: string) => keysMoveRoot(s, folder)));
  keys
    .command('migrate-passphrase')
    .description(
      'retire keys/.passphrase: re-encrypt under LICENSOR_KEY_PASSPHRASE and LICENSOR_ROOT_PASSPHRASE, delete the file',
    )
    .action(run(keysMigratePassphrase));
  keys
    .command('rotate')
    .description('issue a new signing key with the root key and make it current')
    .option('--root-key <file>', 'root private key kept offline (default: keys/root.key.pem)')
    .option(
      '--root-passphrase-env <name>',
      'environment variable holding the root key passphrase (default: LICENSOR_ROOT_PASSPHRASE)',
    )
    .action(run((s, opts: { rootKey?: string; rootPassphraseEnv?: string }) => keysRotate(s, opts)));
  keys
    .command('revoke')
    .description('add a (retired) signing key to the root-signed revoked-key list that clients honour')
    .argument(
      '<key-id>',
      "the signing key id (see keys show); rotate first if it is the current one. Ids are base64url: one that starts with '-' goes after --, as in `keys revoke -- -AbC…`",
    )
    .option('--root-key <file>', 'root private key kept offline (default: keys/root.key.pem); LICENSOR_ROOT_PASSPHRASE')
    .action(run((s, keyId: string, opts: { rootKey?: string }) => keysRevoke(s, keyId, opts)));
  keys
    .command('refile-revocations')
    .description(
      'PostgreSQL: store again the revoked-key list the root last signed (revocations.last.json beside the root key) after key_revocations rows were deleted',
    )
    .option('--root-key <file>', 'root private key kept offline (default: keys/root.key.pem); LICENSOR_ROOT_PASSPHRASE')
    .action(run((s, opts: { rootKey?: string }) => keysRefileRevocations(s, opts)));
  keys.command('show').description('root key id and signing keys with their validity').action(run(keysShow));
}
