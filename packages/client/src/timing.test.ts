import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '@licensor/testkit/client';
import { describe, expect, it } from 'vitest';
import { formatTiming } from './timing';

describe('LICENSOR_TRACE_TIMING', () => {
  it('formats each phase as the time since the previous mark, then the parallel spans', () => {
    const text = formatTiming({
      marks: [
        ['process start → bin (node itself)', 50],
        ['module load', 70.25],
      ],
      spans: [['fingerprint: cpu()', 71, 101.5]],
    });
    expect(text).toMatch(/process start → bin \(node itself\)\s+50\.0 {2}\(at 50\.0\)/);
    expect(text).toMatch(/module load\s+20\.3 {2}\(at 70\.3\)/);
    expect(text).toMatch(/fingerprint: cpu\(\)\s+30\.5 {2}\(71\.0–101\.5\)/);
  });

  it('the bin prints the breakdown of a real start on stderr, only when asked', () => {
    const { dir, cleanup } = tempDir('licensor-trace-');
    try {
      const runtime = join(dir, 'runtime');
      mkdirSync(runtime, { mode: 0o700 });
      const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'licensor-client.cjs');
      const args = [bin, '--json', '--product', 'com.example.x', '--root', join(dir, 'none.pem'), 'status'];
      const env = { ...process.env, XDG_RUNTIME_DIR: runtime, XDG_CACHE_HOME: join(dir, 'cache') };
      // A missing root certificate: a usage error after the arguments, before the manager.
      const traced = spawnSync(process.execPath, args, {
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...env, LICENSOR_TRACE_TIMING: '1' },
      });
      expect(traced.stderr).toMatch(/^licensor timing/m);
      for (const phase of ['process start → bin', 'module load (bundle through the code cache)', 'arguments']) {
        expect(traced.stderr).toContain(phase);
      }
      const quiet = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 60_000, env });
      expect(quiet.status).toBe(traced.status);
      expect(quiet.stderr).not.toMatch(/licensor timing/);
    } finally {
      cleanup();
    }
  });
});
