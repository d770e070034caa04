import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fingerprintFromReadings, hashedFingerprint } from '@licensor/client';
import { BASE_READINGS, licenseFor, PRODUCT, pki } from '@licensor/testkit/client';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The everyday commands of the README, run as a developer runs them: `npm start` stopped by its PID, the
 * build that `npm start` and the bins rely on, and the packages loaded by a plain Node process.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const temps: string[] = [];
const temp = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

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

describe('npm start', () => {
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
      env: { PATH: process.env.PATH ?? '' },
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

  it('gives an app that installs @licensor/client a working library, its types and bin: no workspace package, no sources', () => {
    // JavaScript and type declarations of the client (and of shared, which it bundles).
    // The declaration bundle runs the TypeScript compiler: minutes, not seconds, on a 2-core machine at load 20.
    const built = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs'), 'client'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(built.status, built.stderr).toBe(0);
    // The app: node_modules/@licensor/client holds what the package ships ("files": dist, bin) and the
    // app's node_modules its declared dependencies, nothing else (@licensor/shared is not published).
    const app = temp('licensor-installed-');
    const clientDir = join(ROOT, 'packages', 'client');
    const installed = join(app, 'node_modules', '@licensor', 'client');
    const manifest = JSON.parse(readFileSync(join(clientDir, 'package.json'), 'utf8')) as {
      files: string[];
      dependencies: Record<string, string>;
    };
    mkdirSync(installed, { recursive: true });
    cpSync(join(clientDir, 'package.json'), join(installed, 'package.json'));
    for (const entry of manifest.files) cpSync(join(clientDir, entry), join(installed, entry), { recursive: true });
    expect(Object.keys(manifest.dependencies).filter((d) => d.startsWith('@licensor/'))).toEqual([]);
    for (const dep of Object.keys(manifest.dependencies)) {
      mkdirSync(dirname(join(app, 'node_modules', dep)), { recursive: true });
      symlinkSync(realpathSync(join(clientDir, 'node_modules', dep)), join(app, 'node_modules', dep), 'dir');
    }
    const env = { PATH: process.env.PATH ?? '', HOME: app, XDG_CACHE_HOME: join(app, 'cache') };
    const { rootPem } = pki();
    const fingerprint = fingerprintFromReadings(BASE_READINGS);
    writeFileSync(join(app, 'license.lic'), licenseFor(hashedFingerprint(fingerprint, PRODUCT), { now: Date.now() }));

    // The library, imported by name from the app by a plain Node process.
    const script = `
      import { readFileSync } from 'node:fs';
      import { LicenseManager, fingerprintFromReadings } from '@licensor/client';
      const manager = new LicenseManager({
        productId: ${JSON.stringify(PRODUCT)},
        roots: [${JSON.stringify(rootPem)}],
        dataDir: 'data',
        fingerprint: () => fingerprintFromReadings(${JSON.stringify(BASE_READINGS)}),
      });
      const imported = await manager.importLicenseFile(readFileSync('license.lic', 'utf8'));
      console.log(JSON.stringify({ imported: imported.code, resolved: import.meta.resolve('@licensor/client') }));
    `;
    const lib = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: app,
      encoding: 'utf8',
      env,
      timeout: 30_000,
    });
    expect(lib.status, lib.stderr).toBe(0);
    expect(JSON.parse(lib.stdout)).toEqual({
      imported: 'VALID',
      resolved: pathToFileURL(join(installed, 'dist', 'index.js')).href,
    });

    // The bin, as the app's users run it (an empty data folder: the verdict needs no hardware readings).
    const bin = join(installed, 'bin', 'licensor-client.cjs');
    const args = ['--json', '--product', PRODUCT, '--root', rootPem, '--data-dir', join(app, 'empty'), 'status'];
    for (const run of ['writes the code cache', 'uses it']) {
      const res = spawnSync(process.execPath, [bin, ...args], { cwd: app, encoding: 'utf8', env, timeout: 30_000 });
      expect(res.status, `${run}: ${res.stderr}`).toBe(2); // EXIT.noLicense
      expect(JSON.parse(res.stdout)).toMatchObject({ code: 'NO_LICENSE' });
    }
    expect(readdirSync(join(app, 'cache', 'licensor', 'code-cache'))).toHaveLength(1);

    // A TypeScript app type-checks against the installed declarations: strict, Node's own module resolution
    // (what an app that runs its output on Node uses), and the library's .d.ts files checked too (skipLibCheck off).
    // The app has what any TypeScript Node app has: typescript and @types/node. TypeScript's own lib.*.d.ts are not
    // re-checked (skipDefaultLibCheck; an error in the library's declarations is still reported): ≈ 1 of ≈ 5.7 CPU-s.
    mkdirSync(join(app, 'node_modules', '@types'), { recursive: true });
    symlinkSync(
      realpathSync(join(ROOT, 'node_modules', '@types', 'node')),
      join(app, 'node_modules', '@types', 'node'),
    );
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          types: ['node'],
          strict: true,
          skipLibCheck: false,
          skipDefaultLibCheck: true,
          noEmit: true,
        },
        files: ['app.ts'],
      }),
    );
    writeFileSync(
      join(app, 'app.ts'),
      `import { readFileSync } from 'node:fs';
import {
  fingerprintFromReadings,
  type LicenseInfo,
  LicenseManager,
  type LicenseStatus,
  LicensorError,
} from '@licensor/client';
import { describeStatus, licenseCodeHint } from '@licensor/client/messages';

const manager = new LicenseManager({
  productId: 'com.example.app',
  roots: [readFileSync('root.pem', 'utf8')],
  dataDir: 'data',
  fingerprint: () => fingerprintFromReadings({ machineId: 'm-1', hardwareUuid: 'u-1' }),
});
const status: LicenseStatus = await manager.verify();
const info: LicenseInfo | null = status.license;
const expires: string | null = info ? info.expiresAt : null;
const text: string = describeStatus(status.code, 'zh');
const hint = licenseCodeHint('LSR-');
try {
  await manager.activate('LSR-0000');
} catch (err) {
  if (err instanceof LicensorError) console.log(err.code.toLowerCase(), err.retryable);
}
console.log(expires, text, hint);

// The declarations are real types, not any: each line below must be an error.
// @ts-expect-error a status code the client never returns
if (status.code === 'NOT_A_STATUS') console.log('never');
// @ts-expect-error productId is required
new LicenseManager({ roots: [] });
// @ts-expect-error the error code is a string union, not a number
const n: number = new LicensorError('INTERNAL', 'x').code;
console.log(n);
`,
    );
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], {
      cwd: app,
      encoding: 'utf8',
      env,
      timeout: 60_000,
    });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
    expect(existsSync(join(app, 'node_modules', '@licensor', 'shared'))).toBe(false);
  }, 420_000);

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
