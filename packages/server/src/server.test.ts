import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { createTestPostgres, openTestPostgresAdmin } from '@licensor/testkit/postgres';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { main as cli } from './cli/index';
import { type Config, testConfig } from './config';
import { parseDatabaseUrl } from './db/backend';
import type { PgDb } from './db/postgres/facade';
import { createLogger } from './logger';
import { type RunningServer, startServer } from './server';

/** The listen socket and the data folder as a real server process leaves them. */

const mode = (path: string) => statSync(path).mode & 0o777;
const octal = (path: string) => mode(path).toString(8);

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('data at rest', () => {
  let root: string;
  let running: RunningServer | undefined;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'licensor-modes-'));
  });
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('creates the data folder 0700 and the database, its WAL and shared memory 0600', async () => {
    // A umask that lets everyone read (the usual 022) must not decide the modes of license data.
    expect(process.umask() & 0o077).not.toBe(0o077);
    const dataDir = join(root, 'fresh', 'data');
    running = await startServer(
      testConfig({ dataDir, host: '127.0.0.1', port: 0, metrics: { token: undefined, listen: undefined } }),
      createLogger('silent'),
    );
    // A write through the real interface, so the WAL has content.
    const res = await request(running.server)
      .post('/api/admin/v1/codes')
      .set('Authorization', 'Bearer admin-test-token')
      .send({ code: 'PLMODES00001', productId: 'P-MODES' });
    expect(res.status).toBeLessThan(300);
    expect(octal(dataDir)).toBe('700');
    const db = join(dataDir, 'licensor.db');
    for (const file of [db, `${db}-wal`, `${db}-shm`]) {
      expect(existsSync(file), file).toBe(true);
      expect(octal(file), file).toBe('600');
    }
    expect(octal(join(dataDir, 'keys'))).toBe('700');
  });

  it('writes backups 0600 into a new 0700 folder', async () => {
    const dataDir = join(root, 'backup-source');
    const backupFile = join(root, 'backups', 'nightly', 'licensor-backup.db');
    let out = '';
    const io = {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: () => true },
      env: { LICENSOR_KEY_PASSPHRASE: 'test-passphrase' },
    };
    expect(await cli(['--data-dir', dataDir, 'db', 'migrate'], io), out).toBe(0);
    out = '';
    const code = await cli(['--data-dir', dataDir, '--json', 'db', 'backup', backupFile], io);
    expect(code, out).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ integrity: 'ok' });
    expect(octal(backupFile)).toBe('600');
    expect(octal(join(root, 'backups', 'nightly'))).toBe('700');
    expect(octal(join(dataDir, 'licensor.db'))).toBe('600');
  });

  it('takes group and world access away from database files an older version created 0644', async () => {
    const dataDir = join(root, 'older');
    mkdirSync(dataDir, { recursive: true, mode: 0o755 });
    execFileSync('touch', [join(dataDir, 'licensor.db')]);
    execFileSync('chmod', ['644', join(dataDir, 'licensor.db')]);
    running = await startServer(testConfig({ dataDir, host: '127.0.0.1', port: 0 }), createLogger('silent'));
    expect(octal(join(dataDir, 'licensor.db'))).toBe('600');
  });
});

describe('a signing key the passphrase does not open', () => {
  it('stops the start with what to set, instead of listening while every signed answer fails', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'licensor-passphrase-'));
    try {
      const config = (keyPassphrase: string) =>
        testConfig({
          dataDir,
          host: '127.0.0.1',
          port: 0,
          keyPassphrase,
          metrics: { token: undefined, listen: undefined },
        });
      // Keys created under one passphrase (as a development start creates them under the development one)…
      await (await startServer(config('first-passphrase'), createLogger('silent'))).close();
      // …and the server started with another, as after setting LICENSOR_KEY_PASSPHRASE for production.
      const start = startServer(config('another-passphrase'), createLogger('silent'));
      await expect(start).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
      await expect(start).rejects.toThrow(/does not open with LICENSOR_KEY_PASSPHRASE.*licensor keys rotate/);
      // The right passphrase still starts.
      await (await startServer(config('first-passphrase'), createLogger('silent'))).close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('/metrics', () => {
  let dir: string;
  let running: RunningServer | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'licensor-metrics-'));
  });
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('needs the metrics token on the main address', async () => {
    running = await startServer(
      testConfig({
        dataDir: dir,
        host: '127.0.0.1',
        port: 0,
        metrics: { token: 'a-metrics-token-0123456789', listen: undefined },
      }),
      createLogger('silent'),
    );
    const anonymous = await request(running.url).get('/metrics');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toMatch(/Bearer/);
    expect(anonymous.text).not.toContain('licensor_');
    expect(
      (await request(running.url).get('/metrics').set('Authorization', 'Bearer wrong-token-000000000')).status,
    ).toBe(401);
    // The admin token is not the metrics token.
    expect((await request(running.url).get('/metrics').set('Authorization', 'Bearer admin-test-token')).status).toBe(
      401,
    );
    const ok = await request(running.url).get('/metrics').set('Authorization', 'Bearer a-metrics-token-0123456789');
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('licensor_http_request_duration_seconds');
  });

  it('is not served on the main address without a token, and served on LICENSOR_METRICS_LISTEN without one', async () => {
    running = await startServer(
      testConfig({
        dataDir: dir,
        host: '127.0.0.1',
        port: 0,
        metrics: { token: undefined, listen: { host: '127.0.0.1', port: 0 } },
      }),
      createLogger('silent'),
    );
    const main = await request(running.url).get('/metrics');
    expect(main.status).toBe(404);
    expect(main.body.error.message).toMatch(/LICENSOR_METRICS_TOKEN.*LICENSOR_METRICS_LISTEN/);
    expect(running.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const separate = await request(running.metricsUrl!).get('');
    expect(separate.status).toBe(200);
    expect(separate.text).toContain('licensor_outbox_items');
    // The metrics address serves nothing else.
    const other = new URL(running.metricsUrl!);
    expect(
      (await request(other.origin).get('/api/admin/v1/summary').set('Authorization', 'Bearer admin-test-token')).status,
    ).toBe(404);
    expect((await request(other.origin).get('/healthz')).status).toBe(404);
  });
});

describe('TLS 1.2 with an RSA certificate: forward secrecy and AEAD only', () => {
  let dir: string;
  let running: RunningServer;
  let port: number;

  beforeAll(async () => {
    if (!hasOpenssl) return;
    dir = mkdtempSync(join(tmpdir(), 'licensor-tls-rsa-'));
    // RSA, because RSA key exchange (AES128-SHA, AES256-SHA256…) is only possible with an RSA certificate.
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1'].concat([
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ]),
      { stdio: 'ignore' },
    );
    running = await startServer(
      testConfig({
        dataDir: join(dir, 'data'),
        host: '127.0.0.1',
        port: 0,
        tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') },
      }),
      createLogger('silent'),
    );
    port = Number(new URL(running.url).port);
  });
  afterAll(async () => {
    if (!hasOpenssl) return;
    await running.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A TLS 1.2 client that offers only `ciphers` (SECLEVEL=0 so OpenSSL 3 is willing to offer the weak ones). */
  const offer = (ciphers: string, maxVersion: tls.SecureVersion = 'TLSv1.2') =>
    new Promise<{ ok: boolean; cipher?: string; code?: string }>((resolve) => {
      const socket = tls.connect(
        { host: '127.0.0.1', port, maxVersion, ciphers: `${ciphers}:@SECLEVEL=0`, rejectUnauthorized: false },
        () => {
          const cipher = socket.getCipher().standardName;
          socket.end();
          resolve({ ok: true, cipher });
        },
      );
      socket.on('error', (err: Error & { code?: string }) => resolve({ ok: false, code: err.code }));
    });

  it.skipIf(!hasOpenssl)('refuses clients that offer only suites without forward secrecy or without AEAD', async () => {
    for (const weak of [
      'AES128-SHA', // RSA key exchange, CBC
      'AES256-SHA256', // RSA key exchange, CBC
      'AES128-GCM-SHA256', // RSA key exchange, AEAD
      'ECDHE-RSA-AES128-SHA', // forward secret, CBC
      'ECDHE-RSA-AES256-SHA384', // forward secret, CBC
      'DHE-RSA-AES128-GCM-SHA256', // finite-field DHE
    ]) {
      const r = await offer(weak);
      expect(r.ok, weak).toBe(false);
      // The server answered with a handshake_failure alert: the client did offer the suite.
      expect(r.code, weak).toBe('ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE');
    }
  });

  it.skipIf(!hasOpenssl)('accepts ECDHE with AES-GCM or ChaCha20-Poly1305, and TLS 1.3', async () => {
    for (const strong of [
      'ECDHE-RSA-AES128-GCM-SHA256',
      'ECDHE-RSA-AES256-GCM-SHA384',
      'ECDHE-RSA-CHACHA20-POLY1305',
    ]) {
      const r = await offer(strong);
      expect(r, strong).toMatchObject({ ok: true });
    }
    // A client offering weak and strong suites gets a strong one.
    expect((await offer('AES128-SHA:AES256-SHA256:ECDHE-RSA-AES128-GCM-SHA256')).cipher).toBe(
      'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
    );
    const v13 = await new Promise<string | null>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, minVersion: 'TLSv1.3', rejectUnauthorized: false }, () => {
        resolve(socket.getProtocol());
        socket.end();
      });
      socket.on('error', reject);
    });
    expect(v13).toBe('TLSv1.3');
  });
});

/**
 * A start that fails after the PostgreSQL key source is open (its own LISTEN connection and a reload timer, beside
 * the pool) must close everything it opened: otherwise `licensor start` with a busy port would print its error and
 * then never exit, holding connections the database counts against max_connections.
 */
const pgLeak = await createTestPostgres('server_start_failure');
describe.skipIf(!pgLeak)('a failed start on PostgreSQL closes what it opened', () => {
  let dir: string;
  let admin: PgDb;
  let blocker: net.Server;
  let busyPort: number;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'licensor-start-failure-'));
    admin = openTestPostgresAdmin();
    blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    busyPort = (blocker.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => blocker.close(resolve));
    await admin.close();
    await pgLeak?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const config = (over: Partial<Config> = {}) =>
    testConfig({ dataDir: dir, database: parseDatabaseUrl(pgLeak!.url), host: '127.0.0.1', port: 0, ...over });
  /** The sessions on the test database, by what they last ran (the key source's says LISTEN). */
  const sessions = () =>
    admin.all<{ query: string }>('SELECT query FROM pg_stat_activity WHERE datname = ?', [pgLeak!.database]);
  /** A closed client's backend ends a moment after the socket closes: wait for the count to reach 0. */
  const noSessionsLeft = () => expect.poll(async () => (await sessions()).length, { timeout: 10_000 }).toBe(0);

  it('a running server holds pooled connections and a LISTEN one; closed, none', async () => {
    const running = await startServer(config(), createLogger('silent'));
    try {
      const open = await sessions();
      expect(open.some((s) => s.query.startsWith('LISTEN'))).toBe(true);
    } finally {
      await running.close();
    }
    await noSessionsLeft();
  });

  it('the signing keys do not open with LICENSOR_KEY_PASSPHRASE (the key source loads them from the database)', async () => {
    // A start imports the keys under the development passphrase (done here too, so the test also runs alone).
    await (await startServer(config(), createLogger('silent'))).close();
    const start = startServer(config({ keyPassphrase: 'another-passphrase' }), createLogger('silent'));
    await expect(start).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    await expect(start).rejects.toThrow(
      /does not open with LICENSOR_KEY_PASSPHRASE.*licensor keys rotate.*other instances/,
    );
    await noSessionsLeft();
  });

  it('the port is in use (EADDRINUSE)', async () => {
    await expect(startServer(config({ port: busyPort }), createLogger('silent'))).rejects.toMatchObject({
      code: 'EADDRINUSE',
    });
    await noSessionsLeft();
  });

  it('the TLS certificate cannot be read', async () => {
    const missing = join(dir, 'no-such-cert.pem');
    await expect(
      startServer(config({ tls: { cert: missing, key: missing } }), createLogger('silent')),
    ).rejects.toMatchObject({ code: 'ENOENT' });
    await noSessionsLeft();
  });

  it('the metrics address is in use', async () => {
    await expect(
      startServer(
        config({ metrics: { token: undefined, listen: { host: '127.0.0.1', port: busyPort } } }),
        createLogger('silent'),
      ),
    ).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await noSessionsLeft();
  });
});
