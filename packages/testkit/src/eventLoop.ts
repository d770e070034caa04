/** Event-loop steps for tests of code that batches work per turn (group commit, the durable barrier). */

/** One turn of the event loop: resolves after the I/O and timers already queued. */
export const turn = (): Promise<void> => new Promise<void>((r) => setImmediate(r));

export async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await turn();
}

/** Waits turn by turn until `cond` holds; throws naming `what` after `max` turns. */
export async function until(cond: () => boolean, what: string, max = 200): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (cond()) return;
    await turn();
  }
  throw new Error(`gave up waiting for ${what}`);
}
