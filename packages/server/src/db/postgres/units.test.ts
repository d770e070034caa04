import { describe, expect, it } from 'vitest';
import { parseDatabaseUrl, redactDatabaseUrl } from '../backend';
import { toStorageError } from './errors';
import { poolConfig, postgresSettings } from './settings';
import { toPgParameters, toPgPlaceholders } from './sql';

describe('toPgPlaceholders', () => {
  it('numbers ? outside literals, quoted identifiers and comments', () => {
    expect(toPgPlaceholders('SELECT * FROM t WHERE a = ? AND b IN (?, ?)')).toBe(
      'SELECT * FROM t WHERE a = $1 AND b IN ($2, $3)',
    );
    expect(toPgPlaceholders(`SELECT '?', 'it''s ?', "col?" FROM t -- why?\nWHERE x = ? /* ? */ AND y = ?`)).toBe(
      `SELECT '?', 'it''s ?', "col?" FROM t -- why?\nWHERE x = $1 /* ? */ AND y = $2`,
    );
    expect(toPgPlaceholders('SELECT $1')).toBe('SELECT $1');
  });

  it('numbers named parameters too where asked, one number per name, leaving casts alone', () => {
    expect(toPgParameters("SELECT x::text FROM t WHERE a = @a AND b = :b AND c = @a AND d = '@d'")).toEqual({
      sql: "SELECT x::text FROM t WHERE a = $1 AND b = $2 AND c = $1 AND d = '@d'",
      names: ['a', 'b'],
    });
    expect(toPgParameters('SELECT ? , ?')).toEqual({ sql: 'SELECT $1 , $2', names: ['', ''] });
  });
});

describe('toStorageError', () => {
  it('maps SQLSTATEs and socket errors onto the project error codes', () => {
    expect(toStorageError({ code: '23505', constraint: 'entitlements_code_key' }).code).toBe('CONFLICT');
    expect(toStorageError({ code: '23514' }).code).toBe('INVALID_INPUT');
    // A NUL character in a text parameter (invalid byte sequence for UTF8): the input's fault, not a 500.
    expect(toStorageError({ code: '22021', message: 'invalid byte sequence for encoding "UTF8": 0x00' }).code).toBe(
      'INVALID_INPUT',
    );
    for (const code of ['ECONNREFUSED', '57P01', '08006', '53300', '57014', '40001', '57P03']) {
      expect(toStorageError({ code }).code).toBe('STORAGE_UNAVAILABLE');
    }
    expect(toStorageError(new Error('Connection terminated unexpectedly')).code).toBe('STORAGE_UNAVAILABLE');
    expect(toStorageError({ code: '42601', message: 'syntax error' }).code).toBe('INTERNAL');
  });
});

describe('backend selection (LICENSOR_DATABASE_URL)', () => {
  it('keeps SQLite when unset or sqlite:, selects PostgreSQL for postgres://, refuses the rest', () => {
    expect(parseDatabaseUrl(undefined)).toEqual({ kind: 'sqlite', path: undefined });
    expect(parseDatabaseUrl('')).toEqual({ kind: 'sqlite', path: undefined });
    expect(parseDatabaseUrl('sqlite:')).toEqual({ kind: 'sqlite', path: undefined });
    expect(parseDatabaseUrl('sqlite:/var/lib/licensor/l.db')).toEqual({
      kind: 'sqlite',
      path: '/var/lib/licensor/l.db',
    });
    expect(parseDatabaseUrl('sqlite:///var/l.db')).toEqual({ kind: 'sqlite', path: '/var/l.db' });
    expect(parseDatabaseUrl('sqlite:data/l.db')).toEqual({ kind: 'sqlite', path: 'data/l.db' });
    expect(parseDatabaseUrl('postgres://u:p@db:5432/lic')).toEqual({
      kind: 'postgres',
      url: 'postgres://u:p@db:5432/lic',
    });
    expect(parseDatabaseUrl('postgresql://db/lic').kind).toBe('postgres');
    expect(() => parseDatabaseUrl('mysql://db/lic')).toThrow(/sqlite: .*postgres:\/\//);
  });

  it('never shows the password', () => {
    expect(redactDatabaseUrl('postgres://licensor:s3cret@db:5432/lic')).toBe('postgres://licensor:***@db:5432/lic');
    expect(redactDatabaseUrl('postgres://db/lic')).toBe('postgres://db/lic');
  });
});

describe('PostgreSQL settings', () => {
  it('read pool size, timeouts and TLS from the environment with safe defaults', () => {
    expect(postgresSettings({})).toMatchObject({ poolSize: 10, statementTimeoutMs: 4000, ssl: undefined });
    const s = postgresSettings({
      LICENSOR_PG_POOL_SIZE: '25',
      LICENSOR_PG_STATEMENT_TIMEOUT_MS: '2500',
      LICENSOR_PG_SSL: 'require',
    });
    expect(poolConfig('postgres://db/lic', s)).toMatchObject({
      max: 25,
      statement_timeout: 2500,
      ssl: { rejectUnauthorized: false },
    });
    expect(() => postgresSettings({ LICENSOR_PG_POOL_SIZE: '0' })).toThrow(/LICENSOR_PG_POOL_SIZE/);
    expect(() => postgresSettings({ LICENSOR_PG_SSL: 'maybe' })).toThrow(/LICENSOR_PG_SSL/);
    expect(() => postgresSettings({ LICENSOR_PG_SSL_CA: '/ca.pem' })).toThrow(/verify-full/);
    expect(() => poolConfig('postgres://db/lic?sslmode=require', s)).toThrow(/TLS is set twice/);
    expect(() =>
      poolConfig(
        'postgres://db/lic',
        postgresSettings({ LICENSOR_PG_SSL: 'verify-full', LICENSOR_PG_SSL_CA: '/nope.pem' }),
      ),
    ).toThrow(/LICENSOR_PG_SSL_CA: cannot read/);
  });
});
