import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './server';

/**
 * A PostgreSQL cluster of a test's own (initdb + pg_ctl in a temporary folder, its own port and socket folder),
 * for tests that stop, restart or crash the database itself: the shared cluster at 127.0.0.1:5432 serves other
 * tests at the same time and must never be restarted. Unlike testkit/postgres.ts's databases, commits wait for
 * their WAL flush (synchronous_commit stays on): these tests are about durability.
 *
 *   const pg = await startPrivatePostgres();            // undefined (with a warning) where it cannot run
 *   try { … pg.url … await pg.restart({ outageMs: 2000 }) … } finally { await pg.destroy(); }
 *
 * Runs as the `postgres` user (initdb refuses root): needs root and that user, as on the development and CI
 * machines; elsewhere a warning, or under CI=true an error.
 */

export const PG_BIN = process.env.LICENSOR_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface PrivatePostgres {
  port: number;
  /** URL of the `postgres` database (trust authentication over TCP on 127.0.0.1). */
  url: string;
  dataDir: string;
  /** `pg_ctl stop -m fast`: connections are terminated, in-flight transactions roll back. */
  stop(): Promise<void>;
  /** Starts it again (waits until it accepts connections). */
  start(): Promise<void>;
  /** stop, then `outageMs` of nothing listening, then start. Resolves once it accepts connections again. */
  restart(opts?: { outageMs?: number }): Promise<{ downAt: number; upAt: number }>;
  /** Stops it (immediate mode) if running and removes its folder. Safe to call twice. */
  destroy(): Promise<void>;
}

const asPostgres = (args: string[], timeoutMs = 60_000) =>
  execFileSync('runuser', ['-u', 'postgres', '--', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: timeoutMs,
    encoding: 'utf8',
  });

/** undefined when a private cluster can be made here, else why not. */
export function privatePostgresUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root (initdb runs as the postgres user through runuser)';
  if (!existsSync(join(PG_BIN, 'initdb'))) return `no initdb in ${PG_BIN} (set LICENSOR_TEST_PG_BIN)`;
  try {
    execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
  } catch {
    return 'no postgres user';
  }
  return undefined;
}

/** True when a private cluster can run; else a warning (an error under CI=true), as testkit/postgres.ts does. */
export function requirePrivatePostgres(label: string): boolean {
  const why = privatePostgresUnavailable();
  if (why === undefined) return true;
  if (process.env.CI === 'true')
    throw new Error(`A private PostgreSQL cluster cannot run here (${why}); CI=true requires it`);
  process.stderr.write(`\n⚠  SKIPPING private-PostgreSQL tests (${label}): ${why}\n\n`);
  return false;
}

export async function startPrivatePostgres(
  opts: { label?: string; settings?: Record<string, string> } = {},
): Promise<PrivatePostgres | undefined> {
  if (!requirePrivatePostgres(opts.label ?? 'private cluster')) return undefined;
  const root = mkdtempSync(join(tmpdir(), 'licensor-pg-'));
  let running = false;
  const dataDir = join(root, 'data');
  const logFile = join(root, 'postgres.log');
  const port = await freePort();
  const pgCtl = (...args: string[]) => asPostgres([join(PG_BIN, 'pg_ctl'), '-D', dataDir, ...args]);

  const destroy = async () => {
    if (running) {
      try {
        pgCtl('stop', '-m', 'immediate', '-w');
      } catch {
        // already gone
      }
      running = false;
    }
    rmSync(root, { recursive: true, force: true });
  };

  try {
    chownSync(root, uidOf('postgres'), gidOf('postgres'));
    asPostgres([
      join(PG_BIN, 'initdb'),
      '-D',
      dataDir,
      '-U',
      'postgres',
      '--auth=trust',
      '--locale=C.UTF-8',
      '--encoding=UTF8',
      '--no-instructions',
    ]);
    const settings: Record<string, string> = {
      port: String(port),
      listen_addresses: "'127.0.0.1'",
      unix_socket_directories: `'${root}'`,
      // Durability is what these tests check: commits wait for their WAL flush (the defaults, stated).
      fsync: 'on',
      synchronous_commit: 'on',
      max_connections: '50',
      shared_buffers: '32MB',
      ...opts.settings,
    };
    const conf = Object.entries(settings)
      .map(([k, v]) => `${k} = ${v}`)
      .join('\n');
    writeFileSync(join(dataDir, 'postgresql.auto.conf'), `${conf}\n`);
    chownSync(join(dataDir, 'postgresql.auto.conf'), uidOf('postgres'), gidOf('postgres'));
    const start = async () => {
      pgCtl('start', '-w', '-t', '60', '-l', logFile);
      running = true;
      // pg_ctl -w returns once the postmaster accepts connections; pg_isready double-checks the TCP side.
      for (let i = 0; i < 100; i++) {
        try {
          execFileSync(join(PG_BIN, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-q'], { stdio: 'ignore' });
          return;
        } catch {
          await sleep(100);
        }
      }
      throw new Error(`private PostgreSQL on port ${port} did not accept connections:\n${logTail(logFile)}`);
    };
    const stop = async () => {
      pgCtl('stop', '-m', 'fast', '-w', '-t', '60');
      running = false;
    };
    await start();
    return {
      port,
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      dataDir,
      stop,
      start,
      restart: async ({ outageMs = 0 } = {}) => {
        await stop();
        const downAt = Date.now();
        if (outageMs > 0) await sleep(outageMs);
        await start();
        return { downAt, upAt: Date.now() };
      },
      destroy,
    };
  } catch (err) {
    const tail = logTail(logFile);
    await destroy();
    throw new Error(`could not start a private PostgreSQL: ${(err as Error).message}\n${tail}`, { cause: err });
  }
}

function logTail(file: string): string {
  try {
    return execFileSync('tail', ['-n', '30', file], { encoding: 'utf8' });
  } catch {
    return '';
  }
}

const uidOf = (user: string) => Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
const gidOf = (user: string) => Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
