import type { Storage } from './storage';

/** A LIKE pattern that matches `text` literally anywhere (escape character `\`: `%` and `_` typed are literal). */
export const likeAnywhere = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** Lower-cases A–Z and nothing else (String.toLowerCase would also fold Ä, Σ, …, which the SQL side does not). */
export const asciiLower = (text: string) => text.replace(/[A-Z]/g, (c) => c.toLowerCase());

/**
 * The console's text search: `text` anywhere in any of `columns`, the same rows on both backends. Letters A–Z match
 * in either case; every other character, non-ASCII letters included (Ä/ä, ß/ẞ, Cyrillic, Greek), matches only
 * exactly as typed; Chinese has no case. That is SQLite's own LIKE (ASCII case folding, no ICU), and on PostgreSQL
 * — whose LIKE is case-sensitive — `lower()` under the "C" collation, which folds only A–Z whatever the database's
 * LC_CTYPE (docs/deploy-postgresql.md "Searching", docs/merchant-guide.md §10). Unicode folding was not chosen: SQLite would need a
 * user-defined function, and PostgreSQL's result would depend on the server's locale and ICU version.
 */
export function textSearch(dialect: Storage['dialect'], columns: string[], text: string): [string, ...string[]] {
  const pattern = likeAnywhere(asciiLower(text));
  const match =
    dialect === 'postgres'
      ? (c: string) => `lower(${c} COLLATE "C") LIKE ? ESCAPE '\\'`
      : (c: string) => `${c} LIKE ? ESCAPE '\\'`;
  return [columns.map(match).join(' OR '), ...columns.map(() => pattern)];
}
