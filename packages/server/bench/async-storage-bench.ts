import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { openSqliteDatabase } from '../src/db/sqlite';

/**
 * The synchronous facade the server used before the conversion (issue 16), kept here as this measurement's
 * baseline: cached prepared statements and one better-sqlite3 transaction wrapper (nested calls: savepoints).
 */
interface Db {
  raw: BetterSqlite3.Database;
  all<T>(sql: string, params?: readonly unknown[]): T[];
  first<T>(sql: string, params?: readonly unknown[]): T | undefined;
  run(sql: string, params?: readonly unknown[]): { changes: number };
  transaction<T>(fn: () => T): T;
  close(): Promise<void>;
}
function openDatabase(path: string): Db {
  const database = openSqliteDatabase(path);
  const raw = database.raw;
  const cache = new Map<string, BetterSqlite3.Statement>();
  const prepare = (sql: string) => {
    let stmt = cache.get(sql);
    if (!stmt) {
      stmt = raw.prepare(sql);
      cache.set(sql, stmt);
    }
    return stmt;
  };
  const inTransaction = raw.transaction(<T>(fn: () => T): T => fn());
  return {
    raw,
    all: <T>(sql: string, params: readonly unknown[] = []) => prepare(sql).all(...params) as T[],
    first: <T>(sql: string, params: readonly unknown[] = []) => prepare(sql).get(...params) as T | undefined,
    run: (sql, params = []) => ({ changes: prepare(sql).run(...params).changes }),
    transaction: <T>(fn: () => T): T => inTransaction.immediate(fn) as T,
    close: () => database.close(),
  };
}

import type { Row } from '../src/db/types';

type Params = readonly unknown[];

/**
 * What an asynchronous storage interface costs on SQLite (docs/design/async-storage.md): a check-in-shaped
 * transaction (read the device and its license, remember the request nonce, touch the device, note the day's
 * use: 2 reads, 3 writes) through the synchronous facade, and through async wrappers over the same
 * better-sqlite3 connection, all in one process and interleaved round by round so that the ratios hold on a
 * loaded machine. The WAL is not synced per commit (synchronous=NORMAL): the disk is the same for every variant
 * and the question is the facade's own cost. Usage:
 *   node scripts/dev.mjs run packages/server/bench/async-storage-bench.ts [--n 20000] [--rounds 5] [--memory]
 */

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const N = arg('n', 20_000);
/** --memory: an in-memory database, so only CPU is measured (no WAL writes). */
const MEMORY = process.argv.includes('--memory');
const ROUNDS = arg('rounds', 5);
const CONCURRENCY = 64;
const BATCH = 32; // requests per group-commit batch

interface Queryable {
  all<T = Row>(sql: string, params?: Params): Promise<T[]>;
  first<T = Row>(sql: string, params?: Params): Promise<T | undefined>;
  run(sql: string, params?: Params): Promise<{ changes: number }>;
}

/**
 * The async wrapper the design proposes: one connection, so a transaction holds a lock (a promise chain)
 * from BEGIN to COMMIT and every other caller waits for it. `ambient` finds the transaction of the calling
 * async context through AsyncLocalStorage; otherwise the transaction is an explicit handle.
 */
class AsyncSqlite implements Queryable {
  private tail: Promise<unknown> = Promise.resolve();
  readonly context = new AsyncLocalStorage<true>();
  private readonly begin;
  private readonly commit;
  private readonly rollback;

  constructor(
    private readonly db: Db,
    private readonly ambient: boolean,
  ) {
    this.begin = db.raw.prepare('BEGIN IMMEDIATE');
    this.commit = db.raw.prepare('COMMIT');
    this.rollback = db.raw.prepare('ROLLBACK');
  }

  /** Runs fn when every earlier holder of the connection is done. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private direct: Queryable = {
    all: async (sql, params) => this.db.all(sql, params),
    first: async (sql, params) => this.db.first(sql, params),
    run: async (sql, params) => this.db.run(sql, params),
  };

  private call<T>(op: (q: Queryable) => Promise<T>): Promise<T> {
    if (this.ambient && this.context.getStore()) return op(this.direct);
    return this.exclusive(() => op(this.direct));
  }

  all = <T = Row>(sql: string, params?: Params) => this.call((q) => q.all<T>(sql, params));
  first = <T = Row>(sql: string, params?: Params) => this.call((q) => q.first<T>(sql, params));
  run = (sql: string, params?: Params) => this.call((q) => q.run(sql, params));

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      this.begin.run();
      try {
        const result = this.ambient ? await this.context.run(true, () => fn(this)) : await fn(this.direct);
        this.commit.run();
        return result;
      } catch (err) {
        this.rollback.run();
        throw err;
      }
    });
  }

  /** Group commit made async: the batch's requests one after another, each in a savepoint, one COMMIT. */
  batch(fns: ((tx: Queryable) => Promise<unknown>)[]): Promise<void> {
    return this.exclusive(async () => {
      this.begin.run();
      for (const fn of fns) {
        this.db.raw.exec('SAVEPOINT request');
        try {
          await (this.ambient ? this.context.run(true, () => fn(this)) : fn(this.direct));
          this.db.raw.exec('RELEASE request');
        } catch {
          this.db.raw.exec('ROLLBACK TO request; RELEASE request');
        }
      }
      this.commit.run();
    });
  }
}

const dir = mkdtempSync(join(tmpdir(), 'licensor-async-bench-'));
const db = openDatabase(MEMORY ? ':memory:' : join(dir, 'bench.db'));
db.raw.pragma('synchronous = NORMAL');
const DEVICES = 1000;
const at = '2026-01-01T00:00:00.000Z';
db.transaction(() => {
  db.run(
    `INSERT INTO entitlements (id, family, code, seats, status, test, created_at, updated_at)
     VALUES ('ent', 'direct', 'LSR-BENCH', ?, 'active', 0, ?, ?)`,
    [DEVICES, at, at],
  );
  for (let i = 0; i < DEVICES; i++) {
    db.run(
      `INSERT INTO activations (id, entitlement_id, status, seat, fingerprint, device_public_key, device_key_hash,
         created_at, last_seen_at) VALUES (?, 'ent', 'active', ?, '{}', 'pk', 'h', ?, ?)`,
      [`act-${i}`, i, at, at],
    );
  }
});

let nonce = 0;
const SQL = {
  device: 'SELECT * FROM activations WHERE id = ?',
  license: 'SELECT * FROM entitlements WHERE id = ?',
  nonce: 'INSERT INTO device_nonces (activation_id, nonce, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
  touch: 'UPDATE activations SET last_seen_at = ?, offline = 0 WHERE id = ?',
  usage: 'INSERT INTO code_usage (code, day, device) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
};

function checkInSync(d: Db, i: number): void {
  const device = d.first<{ id: string; entitlement_id: string }>(SQL.device, [`act-${i % DEVICES}`])!;
  const license = d.first<{ code: string }>(SQL.license, [device.entitlement_id])!;
  d.run(SQL.nonce, [device.id, `n${nonce++}`, Date.now() + 600_000]);
  d.run(SQL.touch, [new Date().toISOString(), device.id]);
  d.run(SQL.usage, [license.code, '2026-01-01', device.id]);
}

async function checkInAsync(q: Queryable, i: number): Promise<void> {
  const device = (await q.first<{ id: string; entitlement_id: string }>(SQL.device, [`act-${i % DEVICES}`]))!;
  const license = (await q.first<{ code: string }>(SQL.license, [device.entitlement_id]))!;
  await q.run(SQL.nonce, [device.id, `n${nonce++}`, Date.now() + 600_000]);
  await q.run(SQL.touch, [new Date().toISOString(), device.id]);
  await q.run(SQL.usage, [license.code, '2026-01-01', device.id]);
}

const explicit = new AsyncSqlite(db, false);
const ambient = new AsyncSqlite(db, true);

/** Runs n requests, `concurrency` at a time. */
async function concurrently(n: number, concurrency: number, one: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await one(next++);
    }),
  );
}

const batches = (n: number) => Array.from({ length: Math.ceil(n / BATCH) }, (_, b) => b * BATCH);
const VARIANTS: [string, () => Promise<void> | void][] = [
  [
    'sync facade, one transaction each',
    () => {
      for (let i = 0; i < N; i++) db.transaction(() => checkInSync(db, i));
    },
  ],
  [
    'async, explicit tx handle, sequential',
    async () => {
      for (let i = 0; i < N; i++) await explicit.transaction((tx) => checkInAsync(tx, i));
    },
  ],
  [
    'async, AsyncLocalStorage, sequential',
    async () => {
      for (let i = 0; i < N; i++) await ambient.transaction(() => checkInAsync(ambient, i));
    },
  ],
  [
    `async, explicit tx handle, ${CONCURRENCY} concurrent`,
    () => concurrently(N, CONCURRENCY, (i) => explicit.transaction((tx) => checkInAsync(tx, i))),
  ],
  [
    `async, AsyncLocalStorage, ${CONCURRENCY} concurrent`,
    () => concurrently(N, CONCURRENCY, (i) => ambient.transaction(() => checkInAsync(ambient, i))),
  ],
  [
    `sync facade, group commit batches of ${BATCH} (savepoint each)`,
    () => {
      for (const start of batches(N)) {
        db.transaction(() => {
          for (let i = start; i < Math.min(start + BATCH, N); i++) db.transaction(() => checkInSync(db, i));
        });
      }
    },
  ],
  [
    `async, explicit tx handle, group commit batches of ${BATCH}`,
    async () => {
      for (const start of batches(N)) {
        const fns = Array.from(
          { length: Math.min(BATCH, N - start) },
          (_, k) => (tx: Queryable) => checkInAsync(tx, start + k),
        );
        await explicit.batch(fns);
      }
    },
  ],
  [
    `async, AsyncLocalStorage, group commit batches of ${BATCH}`,
    async () => {
      for (const start of batches(N)) {
        const fns = Array.from(
          { length: Math.min(BATCH, N - start) },
          (_, k) => () => checkInAsync(ambient, start + k),
        );
        await ambient.batch(fns);
      }
    },
  ],
];

// CPU time (user + system) of this process rather than wall time: other processes on a loaded machine stretch
// the wall clock of whichever variant they happen to overlap, not its CPU time.
const samples = new Map<string, { cpu: number[]; wall: number[] }>(
  VARIANTS.map(([name]) => [name, { cpu: [], wall: [] }]),
);
for (let round = 0; round < ROUNDS + 1; round++) {
  for (const [name, run] of VARIANTS) {
    const cpu = process.cpuUsage();
    const started = performance.now();
    await run();
    const wall = ((performance.now() - started) * 1000) / N;
    const used = process.cpuUsage(cpu);
    // Node 20's AsyncLocalStorage installs a promise hook on first use that taxes every promise afterwards:
    // switched off again so that it is charged to the variants that use it only.
    ambient.context.disable();
    if (round === 0) continue; // warms up the statement cache and the JIT
    samples.get(name)!.cpu.push((used.user + used.system) / N);
    samples.get(name)!.wall.push(wall);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const baseline = (name: string) => median(samples.get(VARIANTS[name.includes('group commit') ? 5 : 0]![0])!.cpu);
console.log(
  `check-in-shaped transaction (2 reads, 3 writes), ${MEMORY ? 'in memory' : 'WAL file, synchronous=NORMAL'}, ` +
    `${N} per run, median of ${ROUNDS} interleaved rounds`,
);
console.log(`${''.padEnd(62)}   CPU µs/tx  ratio   wall µs/tx`);
for (const [name] of VARIANTS) {
  const { cpu, wall } = samples.get(name)!;
  const m = median(cpu);
  console.log(
    `${name.padEnd(62)} ${m.toFixed(1).padStart(9)}  ×${(m / baseline(name)).toFixed(2)}  ${median(wall).toFixed(1).padStart(9)}`,
  );
}
await db.close();
rmSync(dir, { recursive: true, force: true });
