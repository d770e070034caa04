import { LicensorError } from '@licensor/shared';

/**
 * Which storage engine a deployment uses, chosen by LICENSOR_DATABASE_URL: unset or `sqlite:` is the embedded
 * SQLite file (the zero-setup default), `postgres://` / `postgresql://` is a PostgreSQL server that several
 * instances can share.
 */
export type DatabaseTarget =
  | {
      kind: 'sqlite' /** An explicit file; undefined means licensor.db in the data folder. */;
      path: string | undefined;
    }
  | { kind: 'postgres'; url: string };

/**
 * `sqlite:` → the data folder's licensor.db; `sqlite:/abs/file.db`, `sqlite:rel/file.db` and `sqlite:///abs/file.db`
 * → that file; `postgres://user@host:5432/db?…` → PostgreSQL. Anything else is a configuration error.
 */
export function parseDatabaseUrl(value: string | undefined): DatabaseTarget {
  const v = value?.trim();
  if (!v) return { kind: 'sqlite', path: undefined };
  if (/^sqlite:/i.test(v)) {
    const rest = v.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    return { kind: 'sqlite', path: rest === '' ? undefined : rest };
  }
  if (/^postgres(ql)?:\/\//i.test(v)) {
    try {
      new URL(v);
    } catch {
      throw new LicensorError(
        'CONFIG_INVALID',
        'LICENSOR_DATABASE_URL is not a valid URL: expected postgres://user:password@host:5432/database',
      );
    }
    return { kind: 'postgres', url: v };
  }
  throw new LicensorError(
    'CONFIG_INVALID',
    'LICENSOR_DATABASE_URL must start with sqlite: (embedded, the default) or postgres:// (e.g. postgres://licensor@db.internal:5432/licensor)',
  );
}

/** The URL without its password, for logs, status output and error messages. */
export function redactDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
  }
}
