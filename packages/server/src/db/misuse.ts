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

/**
 * A transaction in progress: of which database (its guard), whether it is still open, and the transactions (of
 * other databases) it runs inside. The flag is switched off when the transaction ends: a continuation created inside
 * it that runs later (a timer, a forgotten promise) inherits the mark but no longer deadlocks anything.
 */
interface Mark {
  readonly guard: MisuseGuard;
  open: boolean;
  readonly outer: Mark | undefined;
}

/**
 * One AsyncLocalStorage for every database of the process, created with the first guard. Node 20 never forgets an
 * AsyncLocalStorage that ran once: its promise hook visits each of them for every promise the process creates from
 * then on. One per database made a test process that opens hundreds of databases pay hundreds of visits per
 * promise: one worker running twelve of the server's test files spent 3 of its 22 s of CPU in them, and 0.8 s more
 * in garbage collection; one for all pays one visit.
 */
let marks: AsyncLocalStorage<Mark> | undefined;

export function misuseGuard(): MisuseGuard | undefined {
  if (process.env[STORAGE_CHECKS_ENV] !== '1') return undefined;
  marks ??= new AsyncLocalStorage<Mark>();
  const als = marks;
  const guard: MisuseGuard = {
    inside: async (fn) => {
      const mark: Mark = { guard, open: true, outer: als.getStore() };
      try {
        return await als.run(mark, fn);
      } finally {
        mark.open = false;
      }
    },
    check: () => {
      // The innermost transaction of this database decides, as a storage of its own per database would.
      let mark = als.getStore();
      while (mark && mark.guard !== guard) mark = mark.outer;
      if (mark?.open) {
        if (process.env.MISUSE_TRACE)
          require('node:fs').appendFileSync(process.env.MISUSE_TRACE, `${new Error('misuse').stack}\n----\n`);
        throw new LicensorError(
          'STORAGE_MISUSE',
          'a query on the top-level storage inside a transaction: use the transaction handle (tx) the transaction passed to its function',
        );
      }
    },
  };
  return guard;
}
