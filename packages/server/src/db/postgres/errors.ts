import { LicensorError } from '@licensor/shared';

/** SQLSTATEs a transaction is retried on: the same work, run again from the start, may then succeed. */
export const RETRYABLE_SQLSTATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
]);

/** Node socket errors that mean "the database cannot be reached right now". */
const CONNECTION_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
]);

export interface PgErrorLike {
  code?: string;
  constraint?: string;
  table?: string;
  detail?: string;
  message?: string;
}

export const sqlStateOf = (err: unknown): string | undefined => (err as PgErrorLike | undefined)?.code;

/**
 * Unique indexes on a key the transaction read as free before inserting it: the lowest free seat of a license, and
 * the keys of the idempotent marketplace deliveries, each read first and answered from the existing row when
 * there is one (a family-A order, a family-C order line, a family-B code, a getLicenseAsync request, a Kit
 * tenant/app/org unit/user). Under SERIALIZABLE a violation of one means a concurrent transaction took the key
 * after this one's snapshot: a serialization failure that PostgreSQL reports as 40001 only when the read went
 * through that same index, and as 23505 otherwise (another index, or a sequential scan). The transaction is rerun
 * like a 40001, and its rerun reads the key as taken: a duplicate delivery then answers from the row the winner
 * committed instead of failing with "retry later". No code path uses a 23505 on these as its answer (each checks
 * for the row first), so a rerun never hides a real conflict.
 */
export const SNAPSHOT_RACE_INDEXES = new Set([
  'activations_seat',
  'entitlements_order_a', // licenseV1 getLicense
  'entitlements_order_c', // onlineLicense newInstance
  // registerCode (license code 2.0): the row's id is its code, and the primary key is checked first.
  'entitlements_pkey',
  'entitlements_code_key',
  'license_requests_pkey', // onlineLicense getLicenseAsync
  'kit_tenants_pkey', // kit/store.ts upsert
  'kit_apps_pkey',
  'kit_org_units_pkey',
  'kit_users_pkey',
]);

export const isRetryableTransactionError = (err: unknown): boolean => {
  const code = sqlStateOf(err) ?? '';
  if (RETRYABLE_SQLSTATES.has(code)) return true;
  return code === '23505' && SNAPSHOT_RACE_INDEXES.has((err as PgErrorLike).constraint ?? '');
};

/**
 * Turns what `pg` throws into the project's one error type. Values of rows (pg's `detail`, which quotes the
 * conflicting key, possibly a license code) stay out of the message: only the constraint and table are named.
 * - unique violation (23505) → CONFLICT, with the constraint, so callers can tell which key collided;
 * - other integrity violations (23xxx) → INVALID_INPUT;
 * - text PostgreSQL cannot hold (a NUL character, which SQLite stores and compares) → INVALID_INPUT: a request
 *   that carries one is refused as bad input, never answered 500;
 * - unreachable server, connection loss, shutdown, too many connections, statement timeout, retries exhausted
 *   → STORAGE_UNAVAILABLE (retryable: the marketplace answer becomes "retry later", clients get 503);
 * - anything else → INTERNAL.
 */
export function toStorageError(err: unknown, what = 'Database operation'): LicensorError {
  if (err instanceof LicensorError) return err;
  const e = (err ?? {}) as PgErrorLike;
  const code = e.code ?? '';
  const where = { sqlState: code || undefined, constraint: e.constraint, table: e.table };
  if (code === '23505') {
    return new LicensorError('CONFLICT', `${what}: duplicate key (${e.constraint ?? 'unique constraint'})`, where, {
      cause: err,
    });
  }
  if (code === '22021' || code === '22P05') {
    return new LicensorError('INVALID_INPUT', `${what}: text with a character PostgreSQL cannot store (NUL)`, where, {
      cause: err,
    });
  }
  if (code.startsWith('23')) {
    return new LicensorError('INVALID_INPUT', `${what}: constraint ${e.constraint ?? code} refused the change`, where, {
      cause: err,
    });
  }
  if (
    CONNECTION_ERRNOS.has(code) ||
    code.startsWith('08') || // connection exceptions
    code === '57P01' || // admin_shutdown
    code === '57P02' || // crash_shutdown
    code === '57P03' || // cannot_connect_now (starting up, recovering)
    code === '53300' || // too_many_connections
    code === '57014' || // query_canceled: statement_timeout
    RETRYABLE_SQLSTATES.has(code) ||
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
      e.message ?? '',
    )
  ) {
    return new LicensorError(
      'STORAGE_UNAVAILABLE',
      `${what}: PostgreSQL is unavailable (${code || e.message || 'no answer'}); retry later`,
      where,
      { cause: err },
    );
  }
  return new LicensorError(
    'INTERNAL',
    `${what} failed (${code || 'driver error'}): ${e.message ?? String(err)}`,
    where,
    {
      cause: err,
    },
  );
}
