import { LicensorError } from '@licensor/shared';
import type { PgQueryable } from './facade';

/**
 * How the database orders text. Licensor needs byte order (what SQLite does), and checks it before migrating
 * (start-up, `licensor db migrate`, `licensor db copy`) instead of spelling `COLLATE "C"` in its queries
 * (decision in docs/design/postgresql.md, "Text search and text order"): every listing sorts and pages by text keys
 * (`(created_at, id) < (?, ?)`), and under a linguistic collation (en_US, ICU) they come out in another order than
 * on SQLite — `B` before `a` or not, punctuation ignored at first — so a cursor handed out by one backend, a
 * JS-side comparison, or a query that someone forgets to mark would disagree with the index. Marking each query
 * would also leave the indexes, built under the database's collation, unusable for those ORDER BYs.
 */
export interface DatabaseCollation {
  database: string;
  /** libc, icu or builtin (PostgreSQL 17). */
  provider: string;
  /** LC_COLLATE, or the ICU / builtin locale when that provider orders text. */
  collation: string;
  ctype: string;
  /** Text compares as bytes (UTF-8 byte order is code point order). */
  byteOrder: boolean;
}

const PROVIDERS: Record<string, string> = { c: 'libc', i: 'icu', b: 'builtin' };
const C_LOCALE = /^(C|POSIX)(\.(UTF-?8))?$/i;

/** The current database's collation (read-only; works on PostgreSQL 12 and later). */
export async function databaseCollation(db: PgQueryable): Promise<DatabaseCollation> {
  // SELECT *: the locale columns differ between versions (daticulocale in 15–16, datlocale from 17).
  const row = await db.first<Record<string, unknown>>('SELECT * FROM pg_database WHERE datname = current_database()');
  if (!row) throw new LicensorError('INTERNAL', 'pg_database has no row for the current database');
  const provider = PROVIDERS[String(row.datlocprovider ?? 'c')] ?? String(row.datlocprovider);
  const locale = (row.datlocale ?? row.daticulocale ?? null) as string | null;
  const collate = String(row.datcollate ?? '');
  const collation = provider === 'libc' ? collate : (locale ?? collate);
  // The catalogue says byte order; the comparison proves it ('B' < 'a' in bytes, not in any linguistic order).
  const probe = await db.first<{ bytes: boolean }>("SELECT 'B' < 'a' AND 'a-b' < 'a_b' AND 'Z' < 'a' AS bytes");
  const byteOrder = provider !== 'icu' && C_LOCALE.test(collation) && probe?.bytes === true;
  return { database: String(row.datname), provider, collation, ctype: String(row.datctype ?? ''), byteOrder };
}

/** One line for status output: `C.UTF-8 (libc): byte order`. */
export const collationText = (c: DatabaseCollation): string =>
  `${c.collation} (${c.provider})${c.byteOrder ? ': byte order, as SQLite' : ': NOT byte order — start-up and `licensor db migrate` refuse this database'}`;

/**
 * The statement that creates a database Licensor accepts (deployment guide, "Creating the database"). A new
 * database takes its template's locale provider: where the refused database is ICU, template0 may be too (a cluster
 * made with `initdb --locale-provider=icu`), so the statement names libc (LOCALE_PROVIDER exists from PostgreSQL
 * 15, as ICU databases do).
 */
export const CREATE_DATABASE_SQL = (name: string, provider?: string) =>
  `CREATE DATABASE ${name} OWNER licensor TEMPLATE template0 ENCODING 'UTF8' ${provider === 'libc' || provider === undefined ? '' : 'LOCALE_PROVIDER libc '}LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'`;

/** Refuses a database whose text order is not byte order, saying how to create one that is. */
export async function assertByteOrderCollation(db: PgQueryable): Promise<DatabaseCollation> {
  const c = await databaseCollation(db);
  if (c.byteOrder) return c;
  throw new LicensorError(
    'CONFIG_INVALID',
    `The PostgreSQL database ${c.database} orders text by the collation ${c.collation} (${c.provider}); Licensor needs byte order so that listings and their page cursors come out as on SQLite. Create the database with LC_COLLATE 'C.UTF-8' (or 'C'): ${CREATE_DATABASE_SQL(c.database, c.provider)}; move existing data into it with pg_dump and pg_restore (docs/deploy-postgresql.md, "Creating the database")`,
    { collation: c.collation, provider: c.provider },
  );
}
