import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pki } from '@licensor/testkit/client';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultCodeCacheDir, loadCachedBundle } from './codeCache';
import { collectFingerprint, PATIENT_READING_TIMEOUT_MS } from './fingerprint';

const work = mkdtempSync(join(tmpdir(), 'licensor-code-cache-'));
afterAll(() => {
  // Leave nothing group/world-writable behind for the cleanup of tmp.
  spawnSync('rm', ['-rf', work]);
});

let counter = 0;
/** A CommonJS bundle with enough code that V8 has something to cache, and a result that proves it ran. */
function bundle(answer: string): string {
  const dir = join(work, `bundle-${counter++}`);
  mkdirSync(dir);
  const file = join(dir, 'cli.bundle.cjs');
  const helpers = Array.from({ length: 50 }, (_, i) => `function h${i}(x){return x*${i}+${i}}`).join('\n');
  writeFileSync(file, `${helpers}\nexports.answer = () => ${JSON.stringify(answer)} + h3(1);\n`);
  return file;
}
const privateDir = () => join(work, `cache-${counter++}`, 'licensor', 'code-cache');
const cacheFiles = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.cache'));
const posix = typeof process.getuid === 'function';

describe('loadCachedBundle', () => {
  it('compiles on the first load, writes a private cache, and uses it on the next load', () => {
    const file = bundle('first');
    const cacheDir = privateDir();
    const cold = loadCachedBundle(file, { cacheDir });
    expect(cold.cache).toBe('miss');
    expect((cold.exports.answer as () => string)()).toBe('first6');
    cold.saveCache();

    expect(cacheFiles(cacheDir)).toHaveLength(1);
    if (posix) {
      expect(statSync(cacheDir).mode & 0o777).toBe(0o700);
      expect(statSync(cold.cacheFile).mode & 0o777).toBe(0o600);
    }
    const warm = loadCachedBundle(file, { cacheDir });
    expect(warm.cache).toBe('hit');
    expect((warm.exports.answer as () => string)()).toBe('first6');
  });

  it('a cache saved by the caller leaves no exit listener behind (no MaxListenersExceededWarning on many loads)', () => {
    const before = process.listenerCount('exit');
    for (let i = 0; i < 15; i++) {
      const load = loadCachedBundle(bundle(`leak${i}`), { cacheDir: privateDir() });
      expect(load.cache).toBe('miss');
      expect(process.listenerCount('exit')).toBe(before + 1); // the pending save, until it is done
      load.saveCache();
      expect(process.listenerCount('exit')).toBe(before);
    }
  });

  it('a changed bundle gets its own cache and replaces the old one', () => {
    const cacheDir = privateDir();
    const file = bundle('v1');
    loadCachedBundle(file, { cacheDir }).saveCache();
    const before = cacheFiles(cacheDir);
    writeFileSync(file, `${readFileSync(file, 'utf8')}exports.more = 1;\n`);
    const changed = loadCachedBundle(file, { cacheDir });
    expect(changed.cache).toBe('miss');
    expect(changed.exports.more).toBe(1);
    changed.saveCache();
    const after = cacheFiles(cacheDir);
    expect(after).toHaveLength(1);
    expect(after).not.toEqual(before);
  });

  it('a bundle rewritten in place with the same length and the same modification time gets a new cache', async () => {
    // npm unpacks every file with one fixed mtime, and V8 itself checks only the source length: the key must
    // still tell the two bundles apart (their change time differs), or the old bytecode would run.
    const cacheDir = privateDir();
    const file = bundle('old1');
    const npmTime = new Date('1985-10-26T08:15:00Z');
    utimesSync(file, npmTime, npmTime);
    const before = statSync(file);
    loadCachedBundle(file, { cacheDir }).saveCache();
    expect(loadCachedBundle(file, { cacheDir }).cache).toBe('hit');
    await new Promise((r) => setTimeout(r, 20)); // past the file system's timestamp granularity
    writeFileSync(file, readFileSync(file, 'utf8').replace('old1', 'new2'));
    utimesSync(file, npmTime, npmTime);
    expect(statSync(file).mtimeMs).toBe(before.mtimeMs);
    expect(statSync(file).size).toBe(before.size);
    const rewritten = loadCachedBundle(file, { cacheDir });
    expect(rewritten.cache).toBe('miss');
    expect((rewritten.exports.answer as () => string)()).toBe('new26');
  });

  it('a corrupt or truncated cache only costs a compile: same exports, and it is rewritten', () => {
    const file = bundle('sturdy');
    const cacheDir = privateDir();
    const first = loadCachedBundle(file, { cacheDir });
    first.saveCache();
    const stored = readFileSync(first.cacheFile);
    for (const damaged of [
      Buffer.concat([stored.subarray(0, 40), Buffer.from([stored[40]! ^ 1]), stored.subarray(41)]), // bit flip
      stored.subarray(0, stored.length >> 1), // truncated write
      Buffer.alloc(0),
    ]) {
      writeFileSync(first.cacheFile, damaged, { mode: 0o600 });
      const load = loadCachedBundle(file, { cacheDir });
      expect(load.cache).toBe('miss');
      expect((load.exports.answer as () => string)()).toBe('sturdy6');
      load.saveCache();
      expect(loadCachedBundle(file, { cacheDir }).cache).toBe('hit');
    }
  });

  it('a cache V8 refuses (made for another script of the same length) is reported and rewritten', () => {
    const cacheDir = privateDir();
    const a = bundle('aaaa');
    const b = bundle('bbbb');
    const fromA = loadCachedBundle(a, { cacheDir });
    fromA.saveCache();
    const forB = loadCachedBundle(b, { cacheDir });
    // Planted under b's name with a valid checksum: V8 sees a different source (its own check) or, if it
    // cannot tell, the bundle's own result still decides the test below.
    writeFileSync(forB.cacheFile, readFileSync(fromA.cacheFile), { mode: 0o600 });
    const planted = loadCachedBundle(b, { cacheDir });
    expect(['rejected', 'hit']).toContain(planted.cache);
    expect((planted.exports.answer as () => string)()).toBe('bbbb6');
  });

  it.runIf(posix)('never reads or writes a cache in a folder other users could write', () => {
    const file = bundle('guarded');
    const open = join(work, `open-${counter++}`);
    mkdirSync(open, { mode: 0o777 });
    chmodSync(open, 0o777); // world-writable, not sticky: anyone could swap the cache folder
    const load = loadCachedBundle(file, { cacheDir: join(open, 'code-cache') });
    expect(load.cache).toBe('unsafe');
    expect((load.exports.answer as () => string)()).toBe('guarded6');
    load.saveCache();
    expect(readdirSync(join(open, 'code-cache'))).toEqual([]);

    const loose = privateDir();
    mkdirSync(loose, { recursive: true });
    chmodSync(loose, 0o755); // readable and listable by others: not the private folder this must be
    expect(loadCachedBundle(file, { cacheDir: loose }).cache).toBe('unsafe');

    // /tmp itself is world-writable but sticky: a private folder inside it is fine.
    const sticky = join(work, `sticky-${counter++}`);
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    expect(loadCachedBundle(file, { cacheDir: join(sticky, 'code-cache') }).cache).toBe('miss');
  });

  it.runIf(posix)('ignores a cache file that is group/other-writable or a symbolic link', () => {
    const file = bundle('owned');
    const cacheDir = privateDir();
    const first = loadCachedBundle(file, { cacheDir });
    first.saveCache();
    chmodSync(first.cacheFile, 0o666);
    expect(loadCachedBundle(file, { cacheDir }).cache).toBe('miss');

    const elsewhere = join(work, `elsewhere-${counter++}.cache`);
    writeFileSync(elsewhere, readFileSync(first.cacheFile), { mode: 0o600 });
    spawnSync('rm', ['-f', first.cacheFile]);
    symlinkSync(elsewhere, first.cacheFile);
    const linked = loadCachedBundle(file, { cacheDir });
    expect(linked.cache).toBe('miss');
    expect((linked.exports.answer as () => string)()).toBe('owned6');
  });

  it('lives in the per-user cache folder of the platform, never in a shared temporary folder', () => {
    if (process.platform === 'linux') {
      expect(defaultCodeCacheDir({ XDG_CACHE_HOME: '/home/u/.cache' })).toBe('/home/u/.cache/licensor/code-cache');
      // A relative XDG_CACHE_HOME is invalid (XDG spec) and ignored.
      expect(defaultCodeCacheDir({ XDG_CACHE_HOME: 'tmp' })).toMatch(/\/\.cache\/licensor\/code-cache$/);
    }
    expect(defaultCodeCacheDir({})).not.toContain(tmpdir());
  });
});

describe('the licensor-client bin', () => {
  const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'licensor-client.cjs');

  it.runIf(process.platform === 'linux')(
    'caches its code under $XDG_CACHE_HOME, and answers the same with a cache, without, and with a corrupt one',
    () => {
      const home = join(work, `xdg-${counter++}`);
      mkdirSync(home, { mode: 0o700 });
      const env = { XDG_CACHE_HOME: home, XDG_STATE_HOME: join(home, 'state') };
      writeFileSync(join(home, 'root.pem'), pki().rootPem);
      const args = ['--root', join(home, 'root.pem'), '--data-dir', join(home, 'data')];
      const runWith = () =>
        spawnSync(process.execPath, [bin, '--json', '--product', 'com.example.x', ...args, 'status'], {
          encoding: 'utf8',
          timeout: 60_000,
          env: { ...process.env, ...env },
        });
      const cold = runWith(); // the first start writes the cache (and, in a fresh checkout, builds dist/)
      const cacheDir = join(home, 'licensor', 'code-cache');
      const [cacheFile] = cacheFiles(cacheDir);
      expect(cacheFile).toMatch(/^status_bundle_cjs-[0-9a-f]{32}\.cache$/); // `status` runs its own bundle
      const warm = runWith();
      writeFileSync(join(cacheDir, cacheFile!), 'not a code cache', { mode: 0o600 });
      const corrupt = runWith();
      for (const r of [warm, corrupt]) {
        expect(r.status).toBe(cold.status);
        const { checkedAt: _, ...verdict } = JSON.parse(r.stdout);
        const { checkedAt: __, ...coldVerdict } = JSON.parse(cold.stdout);
        expect(verdict).toEqual(coldVerdict);
      }
      expect(JSON.parse(cold.stdout).code).toBe('NO_LICENSE');
    },
  );

  it('reads the real hardware through the bundle (systeminformation, its one external, loads on demand)', async () => {
    const home = join(work, `xdg-${counter++}`);
    mkdirSync(home, { mode: 0o700 });
    const res = spawnSync(process.execPath, [bin, '--json', 'fingerprint'], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, XDG_CACHE_HOME: home, XDG_RUNTIME_DIR: home },
    });
    expect(res.status, res.stderr).toBe(0);
    const fromBin = JSON.parse(res.stdout) as { components: Record<string, unknown>; timedOut: string[] };
    // A fresh and patient reading (the process-wide one may come from another test file sharing this worker's
    // modules, and a busy machine can take longer than the default 800 ms per reading).
    const inProcess = await collectFingerprint({ refresh: true, timeoutMs: PATIENT_READING_TIMEOUT_MS });
    const binKeys = Object.keys(fromBin.components).sort();
    const ownKeys = Object.keys(inProcess.components).sort();
    // The bin reads with the default timeout: a reading it reports as timed out may be missing there only.
    if (fromBin.timedOut.length === 0) expect(binKeys).toEqual(ownKeys);
    else expect(ownKeys).toEqual(expect.arrayContaining(binKeys));
    expect(binKeys.length).toBeGreaterThan(0);
  });
});
