import type { PgQueryable } from './postgres/facade';
import type { SqliteDatabase } from './sqlite';

/**
 * The shape of a schema read back from the database itself (not from the migration text), the same way for
 * both engines: the parity test compares SQLite's with PostgreSQL's, and `db copy` walks the tables with it.
 */
export type TypeClass = 'text' | 'integer' | 'real' | 'other';

export interface ColumnShape {
  name: string;
  type: TypeClass;
  notNull: boolean;
}

export interface TableShape {
  name: string;
  columns: ColumnShape[];
  primaryKey: string[];
  /** Unique constraints and unique indexes other than the primary key; partial = has a WHERE clause. */
  uniques: { columns: string[]; partial: boolean }[];
  /** Named indexes created by CREATE [UNIQUE] INDEX (not the ones behind PRIMARY KEY / UNIQUE). */
  indexes: string[];
  /** Tables this one references (foreign keys). */
  references: string[];
}

const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export function sqliteTypeClass(declared: string): TypeClass {
  const t = declared.toUpperCase();
  if (t.includes('INT')) return 'integer';
  if (t.includes('CHAR') || t.includes('TEXT') || t.includes('CLOB')) return 'text';
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return 'real';
  return 'other';
}

export function pgTypeClass(dataType: string): TypeClass {
  if (['integer', 'bigint', 'smallint'].includes(dataType)) return 'integer';
  if (['text', 'character varying', 'character'].includes(dataType)) return 'text';
  if (['double precision', 'real'].includes(dataType)) return 'real';
  return 'other';
}

export function sqliteTables(db: Pick<SqliteDatabase, 'raw'>): TableShape[] {
  // The catalogue, synchronously on the connection (db/ internals: copy and the parity test).
  const all = <T>(sql: string, params: unknown[] = []): T[] => db.raw.prepare(sql).all(...params) as T[];
  const tables = all<{ name: string }>(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
  );
  return tables.map(({ name }) => {
    const info = all<{ name: string; type: string; notnull: number; pk: number }>(
      'SELECT name, type, "notnull", pk FROM pragma_table_info(?)',
      [name],
    );
    const indexList = all<{ name: string; unique: number; origin: string; partial: number }>(
      'SELECT name, "unique", origin, partial FROM pragma_index_list(?)',
      [name],
    );
    const indexColumns = (index: string) =>
      all<{ name: string }>('SELECT name FROM pragma_index_info(?) ORDER BY seqno', [index]).map((c) => c.name);
    const explicit = new Set(
      all<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
        [name],
      ).map((r) => r.name),
    );
    return {
      name,
      columns: info.map((c) => ({ name: c.name, type: sqliteTypeClass(c.type), notNull: c.notnull === 1 || c.pk > 0 })),
      primaryKey: info
        .filter((c) => c.pk > 0)
        .sort((a, b) => a.pk - b.pk)
        .map((c) => c.name),
      uniques: indexList
        .filter((i) => i.unique === 1 && i.origin !== 'pk')
        .map((i) => ({ columns: indexColumns(i.name), partial: i.partial === 1 })),
      indexes: [...explicit].sort(),
      references: [
        ...new Set(
          all<{ table: string }>('SELECT "table" FROM pragma_foreign_key_list(?)', [name]).map((r) => r.table),
        ),
      ].sort(),
    };
  });
}

export async function pgTables(db: PgQueryable): Promise<TableShape[]> {
  const tables = await db.all<{ name: string }>(
    "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
  );
  const shapes: TableShape[] = [];
  for (const { name } of tables.sort(byName)) {
    const columns = await db.all<{ name: string; data_type: string; is_nullable: string }>(
      'SELECT column_name AS name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position',
      [name],
    );
    const indexes = await db.all<{
      index: string;
      primary: boolean;
      unique: boolean;
      partial: boolean;
      constraint: boolean;
      columns: string[];
    }>(
      `SELECT ic.relname AS index, i.indisprimary AS primary, i.indisunique AS unique, i.indpred IS NOT NULL AS partial,
              EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid) AS constraint,
              ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.ord) AS columns
         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = to_regclass(?)`,
      [name],
    );
    const refs = await db.all<{ table: string }>(
      "SELECT DISTINCT confrelid::regclass::text AS table FROM pg_constraint WHERE conrelid = to_regclass(?) AND contype = 'f'",
      [name],
    );
    shapes.push({
      name,
      columns: columns.map((c) => ({ name: c.name, type: pgTypeClass(c.data_type), notNull: c.is_nullable === 'NO' })),
      primaryKey: indexes.find((i) => i.primary)?.columns ?? [],
      uniques: indexes.filter((i) => i.unique && !i.primary).map((i) => ({ columns: i.columns, partial: i.partial })),
      indexes: indexes
        .filter((i) => !i.constraint)
        .map((i) => i.index)
        .sort(),
      references: refs.map((r) => r.table.replace(/^"|"$/g, '')).sort(),
    });
  }
  return shapes;
}

/** Tables ordered so that each comes after the tables it references (what a copy must insert first). */
export function referenceOrder(tables: TableShape[]): TableShape[] {
  const byTable = new Map(tables.map((t) => [t.name, t]));
  const done = new Set<string>();
  const out: TableShape[] = [];
  const visit = (t: TableShape, path: Set<string>) => {
    if (done.has(t.name) || path.has(t.name)) return;
    path.add(t.name);
    for (const r of t.references) {
      const dep = byTable.get(r);
      if (dep && dep.name !== t.name) visit(dep, path);
    }
    done.add(t.name);
    out.push(t);
  };
  for (const t of tables) visit(t, new Set());
  return out;
}

/**
 * Every difference between two schemas, each a sentence saying what to do. Unique constraints compare by
 * their columns (SQLite and PostgreSQL name them differently); explicitly created indexes by name.
 */
export function schemaDifferences(sqlite: TableShape[], postgres: TableShape[]): string[] {
  const twin = 'add it to the PostgreSQL twin in packages/server/src/db/postgres/schema.ts';
  const out: string[] = [];
  const pgByName = new Map(postgres.map((t) => [t.name, t]));
  const sqliteNames = new Set(sqlite.map((t) => t.name));
  for (const t of postgres) {
    if (!sqliteNames.has(t.name))
      out.push(`table ${t.name} exists only in PostgreSQL: remove it or add the SQLite migration`);
  }
  const key = (u: { columns: string[]; partial: boolean }) => `(${u.columns.join(', ')})${u.partial ? ' WHERE …' : ''}`;
  for (const s of sqlite) {
    const p = pgByName.get(s.name);
    if (!p) {
      out.push(`table ${s.name} exists in SQLite but not in PostgreSQL: ${twin}`);
      continue;
    }
    const pCols = new Map(p.columns.map((c) => [c.name, c]));
    for (const c of s.columns) {
      const pc = pCols.get(c.name);
      if (!pc) out.push(`column ${s.name}.${c.name} exists in SQLite but not in PostgreSQL: ${twin}`);
      else {
        if (pc.type !== c.type)
          out.push(`column ${s.name}.${c.name} is ${c.type} in SQLite but ${pc.type} in PostgreSQL`);
        if (pc.notNull !== c.notNull)
          out.push(
            `column ${s.name}.${c.name} is ${c.notNull ? 'NOT NULL' : 'nullable'} in SQLite but ${pc.notNull ? 'NOT NULL' : 'nullable'} in PostgreSQL`,
          );
      }
    }
    const sCols = new Set(s.columns.map((c) => c.name));
    for (const c of p.columns) {
      if (!sCols.has(c.name)) out.push(`column ${s.name}.${c.name} exists only in PostgreSQL`);
    }
    if (s.primaryKey.join(',') !== p.primaryKey.join(','))
      out.push(
        `primary key of ${s.name} is (${s.primaryKey.join(', ')}) in SQLite but (${p.primaryKey.join(', ')}) in PostgreSQL`,
      );
    const sU = new Set(s.uniques.map(key));
    const pU = new Set(p.uniques.map(key));
    for (const u of sU)
      if (!pU.has(u)) out.push(`unique ${s.name}${u} exists in SQLite but not in PostgreSQL: ${twin}`);
    for (const u of pU) if (!sU.has(u)) out.push(`unique ${s.name}${u} exists only in PostgreSQL`);
    const pI = new Set(p.indexes);
    for (const i of s.indexes)
      if (!pI.has(i)) out.push(`index ${i} on ${s.name} exists in SQLite but not in PostgreSQL: ${twin}`);
    const sI = new Set(s.indexes);
    for (const i of p.indexes) if (!sI.has(i)) out.push(`index ${i} on ${s.name} exists only in PostgreSQL`);
    if (s.references.join(',') !== p.references.join(','))
      out.push(
        `${s.name} references (${s.references.join(', ')}) in SQLite but (${p.references.join(', ')}) in PostgreSQL`,
      );
  }
  return out;
}
