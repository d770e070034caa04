import { appendFileSync } from 'node:fs';
import { afterAll, beforeAll, expect } from 'vitest';
import { cpu } from './cpuOfProcess';

/**
 * Opt-in measuring setup file (LICENSOR_TEST_CPU=<file>, vitest.config.ts): appends one JSON line per test file
 * with its wall time and the CPU its worker spent on it, its own and its finished child processes' (servers, CLIs,
 * builds, Chromium), from /proc/self/stat (Linux). The CPU tells a file that computes from one that waits.
 * `workerSelf`/`workerChildren`: the worker's CPU since it started (the last line of a worker also counts its start,
 * vitest's runtime and the time between files); cpuOfMain.ts adds vitest's main process.
 */

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
      workerSelf: end.self,
      workerChildren: end.children,
    })}\n`,
  );
});
