/**
 * The domain queries are written once with SQLite's `?` placeholders; PostgreSQL numbers them ($1, $2, …).
 * This rewrites `?` outside string literals, quoted identifiers and comments. The one PostgreSQL operator
 * spelled `?` (jsonb key existence) is therefore not available to domain SQL: use jsonb_exists() instead.
 */
export function toPgPlaceholders(sql: string): string {
  if (!sql.includes('?')) return sql;
  let out = '';
  let n = 0;
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
      n += 1;
      out += `$${n}`;
      i++;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

/** Double-quotes an identifier (table or column name read from a catalogue, never from a request). */
export const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;
