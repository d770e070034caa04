/**
 * A FIFO lock whose release hands it straight to the next waiter, so a transaction that waited cannot be
 * overtaken by a statement issued after it. `lock` returns undefined when the lock was free: the uncontended
 * path costs no promise (callers `const w = m.lock(); if (w) await w;`).
 */
export class Mutex {
  private held = false;
  private readonly waiters: (() => void)[] = [];

  lock(): Promise<void> | undefined {
    if (!this.held) {
      this.held = true;
      return undefined;
    }
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  unlock(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.held = false;
  }
}
