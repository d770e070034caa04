import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempFolders } from '@licensor/testkit/client';
import { describe, expect, it } from 'vitest';

/**
 * The everyday commands of the README, run as a developer runs them: `npm start` stopped by its PID, the
 * build that `npm start` and the bins rely on, and the packages loaded by a plain Node process. The client as an
 * app installs it (its declaration build and an app's type check) is in everyday-client-package.e2e.test.ts.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const temp = tempFolders();

const portIsClosed = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });

function exited(proc: ChildProcess, timeoutMs: number) {
  return new Promise<number | null>((resolve, reject) => {
    if (proc.exitCode !== null) return resolve(proc.exitCode);
    const timer = setTimeout(() => reject(new Error(`still running ${timeoutMs} ms after the signal`)), timeoutMs);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

// Each signal with an `npm start` of its own, both at once: most of each test is waiting for its server.
describe.concurrent('npm start', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`stops the server gracefully when ${signal} is sent to the PID of npm start`, async () => {
      const npm = spawn('npm', ['start'], {
        cwd: ROOT,
        env: {
          ...process.env,
          LICENSOR_DATA_DIR: temp('licensor-start-'),
          PORT: '0',
          HOST: '127.0.0.1',
          LICENSOR_SCHEDULER: 'off',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      npm.stdout?.on('data', (b: Buffer) => {
        output += b.toString();
      });
      npm.stderr?.on('data', (b: Buffer) => {
        output += b.toString();
      });
      try {
        const port = await new Promise<number>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no "listening" line:\n${output}`)), 90_000);
          const poll = setInterval(() => {
            const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
            if (m) {
              clearInterval(poll);
              clearTimeout(timer);
              resolve(Number(m[1]));
            }
          }, 50);
        });
        expect(await portIsClosed(port)).toBe(false);

        npm.kill(signal);
        expect(await exited(npm, 20_000)).toBe(0);
        expect(output).toContain(`"signal":"${signal}","msg":"shutting down"`);
        // The server went with npm: nothing listens any more (an orphaned server would still answer).
        expect(await portIsClosed(port)).toBe(true);
      } finally {
        if (npm.exitCode === null) npm.kill('SIGKILL');
      }
    }, 120_000);
  }
});

describe('the build (scripts/build.mjs)', () => {
  /** A copy of the workspace's sources and build script, with the real node_modules (for esbuild). */
  function workspaceCopy() {
    const dir = temp('licensor-build-');
    cpSync(join(ROOT, 'scripts'), join(dir, 'scripts'), { recursive: true });
    for (const pkg of ['shared', 'client', 'simulator', 'server']) {
      mkdirSync(join(dir, 'packages', pkg), { recursive: true });
      cpSync(join(ROOT, 'packages', pkg, 'src'), join(dir, 'packages', pkg, 'src'), { recursive: true });
      cpSync(join(ROOT, 'packages', pkg, 'package.json'), join(dir, 'packages', pkg, 'package.json'));
      // The client's CLI bundle (dist/cli.bundle.cjs) includes its dependencies: they must resolve.
      symlinkSync(join(ROOT, 'packages', pkg, 'node_modules'), join(dir, 'packages', pkg, 'node_modules'), 'dir');
    }
    // The console (a server dependency) is built by its own Vite, from its own node_modules.
    const consoleDir = join(dir, 'packages', 'console');
    cpSync(join(ROOT, 'packages', 'console', 'src'), join(consoleDir, 'src'), { recursive: true });
    for (const file of ['package.json', 'vite.config.ts']) {
      cpSync(join(ROOT, 'packages', 'console', file), join(consoleDir, file));
    }
    symlinkSync(join(ROOT, 'packages', 'console', 'node_modules'), join(consoleDir, 'node_modules'), 'dir');
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    return dir;
  }
  const build = (dir: string) => {
    const res = spawnSync(process.execPath, [join(dir, 'scripts', 'build.mjs'), '--js-only'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(res.status, res.stderr).toBe(0);
    return res.stdout;
  };

  it('builds what is missing, skips what is current, rebuilds what is older than its sources', () => {
    const dir = workspaceCopy();
    expect(build(dir)).toMatch(/Building @licensor\/shared[\s\S]*Building @licensor\/client[\s\S]*@licensor\/server/);
    for (const file of ['shared/dist/index.js', 'client/dist/index.js', 'client/dist/cli.js', 'server/dist/main.js']) {
      expect(existsSync(join(dir, 'packages', file)), file).toBe(true);
    }
    expect(build(dir)).toContain('Every package is up to date');

    // A changed source: the package is rebuilt and its dist holds the new code; the others stay as they are.
    const source = join(dir, 'packages', 'client', 'src', 'messages.ts');
    writeFileSync(source, `${readFileSync(source, 'utf8')}\nexport const buildProbe = 'rebuilt-after-edit';\n`);
    const rebuilt = build(dir);
    expect(rebuilt).toContain('Building @licensor/client');
    expect(rebuilt).not.toContain('@licensor/shared');
    const dist = join(dir, 'packages', 'client', 'dist');
    const code = readdirSync(dist, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.js'))
      .map((f) => readFileSync(join(dist, f), 'utf8'))
      .join('\n');
    expect(code).toContain('rebuilt-after-edit');

    // A deleted source file counts too (its folder changed).
    const probe = join(dir, 'packages', 'server', 'src', 'buildProbe.ts');
    writeFileSync(probe, 'export const buildProbe = 1;\n');
    expect(build(dir)).toContain('Building @licensor/server');
    rmSync(probe);
    expect(build(dir)).toContain('Building @licensor/server');
  }, 120_000);

  it('lets a plain Node process (no TypeScript loader) load the packages by name and use them', () => {
    // Run from test/, whose package depends on the workspace packages: resolution goes through their
    // package.json "exports" default condition, i.e. dist/, as in an app that installed them.
    const built = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs'), '--js-only'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(built.status, built.stderr).toBe(0);
    const script = `
      import { mkdtempSync } from 'node:fs';
      import { tmpdir } from 'node:os';
      import { join } from 'node:path';
      const client = await import('@licensor/client');
      const { describeStatus } = await import('@licensor/client/messages');
      const shared = await import('@licensor/shared');
      const server = await import('@licensor/server');
      const root = shared.createRootCertificate({ commonName: 'Plain Node root' });
      const status = await new client.LicenseManager({
        productId: 'com.example.app',
        roots: [root.certificatePem],
        dataDir: mkdtempSync(join(tmpdir(), 'licensor-plain-')),
        fingerprint: () => client.fingerprintFromReadings({ machineId: 'm-1', hardwareUuid: 'u-1' }),
      }).verify();
      console.log(JSON.stringify({
        status: status.code,
        message: describeStatus('NO_LICENSE', 'en'),
        loaded: [import.meta.resolve('@licensor/client'), import.meta.resolve('@licensor/shared'), import.meta.resolve('@licensor/server')],
        shared: typeof shared.LicensorError,
        server: typeof server.startServer,
        loaders: process.execArgv.filter((a) => /^--(import|loader|experimental-loader|require)/.test(a) || a === '-r'),
      }));
    `;
    const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: join(ROOT, 'test'),
      encoding: 'utf8',
      // Nothing else of this process's environment (no loader options); the run's temporary folder for the data folder.
      env: { PATH: process.env.PATH ?? '', TMPDIR: tmpdir() },
      timeout: 30_000,
    });
    expect(res.status, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout) as {
      status: string;
      message: string;
      loaded: string[];
      shared: string;
      server: string;
      loaders: string[];
    };
    expect(out.loaders).toEqual([]);
    for (const url of out.loaded) expect(url).toMatch(/\/packages\/(client|shared|simulator|server)\/dist\/index\.js$/);
    expect(out.shared).toBe('function');
    expect(out.server).toBe('function');
    expect(out.message.length).toBeGreaterThan(0);
    expect(out.status).toBe('NO_LICENSE');
  }, 90_000);

  it('ships no TypeScript loader: tsx is a development dependency only', () => {
    for (const pkg of ['shared', 'client', 'simulator', 'server']) {
      const manifest = JSON.parse(readFileSync(join(ROOT, 'packages', pkg, 'package.json'), 'utf8')) as {
        dependencies?: Record<string, string>;
      };
      expect(Object.keys(manifest.dependencies ?? {}), pkg).not.toContain('tsx');
      expect(Object.keys(manifest.dependencies ?? {}), pkg).not.toContain('esbuild');
    }
    for (const bin of ['packages/client/bin/licensor-client.mjs', 'packages/server/bin/licensor.mjs']) {
      expect(readFileSync(join(ROOT, bin), 'utf8')).not.toMatch(/tsx/);
    }
  });
});

describe('README commands', () => {
  it('each goes through scripts/dev.mjs, which installs what is missing first', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const commands = new Set<string>();
    for (const m of readme.matchAll(/npm (start|test)\b|npm run ([\w:-]+)/g)) commands.add(m[1] ?? m[2] ?? '');
    for (const name of ['start', 'test', 'demo', 'test:full', 'bench']) expect(commands).toContain(name);
    for (const name of commands) {
      expect(manifest.scripts[name], `npm run ${name}`).toMatch(/^(exec )?node scripts\/dev\.mjs /);
    }
  });
});
