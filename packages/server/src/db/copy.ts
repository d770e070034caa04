import { createHash } from 'node:crypto';
import { LicensorError } from '@licensor/shared';
import { pgTables, referenceOrder, sqliteTables, type TableShape, type TypeClass } from './introspect';
import type { PgDb, PgTransaction } from './postgres/facade';
import { migratePostgres } from './postgres/migrate';
import { quoteIdent } from './postgres/sql';
import { schemaIsCurrent, sqliteSchemaStatus } from './schemaStatus';
import type { SqliteDatabase } from './sqlite';

/**
 * `licensor db copy`: every table of a SQLite database into a PostgreSQL database, generically (the tables are
 * read from the SQLite catalogue, not listed here), in one PostgreSQL transaction, verified before it commits.
 *
 * - The source is read inside one SQLite read transaction: a running server may keep writing, the copy is the
 *   consistent snapshot of the moment the copy started (WAL mode).
 * - The target is migrated to this build's schema first; a target with rows is refused unless `force`, which
 *   empties it inside the same transaction (so a failed copy leaves the old data).
 * - Verification: per table, the row count and an order-independent checksum (the sum of each row's SHA-256
 *   over its values normalised to the PostgreSQL column types) computed from the SQLite rows and again from
 *   the rows read back from PostgreSQL. Any difference rolls everything back.
 */
export interface CopyProgress {
  table: string;
  phase: 'copy' | 'verify';
  done: number;
  total: number;
}

export interface CopyOptions {
  force?: boolean;
  /** Rows per INSERT (bounded by PostgreSQL's 65535 parameters per statement). */
  batchRows?: number;
  onProgress?: (p: CopyProgress) => void;
}

export interface TableCopyReport {
  table: string;
  rows: number;
  checksum: string;
}

export interface CopyReport {
  schemaVersion: number;
  tables: TableCopyReport[];
  rows: number;
}

/** Tables that describe the database itself: each side records its own migrations. */
const NOT_COPIED = new Set(['schema_migrations']);

type Normaliser = (v: unknown) => unknown;

const normaliserFor = (type: TypeClass): Normaliser => {
  switch (type) {
    case 'integer':
    case 'real':
      return (v) => (v === null || v === undefined ? null : Number(v));
    case 'text':
      return (v) => (v === null || v === undefined ? null : Buffer.isBuffer(v) ? v.toString('utf8') : String(v));
    default:
      return (v) => (v === null || v === undefined ? null : Buffer.isBuffer(v) ? v.toString('base64') : String(v));
  }
};

const MOD = 1n << 256n;

/** An order-independent multiset hash: PostgreSQL returns rows in its own collation order, SQLite in binary. */
class RowChecksum {
  private sum = 0n;
  constructor(private readonly normalise: Normaliser[]) {}
  add(values: readonly unknown[]): void {
    const canonical = JSON.stringify(values.map((v, i) => this.normalise[i]!(v)));
    this.sum = (this.sum + BigInt(`0x${createHash('sha256').update(canonical).digest('hex')}`)) % MOD;
  }
  get hex(): string {
    return this.sum.toString(16).padStart(64, '0');
  }
}

async function insertBatch(tx: PgTransaction, table: string, columns: string[], rows: unknown[][]): Promise<void> {
  if (rows.length === 0) return;
  const params: unknown[] = [];
  const tuples = rows.map((row) => {
    const start = params.length;
    params.push(...row);
    return `(${row.map((_, i) => `$${start + i + 1}`).join(', ')})`;
  });
  await tx.run(
    `INSERT INTO ${quoteIdent(table)} (${columns.map(quoteIdent).join(', ')}) VALUES ${tuples.join(', ')}`,
    params,
  );
}

export async function copySqliteToPostgres(
  source: SqliteDatabase,
  target: PgDb,
  opts: CopyOptions = {},
): Promise<CopyReport> {
  const status = await sqliteSchemaStatus(source);
  if (!schemaIsCurrent(status)) {
    throw new LicensorError(
      'INVALID_INPUT',
      status.newerThanBuild
        ? `The SQLite database is at schema version ${status.version}, newer than this build's ${status.latest}: copy it with the build that wrote it`
        : `The SQLite database is at schema version ${status.version}, this build's is ${status.latest}: run \`licensor db migrate\` on it first (with LICENSOR_DATABASE_URL unset), then copy`,
      { version: status.version, latest: status.latest },
    );
  }
  await migratePostgres(target);

  const sourceTables = referenceOrder(sqliteTables(source).filter((t) => !NOT_COPIED.has(t.name)));
  const targetByName = new Map((await pgTables(target)).map((t) => [t.name, t]));
  const missing = sourceTables.filter((t) => !targetByName.has(t.name)).map((t) => t.name);
  if (missing.length > 0) {
    throw new LicensorError(
      'INTERNAL',
      `The PostgreSQL schema lacks ${missing.join(', ')}: its migrations are out of step with SQLite's (the parity test should have caught this); report it`,
    );
  }

  // One read transaction on the source: every table comes from the same snapshot.
  source.raw.exec('BEGIN');
  try {
    const tables = await target.transaction(
      async (tx) => {
        await tx.exec('SET LOCAL statement_timeout = 0');
        const nonEmpty: string[] = [];
        for (const t of sourceTables) {
          if (await tx.first(`SELECT 1 AS x FROM ${quoteIdent(t.name)} LIMIT 1`)) nonEmpty.push(t.name);
        }
        if (nonEmpty.length > 0) {
          if (!opts.force) {
            throw new LicensorError(
              'CONFLICT',
              `The target database already holds data (${nonEmpty.slice(0, 5).join(', ')}${nonEmpty.length > 5 ? ', …' : ''}): copy into an empty database, or pass --force to replace its contents`,
              { tables: nonEmpty },
            );
          }
          await tx.exec(`TRUNCATE ${sourceTables.map((t) => quoteIdent(t.name)).join(', ')} RESTART IDENTITY CASCADE`);
        }
        const reports: TableCopyReport[] = [];
        for (const t of sourceTables) reports.push(await copyTable(source, tx, t, targetByName.get(t.name)!, opts));
        return reports;
      },
      { retries: 0 },
    );
    return { schemaVersion: status.version, tables, rows: tables.reduce((n, t) => n + t.rows, 0) };
  } finally {
    source.raw.exec('COMMIT');
  }
}

async function copyTable(
  source: SqliteDatabase,
  tx: PgTransaction,
  from: TableShape,
  to: TableShape,
  opts: CopyOptions,
): Promise<TableCopyReport> {
  const columns = from.columns.map((c) => c.name);
  const targetTypes = new Map(to.columns.map((c) => [c.name, c.type]));
  const normalise = columns.map((c) => normaliserFor(targetTypes.get(c) ?? 'other'));
  // SQLite keeps a REAL in an INTEGER column as it was given (earlier builds wrote jittered outbox retry times with a
  // fraction of a millisecond); PostgreSQL's integer columns refuse a fraction: such a value goes in rounded, and is
  // checked rounded on both sides.
  const integerAt = columns.map((c) => targetTypes.get(c) === 'integer');
  const toTarget = (row: unknown[]): unknown[] =>
    row.map((v, i) => (integerAt[i] && typeof v === 'number' && !Number.isInteger(v) ? Math.round(v) : v));
  const list = columns.map(quoteIdent).join(', ');
  // On the raw connection: inside the read transaction that copyTable's snapshot is taken in.
  const counted = source.raw.prepare(`SELECT COUNT(*) AS n FROM ${quoteIdent(from.name)}`).get() as
    | { n: number }
    | undefined;
  const total = counted?.n ?? 0;
  const perBatch = Math.max(1, Math.min(opts.batchRows ?? 1000, Math.floor(65535 / Math.max(1, columns.length))));
  const report = (phase: CopyProgress['phase'], done: number) =>
    opts.onProgress?.({ table: from.name, phase, done, total });

  const sourceSum = new RowChecksum(normalise);
  let batch: unknown[][] = [];
  let copied = 0;
  report('copy', 0);
  for (const raw of source.raw
    .prepare(`SELECT ${list} FROM ${quoteIdent(from.name)}`)
    .raw(true)
    .iterate() as Iterable<unknown[]>) {
    const row = toTarget(raw);
    sourceSum.add(row);
    batch.push(row);
    if (batch.length >= perBatch) {
      await insertBatch(tx, from.name, columns, batch);
      copied += batch.length;
      batch = [];
      report('copy', copied);
    }
  }
  await insertBatch(tx, from.name, columns, batch);
  copied += batch.length;
  report('copy', copied);

  // Identity columns continue after the copied ids (they were inserted explicitly, so the sequence never moved).
  const identities = await tx.all<{ column: string }>(
    "SELECT column_name AS column FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? AND is_identity = 'YES'",
    [from.name],
  );
  for (const { column } of identities) {
    await tx.first(
      `SELECT setval(pg_get_serial_sequence(?, ?), COALESCE((SELECT MAX(${quoteIdent(column)}) FROM ${quoteIdent(from.name)}), 0) + 1, false)`,
      [quoteIdent(from.name), column],
    );
  }

  // Read everything back through a cursor (bounded memory) and compare.
  const targetSum = new RowChecksum(normalise);
  let readBack = 0;
  const cursor = `copy_${from.name.replace(/[^a-z0-9_]/gi, '_')}`;
  await tx.exec(`DECLARE ${cursor} NO SCROLL CURSOR FOR SELECT ${list} FROM ${quoteIdent(from.name)}`);
  for (;;) {
    const rows = await tx.all<Record<string, unknown>>(`FETCH ${perBatch} FROM ${cursor}`);
    if (rows.length === 0) break;
    for (const r of rows) targetSum.add(columns.map((c) => r[c]));
    readBack += rows.length;
    report('verify', readBack);
  }
  await tx.exec(`CLOSE ${cursor}`);

  if (readBack !== total || copied !== total || targetSum.hex !== sourceSum.hex) {
    throw new LicensorError(
      'INTERNAL',
      `Verification of ${from.name} failed (SQLite ${total} rows, PostgreSQL ${readBack}; checksums ${sourceSum.hex.slice(0, 12)} vs ${targetSum.hex.slice(0, 12)}): nothing was committed; report it with the table name`,
      { table: from.name, rows: total, readBack },
    );
  }
  return { table: from.name, rows: total, checksum: sourceSum.hex };
}
