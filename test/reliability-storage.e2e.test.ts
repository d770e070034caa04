import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createApp,
  createLogger,
  KeyStore,
  type LicensorApp,
  openSqliteDatabase,
  type SqliteDatabase,
  type Storage,
  testConfig,
} from '@licensor/server';
import { MarketplaceSimulator } from '@licensor/simulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ACCESS_KEY,
  ADMIN_TOKEN,
  AK,
  call,
  freePort,
  KOO_KEY,
  type ServerProcess,
  SK,
  serverEnv,
  sleep,
  spawnServer,
} from './crash/harness';
import { canMountTmpfs, fillDisk, makeDataDir, mountTmpfs, type WriteProbe, writeProbes } from './crash/storage';

/**
 * "Nothing acknowledged is lost" when the disk says no: while the database cannot be written, every write path
 * answers with an error (000005 on the production interface, 503 STORAGE_UNAVAILABLE on the APIs) — never a
 * success — writes nothing, the server stays up, and the same requests succeed once writing works again.
 *
 * Two simulations: (1) in-process, a read-only database (`PRAGMA query_only`, any user, any machine);
 * (2) the real server process on a tmpfs filled to the last byte (real ENOSPC from the kernel; needs root to
 * mount the tmpfs, skipped with a note otherwise).
 */

async function expectRefusedThenRecovered(
  probes: WriteProbe[],
  breakStorage: () => void,
  fixStorage: () => void,
  counts: () => Promise<Record<string, number>>,
) {
  breakStorage();
  const before = await counts();
  for (const p of probes) {
    for (let i = 0; i < 2; i++) {
      const a = await p.send();
      expect(p.succeeded(a), `${p.name} succeeded while storage was broken: ${a.status} ${a.text.slice(0, 200)}`).toBe(
        false,
      );
      expect(p.storageError(a), `${p.name}: ${a.status} ${a.text.slice(0, 300)}`).toBe(true);
    }
  }
  // Give background work (message log flush, outbox) a chance to hit the broken storage too.
  await sleep(400);
  expect(await counts(), 'nothing was written while storage was broken').toEqual(before);
  fixStorage();
  for (const p of probes) {
    const a = await p.send();
    expect(p.succeeded(a), `${p.name} after recovery: ${a.status} ${a.text.slice(0, 300)}`).toBe(true);
  }
}

const COUNT_SQL = {
  entitlements: 'SELECT COUNT(*) AS n FROM entitlements',
  changes: 'SELECT COUNT(*) AS n FROM entitlement_changes',
  activations: 'SELECT COUNT(*) AS n FROM activations',
  audit: 'SELECT COUNT(*) AS n FROM audit_log',
  outbox: 'SELECT COUNT(*) AS n FROM outbox',
  frozen: `SELECT COUNT(*) AS n FROM entitlements WHERE status = 'frozen'`,
};
const countsOf = async (db: Storage): Promise<Record<string, number>> => {
  const counts: Record<string, number> = {};
  for (const [k, sql] of Object.entries(COUNT_SQL)) counts[k] = Number((await db.first<{ n: number }>(sql))!.n);
  return counts;
};

describe('read-only database (in-process)', () => {
  const sim = new MarketplaceSimulator(AK, SK);
  let dir: string;
  let db: SqliteDatabase;
  let licensor: LicensorApp;
  let server: http.Server;
  let base: string;

  beforeAll(async () => {
    const simUrl = await sim.listen();
    dir = mkdtempSync(join(tmpdir(), 'licensor-readonly-'));
    db = openSqliteDatabase(join(dir, 'licensor.db'));
    const { store } = KeyStore.open(join(dir, 'keys'), 'test-passphrase');
    const config = testConfig({
      dataDir: dir,
      adminToken: ADMIN_TOKEN,
      apiRateLimit: 0,
      koo: { apiBase: simUrl, apiFallback: undefined, timeoutMs: 1000, key: KOO_KEY } as never,
    });
    licensor = await createApp({ config, db, log: createLogger('silent'), keys: store });
    server = http.createServer(licensor.app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await licensor.stop();
    await db.close();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers every write with 000005 / 503, writes nothing, and recovers', async () => {
    expect(ACCESS_KEY).toBe(testConfig().koo.accessKeys.basic);
    const { probes } = await writeProbes(base, 'RO', sim);
    await expectRefusedThenRecovered(
      probes,
      () => db.raw.pragma('query_only = ON'),
      () => db.raw.pragma('query_only = OFF'),
      () => countsOf(db),
    );
    expect((await call(`${base}/healthz`)).status).toBe(200);
    expect(await db.integrityCheck()).toEqual(['ok']);
  });
});

describe.skipIf(!canMountTmpfs())('full disk (real server process on a full tmpfs)', () => {
  const sim = new MarketplaceSimulator(AK, SK);
  let tmpfs: ReturnType<typeof mountTmpfs>;
  let server: ServerProcess;
  let dataDir: string;

  beforeAll(async () => {
    const simUrl = await sim.listen();
    // Mounted here, not at import, so a filtered run that skips this suite leaves no mount behind.
    tmpfs = mountTmpfs(16);
    dataDir = makeDataDir(tmpfs!.dir);
    server = await spawnServer(serverEnv(await freePort(), dataDir, simUrl));
  });
  afterAll(async () => {
    if (server && server.proc.exitCode === null) {
      server.proc.kill('SIGTERM');
      await server.exited;
    }
    await sim.close();
    tmpfs?.unmount();
  });

  it('refuses writes with errors while the disk is full, stays up, and recovers when space returns', async () => {
    const { probes } = await writeProbes(server.url, 'FULL', sim);
    let filler = '';
    const counts = async () => {
      // Read through a separate read-only connection: the server process owns the database.
      const ro = openSqliteDatabase(join(dataDir, 'licensor.db'), { readonly: true });
      try {
        return await countsOf(ro);
      } finally {
        await ro.close();
      }
    };
    const before = await counts();
    await expectRefusedThenRecovered(
      probes,
      () => {
        filler = fillDisk(tmpfs!.dir);
      },
      () => unlinkSync(filler),
      async () => (filler ? await counts() : before),
    );
    expect(server.proc.exitCode, `server died: ${server.output.join('').slice(-2000)}`).toBeNull();
    server.proc.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    const db = openSqliteDatabase(join(dataDir, 'licensor.db'), { migrate: false });
    try {
      expect(await db.integrityCheck()).toEqual(['ok']);
    } finally {
      await db.close();
    }
  });
});
