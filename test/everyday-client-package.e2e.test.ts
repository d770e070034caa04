import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fingerprintFromReadings, hashedFingerprint } from '@licensor/client';
import { BASE_READINGS, licenseFor, PRODUCT, pki, tempFolders } from '@licensor/testkit/client';
import { describe, expect, it } from 'vitest';

/**
 * The client as a merchant's app installs it: the build of its JavaScript and type declarations (scripts/build.mjs),
 * then an app with only what the package ships. A file of its own (the rest of the everyday commands are in
 * everyday-commands.e2e.test.ts): the declaration build and the app's type check are most of the time of both, and
 * run beside them on another worker.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const temp = tempFolders();

/** Exit status, signal and output (stdout and stderr together) of a child process, once it has exited. */
function finished(child: ChildProcess) {
  let output = '';
  child.stdout?.on('data', (b: Buffer) => {
    output += b.toString();
  });
  child.stderr?.on('data', (b: Buffer) => {
    output += b.toString();
  });
  return new Promise<{ status: number | null; signal: NodeJS.Signals | null; output: string }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (status, signal) => resolve({ status, signal, output }));
  });
}

/**
 * What `build.mjs client` reads: the build script, the client (its sources, bin, manifest, and the TypeScript
 * configs that esbuild and the declaration bundle read) and the shared sources it bundles, with the real
 * node_modules (esbuild, TypeScript, the dependencies). The same JavaScript as a build in the checkout (only the
 * comments naming shared's files differ: esbuild reaches them through the client's node_modules).
 */
function clientWorkspaceCopy() {
  const dir = temp('licensor-client-build-');
  cpSync(join(ROOT, 'scripts'), join(dir, 'scripts'), { recursive: true });
  cpSync(join(ROOT, 'tsconfig.base.json'), join(dir, 'tsconfig.base.json'));
  const files = {
    client: ['src', 'bin', 'package.json', 'tsconfig.json', 'tsconfig.build.json'],
    shared: ['src', 'package.json', 'tsconfig.json'],
  };
  for (const [pkg, entries] of Object.entries(files)) {
    for (const entry of entries) {
      cpSync(join(ROOT, 'packages', pkg, entry), join(dir, 'packages', pkg, entry), { recursive: true });
    }
    symlinkSync(join(ROOT, 'packages', pkg, 'node_modules'), join(dir, 'packages', pkg, 'node_modules'), 'dir');
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  // The declaration bundle without its type check of the sources (TypeScript's noCheck): the same .d.ts byte for
  // byte, ≈ 4.8 of its ≈ 12.5 CPU-s less. Those sources are type-checked by npm test's static checks already.
  const declarationConfig = join(dir, 'packages', 'client', 'tsconfig.build.json');
  const config = readFileSync(declarationConfig, 'utf8');
  expect(config).toContain('"compilerOptions": {');
  writeFileSync(
    declarationConfig,
    config.replace('"compilerOptions": {', '"compilerOptions": {\n    "noCheck": true,'),
  );
  return dir;
}

describe('the client package (scripts/build.mjs client)', () => {
  it('gives an app that installs @licensor/client a working library, its types and bin: no workspace package, no sources', async () => {
    // JavaScript and type declarations of the client (and of shared, which it bundles), in a copy of the workspace:
    // a build in the checkout would replace packages/client/dist/ (the JavaScript too) under the test files that load
    // it at the same time. The declaration bundle runs the TypeScript compiler: minutes, not seconds, on a 2-core
    // machine at load 20.
    const workspace = clientWorkspaceCopy();
    const built = spawnSync(process.execPath, [join(workspace, 'scripts', 'build.mjs'), 'client'], {
      cwd: workspace,
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(built.status, built.stderr).toBe(0);
    // The app: node_modules/@licensor/client holds what the package ships ("files": dist, bin) and the
    // app's node_modules its declared dependencies, nothing else (@licensor/shared is not published).
    const app = temp('licensor-installed-');
    const clientDir = join(workspace, 'packages', 'client');
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
    // Checked while the library and the bin run below, by the current TypeScript (7, the native compiler: ≈ 1.5
    // CPU-s for what took 5.9 ≈ 8.5, most of it @types/node's and zod's declarations).
    const tsc = finished(
      spawn(process.execPath, [join(ROOT, 'node_modules', 'typescript7', 'bin', 'tsc'), '-p', app], {
        cwd: app,
        env,
        timeout: 120_000,
      }),
    );

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

    const checked = await tsc;
    expect(checked.output).toBe('');
    expect(checked.status, `tsc ended by ${checked.signal} (its timeout sends SIGTERM)`).toBe(0);
    expect(existsSync(join(app, 'node_modules', '@licensor', 'shared'))).toBe(false);
  }, 420_000);
});
