import { readFileSync } from 'node:fs';
import { registerSimulateCommand } from '@licensor/simulator';
import { Command, CommanderError } from 'commander';
import { registerCatalogCommands } from '../catalog/cli';
import { registerOperatorAccountCommands } from '../operators/cli';
import { registerWebhookCommands } from '../webhooks/cli';
import { registerDataCommands } from './commands/data';
import { registerKitCommands } from './commands/kit';
import { registerLicenseCommands } from './commands/licenses';
import { registerOperatorCommands } from './commands/operator';
import { registerServerCommands } from './commands/server';
import { type CliIo, EXIT, errorLine } from './output';
import { type Runner, Session } from './session';

export { type CliIo, EXIT } from './output';

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string })
      .version;
  } catch {
    return 'unknown';
  }
}

const defaultIo = (): CliIo => ({ stdout: process.stdout, stderr: process.stderr, env: process.env });

/** `node licensor.mjs …` and `licensor …` both arrive with the runtime and script first; tests pass bare args. */
function userArgs(argv: string[]): string[] {
  const first = argv[0] ?? '';
  const isRuntime = first === process.execPath || /(^|[\\/])(node|nodejs|bun|tsx)(\.exe)?$/i.test(first);
  return isRuntime ? argv.slice(2) : argv;
}

/**
 * The `licensor` command line. Returns the exit code (see EXIT and the server README's "CLI" section)
 * instead of exiting, so tests run it in-process.
 */
export async function main(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  const args = userArgs(argv);
  // Only an option before `--`: after it every word is an argument (`keys revoke -- --json` names a key).
  const end = args.indexOf('--');
  const wantsJson = (end < 0 ? args : args.slice(0, end)).includes('--json');

  const program = new Command('licensor')
    .description('Licensor server: start it, manage keys, tokens and the database, and act on licenses')
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('--data-dir <dir>', 'data folder (default: $LICENSOR_DATA_DIR or .data)')
    .option('--json', 'print machine-readable JSON instead of tables')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) =>
        write(wantsJson ? `${JSON.stringify({ error: { code: 'USAGE', message: s.trim() } })}\n` : s),
    })
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showHelpAfterError('(run the command with --help for usage)')
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 usage, 2 not found, 3 invalid input, 4 configuration, 5 internal error.\n',
    );

  const run: Runner =
    (fn) =>
    async (...args) => {
      const cmd = args[args.length - 1] as Command;
      const globals = cmd.optsWithGlobals<{ dataDir?: string; json?: boolean }>();
      const session = new Session(io, { dataDir: globals.dataDir, json: globals.json });
      try {
        await (fn as (s: Session, ...rest: unknown[]) => unknown)(session, ...args.slice(0, -1));
      } finally {
        await session.close();
      }
    };

  registerServerCommands(program, run, io);
  registerDataCommands(program, run);
  registerOperatorCommands(program, run);
  registerLicenseCommands(program, run);
  registerKitCommands(program, run);
  registerOperatorAccountCommands(program, run);
  registerCatalogCommands(program, run);
  registerWebhookCommands(program, run);
  registerSimulateCommand(program, io);

  try {
    await program.parseAsync(args, { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are successes; everything else commander rejects is a usage error.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0)
        return EXIT.ok;
      return EXIT.usage;
    }
    const e = errorLine(err);
    const hint =
      e.code === 'KEY_DECRYPT_FAILED'
        ? ': set LICENSOR_KEY_PASSPHRASE (signing keys) or LICENSOR_ROOT_PASSPHRASE (root key) to the passphrase the key was created with'
        : '';
    io.stderr.write(
      wantsJson
        ? `${JSON.stringify({ error: { code: e.code, message: e.text + hint, exitCode: e.exit } })}\n`
        : `✖ ${e.text}${hint}\n`,
    );
    return e.exit;
  }
}
