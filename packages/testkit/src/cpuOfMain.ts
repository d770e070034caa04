import { appendFileSync } from 'node:fs';
import { cpu } from './cpuOfProcess';

/**
 * Opt-in global setup (LICENSOR_TEST_CPU=<file>, vitest.config.ts), the companion of cpuPerFile.ts: at the end of
 * the run appends a JSON line with the CPU of vitest's main process since it started (transforms of the sources,
 * reports, the other global setups and teardowns), and of its child processes that have exited (workers that vitest
 * reaped). Vitest runs it once per project and once for the root, each teardown a line: the last, largest, counts.
 */
export default function setup(): () => void {
  return () => {
    const { self, children } = cpu();
    appendFileSync(
      process.env.LICENSOR_TEST_CPU!,
      `${JSON.stringify({ file: '(vitest main process)', pid: process.pid, end: Date.now(), self, children })}\n`,
    );
  };
}
