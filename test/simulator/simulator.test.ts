import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, type RunningServer, startServer, testConfig } from '@licensor/server';
import { MarketplaceCaller, MarketplaceSimulator, runSimulation } from '@licensor/simulator';
import { freePort } from '@licensor/testkit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let server: RunningServer;
let simPort = 0;
let dir = '';

beforeAll(async () => {
  simPort = await freePort();
  dir = mkdtempSync(join(tmpdir(), 'licensor-sim-'));
  server = await startServer(
    testConfig({
      dataDir: dir,
      port: 0,
      host: '127.0.0.1',
      koo: { apiBase: `http://127.0.0.1:${simPort}`, apiFallback: undefined, timeoutMs: 1000 } as never,
    }),
    createLogger('silent'),
  );
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('licensor simulate run', () => {
  it('passes every activity, every family lifecycle and every fault with its recovery', async () => {
    const lines: string[] = [];
    const code = await runSimulation(
      {
        url: `${server.url}/api/koogallery/produce`,
        key: 'KEY',
        accessKey: 'ACCESSKEY',
        ak: 'AK',
        sk: 'SK',
        simPort: String(simPort),
        family: 'tour,A,B,C',
        faults: true,
        adminToken: 'admin-test-token',
        retryScale: '0',
      },
      (l) => lines.push(l),
    );
    const output = lines.join('\n');
    expect(output, output).toMatch(/\n\d+ passed, 0 failed$/);
    expect(code).toBe(0);
    expect(lines.filter((l) => l.startsWith('PASS')).length).toBeGreaterThan(30);
  }, 120_000);
});

describe('MarketplaceCaller', () => {
  it('flags an unsigned or mis-signed answer and retries a failing delivery on the compressed schedule', async () => {
    const sim = new MarketplaceSimulator('AK', 'SK');
    const lines: string[] = [];
    // A merchant endpoint that fails twice, then answers correctly (but signed with the wrong key).
    let calls = 0;
    const http = await import('node:http');
    const bad = http.createServer((_req, res) => {
      calls++;
      if (calls <= 2) {
        res.writeHead(500).end('boom');
        return;
      }
      res.writeHead(200, {
        'content-type': 'application/json',
        'body-sign': 'sign_type="HMAC-SHA256", signature= "AAAA"',
      });
      res.end('{"resultCode":"000000","resultMsg":"ok"}');
    });
    await new Promise<void>((r) => bad.listen(0, '127.0.0.1', r));
    const port = (bad.address() as { port: number }).port;
    const caller = new MarketplaceCaller({
      url: `http://127.0.0.1:${port}/produce`,
      accessKeys: { default: 'ACCESSKEY' },
      retryTimeScale: 1 / 120_000, // two minutes become one millisecond
      print: (l) => lines.push(l),
    });
    const r = await caller.call({ activity: 'updateLicenseCodeStatus', license: 'PL1', status: 'FREEZE' });
    expect(r.attempts).toBeGreaterThanOrEqual(3);
    expect(r.pass).toBe(false);
    expect(r.problems).toContain('Body-Sign does not match the body');
    expect(lines.filter((l) => l.startsWith('RETRY'))).toHaveLength(r.attempts - 1);
    bad.close();
    await sim.close();
  });
});
