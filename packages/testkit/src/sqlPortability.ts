import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresOnce, serverOnce } from './loadOnce';

/**
 * Vitest global setup (vitest.config.ts): the SQL portability check. Before the tests it turns on the SQLite
 * facade's statement recorder (db/sqlRecorder.ts) for every test process and every server or CLI process they
 * start (they inherit the environment); after the tests it PREPAREs each distinct statement the server code
 * prepared on PostgreSQL against the PostgreSQL schema (db/postgres/portability.ts) and fails the run, listing each rejected
 * statement with where it came from. Without a reachable PostgreSQL it warns and checks nothing, except under
 * CI=true, where that is a failure (testkit/postgres.ts). LICENSOR_SQL_CHECK=off skips both halves.
 */
/** The server's SQL_RECORD_DIR_ENV (db/sqlRecorder.ts), written out so that the setup loads no server module; the teardown checks that they agree. */
const RECORD_DIR_ENV = 'LICENSOR_SQL_RECORD_DIR';

type Modules = [typeof import('@licensor/server'), typeof import('./postgres')];

/**
 * Set on globalThis by the first run of this setup in vitest's main process. Vitest runs a global setup once per
 * project (every project of vitest.config.ts inherits the root's) and once more for the root: five times in a full
 * run, each loading the server's sources into a module graph of its own (≈ 1 CPU-s each). One recorder and one
 * check per run are the point; the other runs do nothing.
 */
const SET_UP = Symbol.for('licensor.sqlPortability.setUp');

export default function setup(): (() => Promise<void>) | undefined {
  if (process.env.LICENSOR_SQL_CHECK === 'off') return undefined;
  const main = globalThis as { [SET_UP]?: true };
  if (main[SET_UP]) return undefined;
  main[SET_UP] = true;
  const dir = mkdtempSync(join(tmpdir(), 'licensor-sql-'));
  process.env[RECORD_DIR_ENV] = dir;
  // The check's modules are the server's sources: seconds of transforming in vitest's main process, in a module graph
  // of their own (the global setups' environment, not the tests'). They load in the background, beside the first
  // test files, instead of holding back their start; only the teardown needs them.
  const modules: Promise<Modules> = Promise.all([serverOnce(), postgresOnce()]);
  modules.catch(() => undefined); // reported by the teardown, which awaits it
  return async () => {
    delete process.env[RECORD_DIR_ENV];
    try {
      const loaded = await modules;
      if (loaded[0].SQL_RECORD_DIR_ENV !== RECORD_DIR_ENV) {
        throw new Error(`the server records into $${loaded[0].SQL_RECORD_DIR_ENV}, this setup set $${RECORD_DIR_ENV}`);
      }
      await checkRecorded(dir, loaded);
    } catch (err) {
      console.error(`\n✖ SQL portability check: ${(err as Error).message}\n`);
      // A global teardown's exception is only logged by vitest; the exit code is what fails `npm test`.
      process.exitCode = 1;
    } finally {
      rmSync(dir, { recursive: true, force: true });
      delete main[SET_UP]; // a vitest restarted in this process (the programmatic API) sets up and checks again
    }
  };
}

async function checkRecorded(
  dir: string,
  [
    { checkOnPostgres, formatRejections, provenance, readRecording },
    { openTestPostgresAdmin, requirePostgres },
  ]: Modules,
): Promise<void> {
  const started = performance.now();
  const { uses, records, ms } = readRecording(dir);
  const server = uses.filter((u) => provenance(u) === 'server');
  if (server.length === 0) return;
  if (!(await requirePostgres('sql-portability'))) return;
  // A schema of its own inside one rolled-back transaction (checkOnPostgres): nothing to create or drop.
  const db = openTestPostgresAdmin();
  try {
    const rejections = await checkOnPostgres(db, server);
    if (rejections.length > 0) throw new Error(formatRejections(rejections, server.length));
  } finally {
    await db.close();
  }
  const others = uses.length - server.length;
  console.log(
    `\n✔ SQL portability: PostgreSQL accepts all ${server.length} distinct statements the server prepared ` +
      `(${others} from tests or SQLite-only modules not checked) · check ${((performance.now() - started) / 1000).toFixed(1)} s, ` +
      `recording ${(ms / 1000).toFixed(1)} s over ${records} records in the test processes`,
  );
}
