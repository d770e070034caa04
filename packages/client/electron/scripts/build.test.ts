import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRootCertificate, issueSigningCertificate } from '@licensor/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANNELS, type Result } from '../shared/api';
import { fakeElectron } from '../test/fakes';
import { type BuildResult, buildShell, readPinnedRoots } from './build';

let dir: string;
let built: BuildResult;
const root = createRootCertificate({ commonName: 'Build Test Root' });

function config(extra: Record<string, unknown> = {}, name = 'licensor.config.ts') {
  const path = join(dir, name);
  writeFileSync(
    path,
    `export default ${JSON.stringify({
      productId: 'OFFI0001',
      rootCertificatePath: './root.crt.pem',
      serverUrl: 'https://license.example.com',
      appName: 'Licensor Demo',
      ...extra,
    })};\n`,
  );
  return path;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'licensor-electron-build-'));
  writeFileSync(join(dir, 'root.crt.pem'), root.certificatePem);
  built = await buildShell({ configPath: config(), outDir: join(dir, 'dist') });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('build', () => {
  it('compiles the pinned root into the main bundle, and only there', () => {
    const main = readFileSync(join(built.outDir, 'main.cjs'), 'utf8');
    const body = root.certificatePem.split('\n')[1]!;
    expect(main).toContain(body);
    expect(main).toContain('https://license.example.com');
    for (const f of ['preload.cjs', 'renderer/renderer.js']) {
      expect(readFileSync(join(built.outDir, f), 'utf8')).not.toContain(body);
    }
    expect(built.rootSha256).toHaveLength(1);
  });

  it('keeps Node out of the renderer and Electron out of the bundles', () => {
    const renderer = readFileSync(join(built.outDir, 'renderer', 'renderer.js'), 'utf8');
    expect(renderer).not.toMatch(/\brequire\(|process\.env|node:/);
    const preload = readFileSync(join(built.outDir, 'preload.cjs'), 'utf8');
    expect(preload.match(/require\("([^"]+)"\)/g)).toEqual(['require("electron")']);
    expect(JSON.parse(readFileSync(join(built.outDir, 'package.json'), 'utf8'))).toMatchObject({
      name: 'licensor-demo',
      productName: 'Licensor Demo',
      main: 'main.cjs',
    });
    expect(readFileSync(join(built.outDir, 'tray.png')).subarray(1, 4).toString()).toBe('PNG');
  });

  it('refuses a private key, a non-CA certificate, a missing file and a bad config', async () => {
    writeFileSync(
      join(dir, 'with-key.pem'),
      `${root.certificatePem}\n-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n`,
    );
    expect(() => readPinnedRoots(join(dir, 'with-key.pem'))).toThrow(/contains a private key/);
    const signing = issueSigningCertificate(root, { commonName: 'Signing' });
    writeFileSync(join(dir, 'leaf.pem'), signing.certificatePem);
    expect(() => readPinnedRoots(join(dir, 'leaf.pem'))).toThrow(/not a CA/);
    expect(() => readPinnedRoots(join(dir, 'missing.pem'))).toThrow(/Cannot read the root certificate/);
    writeFileSync(join(dir, 'empty.pem'), 'hello');
    expect(() => readPinnedRoots(join(dir, 'empty.pem'))).toThrow(/no PEM certificate/);

    const bad = config({ serverUrl: 'http://license.example.com', productId: 'bad id' }, 'bad.config.ts');
    await expect(buildShell({ configPath: bad, outDir: join(dir, 'dist-bad') })).rejects.toThrow(
      /productId: must be 1–64[\s\S]*serverUrl: must use https/,
    );
  });

  it('starts from the bundle with Electron injected: activation window, app:// pages, guarded IPC', async () => {
    // The bundle's require('electron') finds this module instead of the binary.
    const f = fakeElectron({ userData: join(dir, 'user-data') });
    mkdirSync(join(dir, 'node_modules', 'electron'), { recursive: true });
    writeFileSync(join(dir, 'node_modules', 'electron', 'index.js'), 'module.exports = globalThis.__fakeElectron;');
    (globalThis as { __fakeElectron?: unknown }).__fakeElectron = f.electron;
    createRequire(import.meta.url)(join(built.outDir, 'main.cjs'));
    expect(f.record.schemes).toEqual([
      { scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: false, corsEnabled: false } },
    ]);
    expect(f.record.windows).toEqual([]); // nothing before `ready`
    f.ready();
    const deadline = Date.now() + 8000;
    while (f.record.windows.length === 0 && f.record.errors.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(f.record.errors).toEqual([]);
    expect(f.record.windows[0]!.urls).toEqual(['app://licensor/index.html']);
    // The fake reports a packaged app: no developer tools, no default menu.
    expect(f.record.windows[0]!.options).toMatchObject({
      webPreferences: { preload: join(built.outDir, 'preload.cjs'), devTools: false },
    });
    expect(f.record.applicationMenus).toEqual([
      process.platform === 'darwin' ? [{ role: 'appMenu' }, { role: 'editMenu' }] : null,
    ]);
    const page = await f.record.protocols.get('app')!({ url: 'app://licensor/index.html', method: 'GET' });
    expect(await page.text()).toContain('id="activate-form"');
    const status = (await f.record.ipc.get(CHANNELS.status)!({
      senderFrame: { url: 'app://licensor/index.html', parent: null },
      sender: { id: 1 },
    })) as Result<{ code: string }>;
    expect(status.ok && status.value.code).toBe('NO_LICENSE');
    f.record.appEvents.get('before-quit')?.();
  });
});
