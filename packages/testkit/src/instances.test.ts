import { afterAll, describe, expect, it } from 'vitest';
import { tempFolders } from './client';
import { runCli, startInstances } from './instances';
import { createTestPostgres } from './postgres';

// The harness itself: the database commands on several processes against PostgreSQL, and servers on one SQLite
// data folder. Servers on one PostgreSQL database (both ready, both serving) are what test/instances.e2e.test.ts and
// test/outbox-takeover.e2e.test.ts start through this harness: not started a third time here.

const pgTest = await createTestPostgres('instances');
const temp = tempFolders();
const tempDir = () => temp('licensor-instances-');
afterAll(async () => {
  await pgTest?.drop();
});

// The cases run at once (concurrent suites and cases): each has its own data folder, schema and processes, and alone
// each mostly waits for its processes to start.
// (concurrent as an option: describe.concurrent.skipIf(…) would drop it.)
describe.skipIf(!pgTest)('runCli: several processes on one PostgreSQL', { concurrent: true }, () => {
  it('three `db migrate` at once apply every migration exactly once; `db status` then says current', {
    timeout: 120_000,
  }, async () => {
    const env = { LICENSOR_DATABASE_URL: pgTest!.url, LICENSOR_DATA_DIR: tempDir() };
    const before = await runCli(['--json', 'db', 'status'], env);
    expect(before.code, before.stderr).toBe(0);
    const pending: number[] = before.json().pending.map((p: { version: number }) => p.version);
    expect(pending.length).toBeGreaterThan(10);

    const runs = await Promise.all([1, 2, 3].map(() => runCli(['--json', 'db', 'migrate'], env)));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const applied = runs.flatMap((r) => r.json().applied as number[]).sort((x, y) => x - y);
    expect(applied).toEqual(pending);

    const after = await runCli(['--json', 'db', 'status'], env);
    expect(after.json()).toMatchObject({ backend: 'postgres', current: true, version: pending.at(-1), pending: [] });
  });
});

describe.concurrent('startInstances', () => {
  it('starts two servers on one database, survives a SIGKILL of one and restarts it on its port', {
    timeout: 180_000,
  }, async () => {
    // One SQLite data folder shared by two processes (WAL): what runs today; a postgres:// URL later.
    const fleet = await startInstances({ count: 2, env: { LICENSOR_DATA_DIR: tempDir() }, sequential: true });
    try {
      const [a, b] = fleet.instances;
      expect(a!.port).not.toBe(b!.port);
      for (const inst of fleet.instances) expect((await fetch(`${inst.url}/readyz`)).status).toBe(200);
      expect(new Set([fleet.next(), fleet.next()])).toEqual(new Set([a!.url, b!.url]));

      const port = b!.port;
      expect(await fleet.kill(1)).toBeNull(); // killed by a signal: no exit code
      await expect(fetch(`${b!.url}/healthz`)).rejects.toThrow();
      expect((await fetch(`${a!.url}/readyz`)).status).toBe(200);
      expect([fleet.next(), fleet.next()]).toEqual([a!.url, a!.url]); // the load balancer skips the dead one

      const again = await fleet.restart(1);
      expect(again.port).toBe(port);
      expect(again.proc.pid).not.toBe(b!.proc.pid);
      expect((await fetch(`${again.url}/readyz`)).status).toBe(200);
    } finally {
      await fleet.stop();
    }
    for (const inst of fleet.instances) expect(inst.proc.exitCode ?? inst.proc.signalCode).not.toBeNull();
  });

  it('reports an instance that cannot start, with its output', { timeout: 120_000 }, async () => {
    // Nothing listens on port 1: the server cannot reach its database and exits while starting.
    const attempt = startInstances({
      count: 1,
      env: { LICENSOR_DATABASE_URL: 'postgres://postgres@127.0.0.1:1/licensor', LICENSOR_DATA_DIR: tempDir() },
      timeoutMs: 60_000,
    });
    await expect(attempt).rejects.toThrow(/exited .*while starting:[\s\S]*PostgreSQL/);
  });
});
