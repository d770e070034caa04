import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { devicePublicKeyHash, generateLicenseCode } from '@licensor/shared';
import { openPostgres, type PgDb, postgresUnreachable } from '../src/db/postgres/facade';
import { migratePostgres } from '../src/db/postgres/migrate';
import type { Device } from './activation-bench';

/**
 * The PostgreSQL side of the benchmarks: a throwaway database per run on the cluster LICENSOR_BENCH_PG_URL names
 * (default the development cluster, 127.0.0.1:5432, user postgres), seeded in bulk with SQL (generate_series) in
 * the shape the API writes, and the counters a run reads from PostgreSQL (rolled-back transactions: the
 * SERIALIZABLE retries; CPU of the database's backends).
 *
 * synchronous_commit stays at the cluster's setting (on): a commit waits for its WAL flush, as in production.
 */

export const BENCH_PG_ADMIN_URL = process.env.LICENSOR_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const adminSettings = {
  poolSize: 1,
  statementTimeoutMs: 600_000,
  // The machine is loaded to the full during a run: a reconnect of the idle counter connection must not fail it.
  connectTimeoutMs: 30_000,
  ssl: undefined,
  sslCaFile: undefined,
  applicationName: 'licensor-bench',
};

export interface BenchPostgres {
  url: string;
  database: string;
  /** A facade on the bench database (one connection, long statement timeout: seeding), closed by drop(). */
  db: PgDb;
  drop(): Promise<void>;
}

/** undefined when the cluster answers, else why not (the same probe as the tests': testkit/postgres.ts). */
export const pgUnreachable = (adminUrl = BENCH_PG_ADMIN_URL): Promise<string | undefined> =>
  postgresUnreachable(adminUrl, adminSettings);

/** A fresh database (C.UTF-8 collation, as deploy docs create it), migrated to the current schema. */
export async function createBenchPostgres(label: string, adminUrl = BENCH_PG_ADMIN_URL): Promise<BenchPostgres> {
  const database = `licensor_bench_${label.replace(/\W+/g, '_').toLowerCase()}_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = openPostgres(adminUrl, { settings: adminSettings });
  try {
    await admin.exec(
      `CREATE DATABASE ${database} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'`,
    );
  } finally {
    await admin.close();
  }
  const u = new URL(adminUrl);
  u.pathname = `/${database}`;
  const url = u.toString();
  const db = openPostgres(url, { settings: adminSettings });
  const drop = async () => {
    await db.close().catch(() => undefined);
    const a = openPostgres(adminUrl, { settings: adminSettings });
    try {
      await a.exec(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    } finally {
      await a.close();
    }
  };
  try {
    await migratePostgres(db);
  } catch (err) {
    await drop();
    throw err;
  }
  return { url, database, db, drop };
}

const PER_ENTITLEMENT = 3;
/**
 * Rows per INSERT … SELECT: one transaction each, so a million rows never sit in one transaction's WAL. A multiple
 * of 3, so no license straddles two chunks.
 */
const CHUNK = PER_ENTITLEMENT * 66_667;

/**
 * PostgreSQL's twin of activation-bench.ts `seed`: `freeCodes` licenses of 3 seats with real LSR codes and no
 * device (for new activations), and `activations` active devices, 3 per license, each signed by one of `keys`
 * (device i uses key i mod keys.length, as in the SQLite seed), with its activation_keys row as the API writes it.
 * License ids are UUIDs as the server makes them (random for the free ones, md5 of the index for the seeded
 * ones): sequential ids would put every new device of the run on the same index leaf page, where SERIALIZABLE's
 * page-level predicate locks make unrelated activations conflict. Rows come from generate_series, not from the
 * API: a million take minutes, not hours. Vacuumed and analysed
 * afterwards, as autovacuum would have done to a table that grew over months.
 */
export async function seedPostgres(
  db: PgDb,
  opts: { prefix: string; freeCodes: number; activations: number; keys: Device[] },
): Promise<{ codes: string[]; seeded: { id: string; key: number }[] }> {
  const now = new Date().toISOString();
  const expires = new Date(Date.now() + 365 * 86_400_000).toISOString();
  const codes = Array.from({ length: opts.freeCodes }, () => generateLicenseCode());
  const p = opts.prefix;
  await db.run(
    `INSERT INTO entitlements (id, family, code, product_id, seats, starts_at, expires_at, status, created_at, updated_at)
     SELECT gen_random_uuid()::text, 'A', c, 'bench-product', ?, ?, ?, 'active', ?, ?
       FROM unnest(?::text[]) AS f(c)`,
    [PER_ENTITLEMENT, now, expires, now, now, codes],
  );
  const keys = opts.keys.map((k, n) => ({
    n,
    fingerprint: JSON.stringify(k.components),
    publicKey: k.publicKey,
    hash: devicePublicKeyHash(k.publicKey),
  }));
  const keyRows = `(SELECT (n - 1)::int AS n, fp, pk, kh FROM unnest(?::text[], ?::text[], ?::text[]) WITH ORDINALITY AS k(fp, pk, kh, n))`;
  const keyParams = [keys.map((k) => k.fingerprint), keys.map((k) => k.publicKey), keys.map((k) => k.hash)];
  for (let from = 0; from < opts.activations; from += CHUNK) {
    const to = Math.min(opts.activations, from + CHUNK) - 1;
    // The chunk's licenses: device i sits on license floor(i / 3), seat i mod 3.
    await db.run(
      `INSERT INTO entitlements (id, family, code, product_id, seats, starts_at, expires_at, status, created_at, updated_at)
       SELECT md5(? || 'ent' || e)::uuid::text, 'A', 'LSR-BENCH-' || upper(md5(? || e)), 'bench-product', ?, ?, ?, 'active', ?, ?
         FROM generate_series(?::int, ?::int) AS e`,
      [
        p,
        p,
        PER_ENTITLEMENT,
        now,
        expires,
        now,
        now,
        Math.floor(from / PER_ENTITLEMENT),
        Math.floor(to / PER_ENTITLEMENT),
      ],
    );
    await db.run(
      `INSERT INTO activations (id, entitlement_id, status, seat, fingerprint, device_public_key, device_key_hash,
         hostname, platform, created_at, last_seen_at)
       SELECT 'act_' || ? || i, md5(? || 'ent' || (i / ${PER_ENTITLEMENT}))::uuid::text, 'active', i % ${PER_ENTITLEMENT}, k.fp, k.pk, k.kh,
         'host-' || i, 'linux', ?, ?
         FROM generate_series(?::int, ?::int) AS i JOIN ${keyRows} k ON k.n = i % ?`,
      [p, p, now, now, from, to, ...keyParams, keys.length],
    );
    await db.run(
      `INSERT INTO activation_keys (activation_id, key_hash, public_key, created_at)
       SELECT 'act_' || ? || i, k.kh, k.pk, ?
         FROM generate_series(?::int, ?::int) AS i JOIN ${keyRows} k ON k.n = i % ?`,
      [p, now, from, to, ...keyParams, keys.length],
    );
  }
  // One statement each: VACUUM refuses to run inside the implicit transaction of a multi-statement string.
  for (const table of ['entitlements', 'activations', 'activation_keys']) await db.exec(`VACUUM ANALYZE ${table}`);
  const seeded = Array.from({ length: opts.activations }, (_, i) => ({ id: `act_${p}${i}`, key: i % keys.length }));
  return { codes, seeded };
}

/** Transactions of the database committed and rolled back so far (pg_stat_database, updated as they end). */
export async function xactCounts(db: PgDb, database: string): Promise<{ commits: number; rollbacks: number }> {
  // The statistics collector's snapshot is per transaction: clear it so two calls see two moments.
  await db.exec('SELECT pg_stat_clear_snapshot()');
  const r = await db.first<{ c: number; r: number }>(
    'SELECT xact_commit AS c, xact_rollback AS r FROM pg_stat_database WHERE datname = ?',
    [database],
  );
  return { commits: r?.c ?? 0, rollbacks: r?.r ?? 0 };
}

/** PIDs of the backends connected to the database (the instances' pools, the floor's pool). */
export async function backendPids(db: PgDb, database: string): Promise<number[]> {
  const rows = await db.all<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = ? AND pid <> pg_backend_pid()',
    [database],
  );
  return rows.map((r) => r.pid);
}

/** CPU time (ms, user + system) of processes by PID from /proc; a PID gone since is left out. */
export function cpuMsOf(pids: number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      out.set(pid, (Number(fields[11]) + Number(fields[12])) * 10);
    } catch {
      // the backend exited (an idle pooled connection closed)
    }
  }
  return out;
}

/** CPU (ms) the backends alive at both samples used between them. */
export function cpuMsBetween(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, ms] of after) {
    const b = before.get(pid);
    if (b !== undefined) sum += ms - b;
  }
  return sum;
}
