import { execFileSync } from 'node:child_process';
import { closeSync, open as openAsync, openSync, stat as statAsync } from 'node:fs';
import { join } from 'node:path';

/**
 * Occupies every thread of libuv's pool with an open() of a FIFO (made in `dir`) that has no writer: file work
 * queued behind them, such as a WAL fdatasync, cannot run until the returned `release` opens the FIFO for writing.
 * No CPU is used while the pool is held. Release before closing what the held work uses, also when a test fails
 * (an afterEach), or the worker hangs. Not on Windows (no mkfifo there).
 *
 *   const release = await holdThreadPool(dir);  // syncs now stay in flight
 *   …; await release();
 */
export async function holdThreadPool(dir: string): Promise<() => Promise<void>> {
  const fifo = join(dir, `pool-${process.pid}-${Date.now()}.fifo`);
  execFileSync('mkfifo', [fifo]);
  const threads = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  const readers = Array.from(
    { length: threads },
    () =>
      new Promise<number>((resolve, reject) => openAsync(fifo, 'r', (err, fd) => (err ? reject(err) : resolve(fd)))),
  );
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    const writer = openSync(fifo, 'r+'); // never blocks on Linux or macOS, and unblocks every reader
    try {
      for (const fd of await Promise.all(readers)) closeSync(fd);
    } finally {
      closeSync(writer);
    }
  };
  // The premise of the tests using this: work queued now does not run.
  let probed = false;
  statAsync(dir, () => {
    probed = true;
  });
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
  if (probed) {
    await release();
    throw new Error(
      'holdThreadPool: the thread pool still ran queued work (more threads than UV_THREADPOOL_SIZE says?)',
    );
  }
  return release;
}
