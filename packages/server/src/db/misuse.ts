import { AsyncLocalStorage } from 'node:async_hooks';
import { LicensorError } from '@licensor/shared';

/** Set to 1 by the test setup (vitest.config.ts); production never sets it. */
export const STORAGE_CHECKS_ENV = 'LICENSOR_STORAGE_CHECKS';

/**
 * Test-only detector of a query on the top-level storage made from inside one of its own transactions: on
 * SQLite that call waits for the transaction's mutex, which waits for the call (a deadlock); on PostgreSQL it
 * runs on another connection (not atomic). With the check on, the call throws STORAGE_MISUSE at once instead.
 *
 * Off unless LICENSOR_STORAGE_CHECKS=1 when the database opens: the first AsyncLocalStorage.run installs a promise
 * hook that taxes every promise of the process (docs/design/async-storage.md), so production never creates one.
 * One guard per database, so a transaction of one database does not forbid queries on another.
 */
export interface MisuseGuard {
  /** Runs fn marked as inside a transaction of this database until the returned promise settles. */
  inside<T>(fn: () => Promise<T>): Promise<T>;
  /** Throws STORAGE_MISUSE when called from inside a transaction of this database. */
  check(): void;
}

export function misuseGuard(): MisuseGuard | undefined {
  if (process.env[STORAGE_CHECKS_ENV] !== '1') return undefined;
  // The store is a flag switched off when the transaction ends: a continuation created inside it that runs
  // later (a timer, a forgotten promise) inherits the store but no longer deadlocks anything.
  const als = new AsyncLocalStorage<{ open: boolean }>();
  return {
    inside: async (fn) => {
      const mark = { open: true };
      try {
        return await als.run(mark, fn);
      } finally {
        mark.open = false;
      }
    },
    check: () => {
      if (als.getStore()?.open) {
        if (process.env.MISUSE_TRACE)
          require('node:fs').appendFileSync(process.env.MISUSE_TRACE, `${new Error('misuse').stack}\n----\n`);
        throw new LicensorError(
          'STORAGE_MISUSE',
          'a query on the top-level storage inside a transaction: use the transaction handle (tx) the transaction passed to its function',
        );
      }
    },
  };
}
