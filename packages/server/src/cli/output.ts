import { displayWidth, LICENSE_CODES, type LicensorCode, LicensorError } from '@licensor/shared';

/** Where the CLI reads and writes; tests pass their own to capture output. */
export interface CliIo {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown; isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** Stops a running `licensor start` (besides SIGINT/SIGTERM). */
  signal?: AbortSignal;
}

/** Exit codes, documented in the server README ("CLI"). Scripts may rely on them: never renumber. */
export const EXIT = {
  ok: 0,
  usage: 1,
  notFound: 2,
  invalidInput: 3,
  config: 4,
  internal: 5,
} as const;

const LICENSE_VERDICTS = new Set<string>(LICENSE_CODES);

export function exitCodeFor(code: LicensorCode): number {
  switch (code) {
    case 'NOT_FOUND':
    case 'KEY_NOT_FOUND':
      return EXIT.notFound;
    case 'INVALID_INPUT':
    case 'CONFLICT':
    case 'FILE_MALFORMED':
    case 'FILE_TOO_LARGE':
    case 'UNSUPPORTED_VERSION':
    case 'UNSUPPORTED_ALGORITHM':
    case 'SIGNATURE_INVALID':
    case 'TRANSFER_LIMIT_REACHED':
    case 'SEATS_IN_USE':
      return EXIT.invalidInput;
    case 'CONFIG_INVALID':
    case 'KEY_DECRYPT_FAILED':
    case 'STORAGE_UNAVAILABLE':
    case 'CERTIFICATE_INVALID':
      return EXIT.config;
    default:
      // A license verdict (REVOKED, TOO_MANY_DEVICES, …) refuses the operation on that license: bad input.
      return LICENSE_VERDICTS.has(code) ? EXIT.invalidInput : EXIT.internal;
  }
}

function truncate(s: string, max: number): string {
  if (displayWidth(s) <= max) return s;
  let out = '';
  for (const ch of s) {
    if (displayWidth(out + ch) > max - 1) break;
    out += ch;
  }
  return `${out}…`;
}

export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
  align?: 'left' | 'right';
  max?: number;
}

const cellText = (v: unknown): string => {
  if (v === null || v === undefined || v === '') return '-';
  if (typeof v === 'object') return JSON.stringify(v);
  // Control characters from stored data must not move the cursor or clear the operator's screen.
  let out = '';
  for (const ch of String(v)) {
    const c = ch.codePointAt(0)!;
    out += c < 0x20 || (c >= 0x7f && c < 0xa0) ? ' ' : ch;
  }
  return out;
};

/** An aligned plain-text table (no box drawing, so it pastes cleanly into tickets and chats). */
export function table<T>(rows: T[], columns: Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => truncate(cellText(c.value(r)), c.max ?? 40)));
  const widths = columns.map((c, i) => Math.max(displayWidth(c.header), ...cells.map((row) => displayWidth(row[i]!))));
  const pad = (s: string, i: number) => {
    const fill = ' '.repeat(widths[i]! - displayWidth(s));
    return columns[i]!.align === 'right' ? fill + s : s + fill;
  };
  const line = (values: string[]) => values.map(pad).join('  ').replace(/\s+$/, '');
  return (
    [line(columns.map((c) => c.header)), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n') + '\n'
  );
}

/** `key: value` lines with the keys aligned. */
export function fields(pairs: [string, unknown][]): string {
  const w = Math.max(...pairs.map(([k]) => displayWidth(k)));
  return pairs.map(([k, v]) => `${k}:${' '.repeat(w - displayWidth(k) + 1)}${cellText(v)}`).join('\n') + '\n';
}

/** What PostgreSQL refuses at connection time: LICENSOR_DATABASE_URL names a database or role it does not have. */
const PG_SETUP_HINTS: Record<string, string> = {
  '3D000':
    'create it as docs/deploy-postgresql.md says ("Creating the database"), or correct the database name in LICENSOR_DATABASE_URL',
  '28000':
    'correct the user in LICENSOR_DATABASE_URL or create that role; if the role exists, PostgreSQL refused this host, user or SSL mode in pg_hba.conf (sslmode in the URL)',
  '28P01': 'correct the user or password in LICENSOR_DATABASE_URL',
};

/** One line an operator can act on; the message of a LicensorError already says what to do next. */
export function errorLine(err: unknown): { text: string; code: LicensorCode; exit: number } {
  if (err instanceof LicensorError) {
    const text = err.message.split('\n').join(' ');
    const setupHint = err.code === 'INTERNAL' ? PG_SETUP_HINTS[String(err.detail?.sqlState)] : undefined;
    // A configuration mistake, not a bug: exit 4 with what to change, not 5 ("internal error").
    if (setupHint) return { text: `${text}: ${setupHint}`, code: 'CONFIG_INVALID', exit: EXIT.config };
    return { text, code: err.code, exit: exitCodeFor(err.code) };
  }
  const e = err as { code?: string; message?: string; path?: string };
  if (['ENOENT', 'EACCES', 'EPERM', 'EISDIR', 'ENOTDIR', 'EEXIST'].includes(e?.code ?? '')) {
    return {
      text: `${e.message ?? String(err)}: check the path and its permissions`,
      code: 'INVALID_INPUT',
      exit: EXIT.invalidInput,
    };
  }
  return {
    text: `Internal error: ${e?.message ?? String(err)}. Re-run with LICENSOR_LOG_LEVEL=debug and report it if it persists`,
    code: 'INTERNAL',
    exit: EXIT.internal,
  };
}
