/**
 * `licensor-client`: inspect and manage this machine's license from a terminal or a script.
 * Human-readable by default, `--json` for scripts; exit codes by failure class (see EXIT and README).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  devicesResponseSchema,
  LicenseVerifier,
  LicensorError,
  normalizeLicenseCode,
  toLicensorError,
} from '@licensor/shared';
import type { Command } from 'commander';
import { z } from 'zod';
import { ApiClient } from './api';
import { defaultDataDir } from './dataDir';
import { evaluateLicense, type LicenseStatus } from './evaluate';
import {
  collectFingerprint,
  defaultFingerprintProvider,
  hashedFingerprint,
  type MachineFingerprint,
} from './fingerprint';
import { type CheckInResult, LicenseManager } from './manager';
import { activationErrorText, type Language, statusText } from './messages';
import { formatTiming, markPhase, timingTrace } from './timing';

/** Exit codes: stable, documented in README.md. */
export const EXIT = {
  ok: 0,
  usage: 1,
  noLicense: 2,
  notUsable: 3,
  fingerprint: 4,
  integrity: 5,
  time: 6,
  unreachable: 7,
  other: 8,
} as const;

const CLASSES: [number, string[]][] = [
  [EXIT.ok, ['VALID']],
  [EXIT.usage, ['INVALID_INPUT', 'CONFIG_INVALID']],
  [EXIT.noLicense, ['NO_LICENSE']],
  [
    EXIT.notUsable,
    [
      'EXPIRED',
      'FROZEN',
      'REVOKED',
      'SUSPENDED',
      'RELEASED',
      'NOT_FOUND',
      'TOO_MANY_DEVICES',
      'VM_NOT_ALLOWED',
      'USER_NOT_AUTHORIZED',
      'TRANSFER_LIMIT_REACHED',
      'MARKETPLACE_REJECTED',
    ],
  ],
  [EXIT.fingerprint, ['FINGERPRINT_MISMATCH']],
  [
    EXIT.integrity,
    [
      'FILE_SIGNATURE_INVALID',
      'STATE_TAMPERED',
      'PRODUCT_MISMATCH',
      'FILE_MALFORMED',
      'FILE_TOO_LARGE',
      'UNSUPPORTED_VERSION',
      'UNSUPPORTED_ALGORITHM',
      'CERTIFICATE_INVALID',
    ],
  ],
  [EXIT.time, ['TIME_MODIFIED', 'GRACE_PERIOD_OVER', 'FILE_EXPIRED', 'NOT_YET_VALID', 'REPLAYED']],
  [EXIT.unreachable, ['SERVER_UNREACHABLE', 'RATE_LIMITED', 'MARKETPLACE_UNAVAILABLE']],
];
const EXIT_BY_CODE = new Map(CLASSES.flatMap(([exit, codes]) => codes.map((c) => [c, exit] as const)));

export const exitCodeFor = (code: string): number => EXIT_BY_CODE.get(code) ?? EXIT.other;

export interface CliIo {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown; isTTY?: boolean };
  env: Record<string, string | undefined>;
  /**
   * Injected in tests so results never depend on the host's hardware. Called with `{ patient: true }` for the
   * re-read before a negative verdict, which must then read again (default: the library's provider).
   */
  fingerprint?: (opts: { patient: boolean }) => Promise<MachineFingerprint> | MachineFingerprint;
  now?: () => number;
}

export interface GlobalOptions {
  dataDir?: string;
  app: string;
  product?: string;
  root: string[];
  server?: string;
  json?: boolean;
  lang: Language;
}

const DEFAULT_APP = 'licensor-client';

function usage(message: string): never {
  throw new LicensorError('INVALID_INPUT', message);
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(resolve(path), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    usage(code === 'ENOENT' ? `${what} ${path} does not exist` : `Cannot read ${what} ${path} (${code ?? err})`);
  }
}

function rootsOf(o: GlobalOptions, env: CliIo['env']): string[] {
  const sources = o.root.length > 0 ? o.root : env.LICENSOR_ROOT_CERT ? [env.LICENSOR_ROOT_CERT] : [];
  if (sources.length === 0) {
    usage(
      'Pass --root <cert.pem> (the pinned root certificate shipped with the application) or set LICENSOR_ROOT_CERT',
    );
  }
  // LICENSOR_ROOT_CERT may hold the PEM itself (convenient in CI) or a path.
  return sources.map((s) => (s.includes('-----BEGIN CERTIFICATE-----') ? s : readText(s, 'root certificate')));
}

function productOf(o: GlobalOptions, env: CliIo['env']): string {
  const product = o.product ?? env.LICENSOR_PRODUCT_ID;
  if (!product) usage('Pass --product <id> or set LICENSOR_PRODUCT_ID');
  return product;
}

/** Aligned "label  value" lines. */
function table(rows: [string, string | undefined][]): string {
  const shown = rows.filter((r): r is [string, string] => r[1] !== undefined && r[1] !== '');
  const width = Math.max(...shown.map(([k]) => k.length)) + 2;
  return `${shown.map(([k, v]) => k.padEnd(width) + v.replace(/\n/g, `\n${' '.repeat(width)}`)).join('\n')}\n`;
}

function when(iso: string | null | undefined, now: number): string | undefined {
  if (iso === undefined) return undefined;
  if (iso === null) return 'never';
  const t = Date.parse(iso);
  const days = Math.round((t - now) / 86_400_000);
  const rel =
    days === 0
      ? 'today'
      : days > 0
        ? `in ${days} day${days === 1 ? '' : 's'}`
        : `${-days} day${days === -1 ? '' : 's'} ago`;
  return `${iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')} (${rel})`;
}

/** `export, sync, maxProjects=20`: on features by name, limits with their value. */
function featureList(features: Record<string, true | number> | undefined): string | undefined {
  const names = Object.entries(features ?? {}).map(([name, v]) => (v === true ? name : `${name}=${v}`));
  return names.length ? names.join(', ') : undefined;
}

const RULES: Record<string, string> = { all: 'all', allButOne: 'all but one', most: 'most' };

function statusReport(
  s: LicenseStatus,
  lang: Language,
  now: number,
  extra: [string, string | undefined][] = [],
): string {
  const l = s.license;
  const text = statusText(s.code, lang);
  const fp = s.detail.fingerprint;
  return table([
    ['Status', `${s.code}  ${text.title}`],
    ['Warning', s.detail.warning],
    ['Server says', s.detail.serverMessage],
    ['Reason', s.detail.explanation],
    ['Product', l?.product],
    ['This device', s.detail.deviceLabel],
    ['Edition', l ? [l.edition, l.sku].filter(Boolean).join(' / ') || undefined : undefined],
    ['Features', l ? featureList(l.features) : undefined],
    [
      'License',
      l
        ? `${l.id} (family ${l.family}, ${l.seats} seat${l.seats === 1 ? '' : 's'}${l.test ? ', test' : ''})`
        : undefined,
    ],
    ['Entitlement', l?.entitlementId],
    ['Expires', l ? when(l.expiresAt, now) : undefined],
    ['Refresh by', l?.refreshBy ? when(l.refreshBy, now) : undefined],
    ['Grace until', l?.graceUntil ? when(l.graceUntil, now) : undefined],
    ['Last check-in', s.detail.lastCheckInAt ? when(s.detail.lastCheckInAt, now) : undefined],
    [
      'Fingerprint',
      fp
        ? `${fp.matched.length} of ${fp.compared.length} components match (rule: ${fp.rule.type === 'atLeast' ? `at least ${fp.rule.count}` : RULES[fp.rule.type]})${fp.changed.length ? `; changed: ${fp.changed.join(', ')}` : ''}`
        : l?.binding === 'none'
          ? 'not bound to a device'
          : undefined,
    ],
    [
      'Clock',
      s.detail.clock
        ? `${s.detail.clock.behindMinutes} min behind the last trusted time ${s.detail.clock.trustedTime}`
        : undefined,
    ],
    ...extra,
    ['Next step', text.action || undefined],
  ]);
}

/** One spinner line on a TTY while something slow runs; nothing on pipes. */
function spinner(stream: CliIo['stderr'], text: string): () => void {
  if (!stream.isTTY) return () => {};
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let i = 0;
  const draw = () => stream.write(`\r${frames[i++ % frames.length]} ${text}`);
  draw();
  const timer = setInterval(draw, 80);
  return () => {
    clearInterval(timer);
    stream.write('\r\x1b[2K');
  };
}

function mask(value: string): string {
  return value.length <= 8 ? '****' : `${value.slice(0, 4)}…${value.slice(-4)}`;
}

/** A refused activation: the sentence with its code, the detail line, the next step. */
function activationFailureReport(e: LicensorError, licenseCode: string, lang: Language): string {
  const list = Array.isArray(e.detail?.devices) ? (e.detail.devices as unknown[]) : [];
  const devices = list.flatMap((d) => {
    const o = (d ?? {}) as { id?: unknown; label?: unknown; hostname?: unknown };
    if (typeof o.id !== 'string') return [];
    const name = typeof o.label === 'string' ? o.label : typeof o.hostname === 'string' ? o.hostname : o.id;
    return [{ id: o.id, name }];
  });
  const seats = typeof e.detail?.seats === 'number' ? e.detail.seats : undefined;
  const m = activationErrorText(
    {
      code: e.code,
      licenseCode,
      ...(devices.length > 0 ? { devices } : {}),
      ...(seats !== undefined ? { seats } : {}),
      serverMessage: e.message,
    },
    lang,
    'cli',
  );
  // `Error [CODE]:` stays the same in every language (scripts and support searches match it).
  const next = lang === 'zh' ? '下一步：' : 'Next step: ';
  return `Error [${e.code}]: ${m.title}\n${m.detail ? `${m.detail}\n` : ''}${next}${m.action}\n`;
}

/**
 * One run of the CLI: the terminal, the environment and the clock, how the manager and the API client are
 * made from the global options, and what the run has learnt so far (exit code, output form, language).
 */
export interface Run {
  readonly io: CliIo;
  readonly env: CliIo['env'];
  readonly now: () => number;
  out(s: string): void;
  json(v: unknown): void;
  exitCode: number;
  /** Known once commander has parsed the options; used to report errors in the requested form. */
  asJson: boolean;
  lang: Language;
  /** Set while `activate` runs: its failures get the one-sentence/detail/next-step message. */
  activating: string | undefined;
  /**
   * The manager's provider: the per-boot cache first, and a patient re-read of the hardware before any negative
   * verdict (a provider that ignored `patient` turned a busy machine into STATE_TAMPERED, issue 13).
   */
  provider(opts: { patient: boolean }): Promise<MachineFingerprint>;
  /** Commands that only show or check readings read the hardware itself (live, not the cache). */
  fingerprint(): Promise<MachineFingerprint>;
  manager(o: GlobalOptions, needServer?: boolean): LicenseManager;
  api(o: GlobalOptions): ApiClient;
  reportStatus(o: GlobalOptions, s: LicenseStatus, extra?: [string, string | undefined][]): void;
}

/**
 * Whether `--json` was asked for, read before commander parses (its usage errors come before any action). Only an
 * option before `--` counts: after it every word is an argument (`offline-import -- --json` names a file).
 */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}

function createRun(argv: string[], io: CliIo): Run {
  const env = io.env;
  const now = io.now ?? Date.now;
  const out = (s: string) => {
    io.stdout.write(s);
  };
  const run: Run = {
    io,
    env,
    now,
    out,
    json: (v) => out(`${JSON.stringify(v, null, 2)}\n`),
    exitCode: EXIT.ok,
    asJson: wantsJson(argv),
    lang: 'en',
    activating: undefined,
    provider: (opts) => Promise.resolve(io.fingerprint ? io.fingerprint(opts) : defaultFingerprintProvider()(opts)),
    fingerprint: () =>
      Promise.resolve(io.fingerprint ? io.fingerprint({ patient: false }) : collectFingerprint({ refresh: true })),
    manager: (o, needServer = false) => {
      const serverUrl = o.server ?? env.LICENSOR_SERVER_URL;
      if (needServer && !serverUrl) usage('Pass --server <url> (the license server) or set LICENSOR_SERVER_URL');
      return new LicenseManager({
        productId: productOf(o, env),
        roots: rootsOf(o, env),
        dataDir: o.dataDir ?? defaultDataDir(o.app),
        ...(serverUrl ? { serverUrl } : {}),
        fingerprint: run.provider,
        now,
      });
    },
    api: (o) => {
      const serverUrl = o.server ?? env.LICENSOR_SERVER_URL;
      if (!serverUrl) usage('Pass --server <url> (the license server) or set LICENSOR_SERVER_URL');
      return new ApiClient({ serverUrl, roots: rootsOf(o, env), now });
    },
    reportStatus: (o, s, extra = []) => {
      if (o.json) run.json(s);
      else out(statusReport(s, o.lang, now(), extra));
      run.exitCode = exitCodeFor(s.code);
      markPhase('output');
    },
  };
  return run;
}

const globals = (cmd: Command) => cmd.optsWithGlobals() as GlobalOptions;

async function fingerprintCommand(run: Run, o: GlobalOptions, opts: { raw?: boolean }): Promise<void> {
  const fp = await run.fingerprint();
  const product = o.product ?? run.env.LICENSOR_PRODUCT_ID;
  const hashed = product ? hashedFingerprint(fp, product) : undefined;
  if (o.json) {
    run.json({ ...fp, ...(hashed ? { product, hashed } : {}) });
    return;
  }
  const rows: [string, string | undefined][] = [];
  for (const name of ['machineId', 'hardwareUuid', 'baseboardSerial', 'cpu', 'diskSerials', 'macs'] as const) {
    const v = fp.components[name];
    const values = v === undefined ? [] : Array.isArray(v) ? v : [v];
    rows.push([`  ${name}`, values.length ? values.map((x) => (opts.raw ? x : mask(x))).join(', ') : '(not readable)']);
  }
  run.out(
    table([
      [
        'Components',
        `${fp.usableComponents} of 6 readable${fp.sufficient ? '' : ' (fewer than two: matching is weak; the license policy decides)'}`,
      ],
      ...rows,
      ['KooGallery', fp.koogallery],
      ['Virtual', fp.virtual.detected ? `yes (${fp.virtual.signals.join(', ')})` : 'no signal'],
      [
        'Hashed for',
        hashed ? `${product}: ${Object.keys(hashed).length} components (what activation sends)` : undefined,
      ],
      ['Collected in', `${fp.durationMs} ms`],
    ]),
  );
}

async function activateCommand(
  run: Run,
  o: GlobalOptions,
  code: string,
  opts: { label?: string; user?: string },
): Promise<void> {
  const m = run.manager(o, true);
  run.activating = normalizeLicenseCode(code);
  const stop = spinner(run.io.stderr, `Activating ${run.activating}…`);
  let s: LicenseStatus;
  try {
    s = await m.activate(code, {
      ...(opts.label ? { label: opts.label } : {}),
      ...(opts.user ? { user: opts.user } : {}),
    });
  } finally {
    stop();
  }
  run.activating = undefined;
  run.reportStatus(o, s, [['Data folder', m.dataDir]]);
}

async function statusCommand(run: Run, o: GlobalOptions): Promise<void> {
  markPhase('arguments');
  const m = run.manager(o);
  markPhase('manager (root certificate, verifier)');
  run.reportStatus(o, await m.verify(), [['Data folder', m.dataDir]]);
}

async function checkInCommand(run: Run, o: GlobalOptions): Promise<void> {
  const m = run.manager(o);
  const stop = spinner(run.io.stderr, 'Checking in…');
  let r: CheckInResult;
  try {
    r = await m.checkIn();
  } finally {
    stop();
  }
  if (o.json) run.json(r);
  else {
    run.out(
      statusReport(r.status, o.lang, run.now(), [
        ['Check-in', r.online ? `server answered ${r.serverStatus}` : `failed: ${r.error?.message}`],
      ]),
    );
  }
  run.exitCode = r.online
    ? exitCodeFor(r.status.code)
    : r.status.valid
      ? exitCodeFor(r.error?.code ?? 'INTERNAL')
      : exitCodeFor(r.status.code);
}

async function deactivateCommand(run: Run, o: GlobalOptions): Promise<void> {
  await run.manager(o).deactivate();
  if (o.json) run.json({ released: true });
  else run.out('Deactivated: the seat is free and the local license was removed.\n');
}

async function offlineRequestCommand(
  run: Run,
  o: GlobalOptions,
  file: string,
  opts: { code: string; label?: string },
): Promise<void> {
  const text = await run.manager(o).createOfflineRequest(opts.code, opts.label ? { label: opts.label } : {});
  if (file === '-') {
    run.out(text);
    return;
  }
  writeFileSync(resolve(file), text, { mode: 0o600 });
  if (o.json) run.json({ written: resolve(file) });
  else {
    run.out(
      `Activation request written to ${resolve(file)}.\nSend it to your vendor; then import the License file you receive with:\n  licensor-client offline-import <license-file>\n`,
    );
  }
}

async function offlineImportCommand(run: Run, o: GlobalOptions, file: string): Promise<void> {
  const m = run.manager(o);
  run.reportStatus(o, await m.importLicenseFile(readText(file, 'License file')), [['Data folder', m.dataDir]]);
}

async function verifyCommand(run: Run, o: GlobalOptions, file: string): Promise<void> {
  const verifier = new LicenseVerifier({ roots: rootsOf(o, run.env) });
  const text = readText(file, 'License file');
  const product = o.product ?? run.env.LICENSOR_PRODUCT_ID;
  const check = (fp: MachineFingerprint) =>
    evaluateLicense({
      verifier,
      license: text,
      fingerprint: fp,
      now: run.now(),
      ...(product ? { productId: product } : {}),
    }).status;
  const first = await run.provider({ patient: false });
  let status = check(first);
  // As the manager does: a starved or cached reading is read again before saying "another machine".
  if (status.code === 'FINGERPRINT_MISMATCH' && (first.timedOut.length > 0 || first.cached)) {
    status = check(await run.provider({ patient: true }));
  }
  run.reportStatus(o, status);
}

async function devicesCommand(run: Run, o: GlobalOptions, code: string): Promise<void> {
  const { data } = await run.api(o).request({
    method: 'POST',
    path: '/api/v1/seats/devices',
    body: { code: normalizeLicenseCode(code) },
    schema: devicesResponseSchema,
  });
  if (o.json) {
    run.json(data);
    return;
  }
  run.out(
    table([
      ['Seats', `${data.devices.length} of ${data.seats} in use`],
      ['Transfers', `${data.transfers.used} of ${data.transfers.limit} in the last ${data.transfers.periodDays} days`],
    ]),
  );
  if (data.devices.length > 0) {
    const rows = data.devices.map((d) => [d.id, d.label ?? d.hostname ?? '-', d.platform ?? '-', d.lastSeenAt]);
    const head = ['ID', 'NAME', 'PLATFORM', 'LAST SEEN'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const r of [head, ...rows])
      run.out(
        `${r
          .map((c, i) => c.padEnd(widths[i]!))
          .join('  ')
          .trimEnd()}\n`,
      );
    run.out("\nFree a lost machine's seat with: licensor-client release-device <code> <id>\n");
  }
}

async function releaseDeviceCommand(run: Run, o: GlobalOptions, code: string, id: string): Promise<void> {
  const { data } = await run.api(o).request({
    method: 'POST',
    path: `/api/v1/seats/devices/${encodeURIComponent(id)}/release`,
    body: { code: normalizeLicenseCode(code) },
    schema: z.object({ released: z.boolean() }),
  });
  if (o.json) run.json({ released: data.released });
  // released:false also answers a retried request whose first copy freed the seat (api.ts retries once when the
  // connection dies before the answer): say what holds now, not who freed it.
  else run.out(data.released ? `Seat of device ${id} freed.\n` : `Device ${id} holds no seat: nothing to free.\n`);
}

/**
 * `status` with global options only, read without commander: what an app's wrapper script runs at every start, so
 * its cold start counts (issue 15: loading commander, building the program and parsing cost ≈ 10 M of ≈ 720 M
 * instructions, callgrind).
 * Reads exactly what commander would (a value option takes the next word, whatever it is; the last of a repeated
 * option wins, `--root` accumulates; options before or after `status`) and gives up on anything else — help, another
 * command, `--`, `--opt=value`, an unknown option, a missing value, a `--lang` commander would refuse — which then
 * goes through commander, loaded on demand, so every usage error and help text stays commander's.
 * (cli.test.ts checks the result against commander's on the same words.)
 */
export function statusArgs(args: readonly string[]): GlobalOptions | undefined {
  const o: GlobalOptions = { app: DEFAULT_APP, root: [], lang: 'en' };
  let command: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--json') o.json = true;
    else if (VALUE_OPTIONS.has(arg)) {
      const value = args[++i];
      if (value === undefined) return undefined;
      if (arg === '--data-dir') o.dataDir = value;
      else if (arg === '--app') o.app = value;
      else if (arg === '--product') o.product = value;
      else if (arg === '--root') o.root = [...o.root, value];
      else if (arg === '--server') o.server = value;
      else if (value === 'en' || value === 'zh') o.lang = value;
      else return undefined;
    } else if (arg === 'status' && command === undefined) command = arg;
    else return undefined;
  }
  return command === 'status' ? o : undefined;
}

const VALUE_OPTIONS = new Set(['--data-dir', '--app', '--product', '--root', '--server', '--lang']);

/** The command line: global options, then one command per function above (exported for cli.test.ts). */
export function buildProgram(run: Run, { Command, Option }: typeof import('commander')): Command {
  const io = run.io;
  const program = new Command('licensor-client')
    .description('Activate, verify and inspect the license of an application on this machine')
    .option('--data-dir <dir>', 'license data folder (default: the per-user folder of --app)')
    .option('--app <name>', 'application name that names the default data folder', DEFAULT_APP)
    .option('--product <id>', 'product id (env LICENSOR_PRODUCT_ID)')
    .option(
      '--root <cert.pem>',
      'pinned root certificate, repeatable (env LICENSOR_ROOT_CERT)',
      (v, acc: string[]) => [...acc, v],
      [],
    )
    .option('--server <url>', 'license server URL (env LICENSOR_SERVER_URL)')
    .option('--json', 'machine-readable output')
    .addOption(new Option('--lang <lang>', 'language of messages').choices(['en', 'zh']).default('en'))
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // A usage error in the form asked for: with --json, the `{ error }` object every other failure prints.
      outputError: (s, write) =>
        run.asJson ? run.json({ error: new LicensorError('INVALID_INPUT', s.trim()).toJSON() }) : write(s),
    })
    .addHelpText(
      'after',
      '\nExit codes: 0 valid/ok, 1 usage, 2 no license, 3 expired/frozen/revoked/suspended/released, 4 fingerprint mismatch,\n5 signature/tampering, 6 clock or grace, 7 server unreachable, 8 other.',
    );

  program.hook('preAction', (_program, action) => {
    const o = globals(action);
    run.asJson = Boolean(o.json);
    run.lang = o.lang;
  });

  program
    .command('fingerprint')
    .description("show this machine's fingerprint components (raw values masked) and its KooGallery form")
    .option('--raw', 'show raw component values unmasked')
    .action((opts: { raw?: boolean }, cmd: Command) => fingerprintCommand(run, globals(cmd), opts));

  program
    .command('activate <code>')
    .description('activate this machine online with a license code (needs --server, --product, --root)')
    .option('--label <text>', 'a name for this device, shown when seats are full')
    .option('--user <name>', 'named-user licensing: the user this seat is for')
    .action((code: string, opts: { label?: string; user?: string }, cmd: Command) =>
      activateCommand(run, globals(cmd), code, opts),
    );

  program
    .command('status')
    .description('verify the stored license offline')
    .action((_opts: unknown, cmd: Command) => statusCommand(run, globals(cmd)));

  program
    .command('check-in')
    .description('report to the license server and apply its answer')
    .action((_opts: unknown, cmd: Command) => checkInCommand(run, globals(cmd)));

  program
    .command('deactivate')
    .description("free this machine's seat on the server and forget the local license")
    .action((_opts: unknown, cmd: Command) => deactivateCommand(run, globals(cmd)));

  program
    .command('offline-request <file>')
    .description('write an activation request for a machine without network access ("-" for stdout)')
    .requiredOption('--code <code>', 'the license code to activate')
    .option('--label <text>', 'a name for this device')
    .action((file: string, opts: { code: string; label?: string }, cmd: Command) =>
      offlineRequestCommand(run, globals(cmd), file, opts),
    );

  program
    .command('offline-import <file>')
    .description('verify a License file against this machine and store it')
    .action((file: string, _opts: unknown, cmd: Command) => offlineImportCommand(run, globals(cmd), file));

  program
    .command('verify <license-file>')
    .description('check a License file against this machine offline, without storing it (needs --root)')
    .action((file: string, _opts: unknown, cmd: Command) => verifyCommand(run, globals(cmd), file));

  program
    .command('devices <code>')
    .description('list the devices holding seats of a license code (needs --server, --root)')
    .action((code: string, _opts: unknown, cmd: Command) => devicesCommand(run, globals(cmd), code));

  program
    .command('release-device <code> <id>')
    .description("free another device's seat of a license code (needs --server, --root)")
    .action((code: string, id: string, _opts: unknown, cmd: Command) =>
      releaseDeviceCommand(run, globals(cmd), code, id),
    );
  return program;
}

/** Reports a failed command on stderr (or as JSON) and picks its exit code. */
function reportFailure(run: Run, err: unknown): number {
  const { io, asJson, activating, lang } = run;
  const e = toLicensorError(err, 'Unexpected failure');
  if (asJson) run.json({ error: e.toJSON() });
  else if (activating !== undefined && e.code !== 'INVALID_INPUT' && e.code !== 'INTERNAL') {
    io.stderr.write(activationFailureReport(e, activating, lang));
  } else {
    const hint = statusText(e.code, lang).action;
    io.stderr.write(`Error [${e.code}]: ${e.message}\n`);
    const devices = (e.detail?.devices ?? []) as { id?: string; label?: string | null; hostname?: string | null }[];
    if (e.code === 'TOO_MANY_DEVICES' && Array.isArray(devices) && devices.length > 0) {
      io.stderr.write('Devices holding the seats:\n');
      for (const d of devices) io.stderr.write(`  ${d.id ?? '?'}  ${d.label ?? d.hostname ?? ''}\n`);
      io.stderr.write('Free one with: licensor-client release-device <code> <id>\n');
    } else if (hint && !e.message.includes(hint)) {
      io.stderr.write(`${hint}\n`);
    }
    if (e.code === 'INTERNAL' && e.cause) io.stderr.write(`${String((e.cause as Error)?.stack ?? e.cause)}\n`);
  }
  return exitCodeFor(e.code);
}

export async function main(
  argv: string[],
  io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env },
): Promise<number> {
  const run = createRun(argv, io);
  let commander: typeof import('commander') | undefined;
  try {
    const status = statusArgs(argv.slice(2)); // argv as commander reads it: node, the script, then the words
    if (status) {
      run.asJson = Boolean(status.json); // what the preAction hook sets on commander's path
      run.lang = status.lang;
      await statusCommand(run, status);
    } else {
      commander = await import('commander');
      await buildProgram(run, commander).parseAsync(argv);
    }
    return run.exitCode;
  } catch (err) {
    if (commander && err instanceof commander.CommanderError) {
      // Help and version exit 0; everything else commander reports is a usage error (already printed).
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    return reportFailure(run, err);
  } finally {
    const trace = timingTrace();
    if (trace) io.stderr.write(formatTiming(trace));
  }
}
