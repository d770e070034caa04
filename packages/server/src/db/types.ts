// Row and migration types on their own, so storage.ts, sqlite.ts and migrations can share them without importing
// one another in a circle.

export type Row = Record<string, unknown>;

/** One schema change (db/migrations/NNN_name.ts), applied once in its own transaction. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}
