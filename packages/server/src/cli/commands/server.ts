import { join } from 'node:path';
import { LicensorError } from '@licensor/shared';
import type { Command } from 'commander';
import { loadConfig } from '../../config';
import { KeyStore } from '../../keys/keystore';
import { createLogger } from '../../logger';
import { metricsWhere, type RunningServer, startServer } from '../../server';
import type { Runner } from '../index';
import { type CliIo, fields, table } from '../output';
import type { Session } from '../session';

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
  const why = await untilStopped(io.signal);
  log.info({ signal: why }, 'shutting down');
  await running.close();
  log.flush?.();
}

function keysInit(s: Session) {
  const config = s.config();
  const dir = s.keysDir;
  const { store, created } = KeyStore.open(dir, config.keyPassphrase);
  const signer = store.current(); // proves the passphrase opens the keys
  const rootCertificatePath = join(dir, 'root.crt.pem');
  const data = {
    created,
    keysDir: dir,
    rootKeyId: store.rootKeyId,
    rootCertificatePath,
    rootCertificatePem: store.rootCertificatePem,
    currentSigningKeyId: signer.keyId,
    passphrase: config.keyPassphrase ? 'LICENSOR_KEY_PASSPHRASE' : join(dir, '.passphrase'),
  };
  s.print(data, () =>
    [
      created ? `Created the root key and a first signing key in ${dir}` : `Keys already exist in ${dir} (unchanged)`,
      fields([
        ['Root key id', data.rootKeyId],
        ['Signing key', data.currentSigningKeyId],
        ['Root certificate', rootCertificatePath],
      ]),
      'Pin this root certificate in @licensor/client (clients trust nothing else):',
      data.rootCertificatePem.trimEnd(),
    ].join('\n'),
  );
  if (created) {
    s.note(
      `Next: keep a copy of ${join(dir, 'root.key.pem')} and its passphrase (${data.passphrase}) offline, then delete the key here; rotate later with \`licensor keys rotate --root-key <file>\`.`,
    );
  }
}

function keysRotate(s: Session, opts: { rootKey?: string; rootPassphraseEnv?: string }) {
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
  const info = keys.rotate({ rootKeyFile: opts.rootKey, rootPassphrase });
  s.print({ rotated: info, keys: keys.list() }, () =>
    [
      `New signing key ${info.keyId} is current (valid ${info.notBefore} → ${info.notAfter}).`,
      'Files signed by older keys stay valid. Restart the server so it signs with the new key.',
    ].join('\n'),
  );
}

function keysShow(s: Session) {
  const keys = s.keys();
  const list = keys.list();
  const data = { rootKeyId: keys.rootKeyId, rootCertificatePath: join(s.keysDir, 'root.crt.pem'), signingKeys: list };
  s.print(data, () =>
    [
      fields([
        ['Root key id', data.rootKeyId],
        ['Root certificate', data.rootCertificatePath],
      ]),
      table(list, [
        { header: 'SIGNING KEY', value: (k) => k.keyId, max: 64 },
        { header: 'VALID FROM', value: (k) => k.notBefore },
        { header: 'VALID UNTIL', value: (k) => k.notAfter },
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
    .action(run(keysInit));
  keys
    .command('rotate')
    .description('issue a new signing key with the root key and make it current')
    .option('--root-key <file>', 'root private key kept offline (default: keys/root.key.pem)')
    .option(
      '--root-passphrase-env <name>',
      'environment variable holding the root key passphrase (default: the key store passphrase)',
    )
    .action(run((s, opts: { rootKey?: string; rootPassphraseEnv?: string }) => keysRotate(s, opts)));
  keys.command('show').description('root key id and signing keys with their validity').action(run(keysShow));
}
