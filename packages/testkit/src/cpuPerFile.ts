import { appendFileSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect } from 'vitest';

/**
 * Opt-in measuring setup file (LICENSOR_TEST_CPU=<file>, vitest.config.ts): appends one JSON line per test file
 * with its wall time and the CPU its worker spent on it, its own and its finished child processes' (servers, CLIs,
 * builds, Chromium), from /proc/self/stat (Linux). The CPU tells a file that computes from one that waits.
 */
const TICK_MS = 10; // USER_HZ is 100 on Linux
function cpu(): { self: number; children: number } {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields 14–17 of proc(5): utime, stime, cutime, cstime; f[0] is field 3
  const n = (i: number) => Number(f[i - 3]) * TICK_MS;
  return { self: n(14) + n(15), children: n(16) + n(17) };
}

const at = { wall: Date.now(), ...cpu() };
let file = '';
beforeAll(() => {
  file = expect.getState().testPath ?? '';
});
afterAll(() => {
  const end = cpu();
  appendFileSync(
    process.env.LICENSOR_TEST_CPU!,
    `${JSON.stringify({
      file,
      pid: process.pid,
      project: process.env.LICENSOR_TEST_BACKEND ?? '',
      worker: process.env.VITEST_POOL_ID,
      start: at.wall,
      end: Date.now(),
      self: end.self - at.self,
      children: end.children - at.children,
    })}\n`,
  );
});
