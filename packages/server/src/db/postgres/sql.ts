/**
 * The domain queries are written once with SQLite's `?` placeholders; PostgreSQL numbers them ($1, $2, …).
 * This rewrites `?` outside string literals, quoted identifiers and comments. The one PostgreSQL operator
 * spelled `?` (jsonb key existence) is therefore not available to domain SQL: use jsonb_exists() instead.
 */
export function toPgPlaceholders(sql: string): string {
  if (!sql.includes('?')) return sql;
  return numberParameters(sql, false).sql;
}

/**
 * Like toPgPlaceholders, and also numbers SQLite's named parameters (`@name`, `:name`; `::type` casts are left
 * alone), the same name getting the same number: the portability check (portability.ts) PREPAREs every recorded
 * statement whichever way it was written. `names` lists each parameter's name by number ('' for a `?`).
 */
export function toPgParameters(sql: string): { sql: string; names: string[] } {
  return numberParameters(sql, true);
}

const NAMED = /^[@:]([A-Za-z_][A-Za-z0-9_]*)/;

function numberParameters(sql: string, named: boolean): { sql: string; names: string[] } {
  const names: string[] = [];
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i]!;
    const next = sql[i + 1];
    if (ch === "'" || ch === '"') {
      // A quoted literal or identifier; a doubled quote inside it is an escaped quote.
      let j = i + 1;
      while (j < sql.length) {
        if (sql[j] === ch) {
          if (sql[j + 1] === ch) j += 2;
          else break;
        } else j++;
      }
      out += sql.slice(i, j + 1);
      i = j + 1;
    } else if (ch === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      const j = end === -1 ? sql.length : end;
      out += sql.slice(i, j);
      i = j;
    } else if (ch === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2);
      const j = end === -1 ? sql.length : end + 2;
      out += sql.slice(i, j);
      i = j;
    } else if (ch === '?') {
      names.push('');
      out += `$${names.length}`;
      i++;
    } else if (named && (ch === '@' || (ch === ':' && next !== ':' && sql[i - 1] !== ':'))) {
      const m = NAMED.exec(sql.slice(i, i + 64));
      if (m) {
        let k = names.indexOf(m[1]!);
        if (k === -1) {
          names.push(m[1]!);
          k = names.length - 1;
        }
        out += `$${k + 1}`;
        i += m[0].length;
      } else {
        out += ch;
        i++;
      }
    } else {
      out += ch;
      i++;
    }
  }
  return { sql: out, names };
}

/** Double-quotes an identifier (table or column name read from a catalogue, never from a request). */
export const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;
