/**
 * Modules the global setups (sqlPortability.ts, pgSuite.ts) load in vitest's main process, loaded once per run.
 * Vitest loads each project's global setups through that project's own module graph, so the same import in the
 * setups of two projects transforms and evaluates the server's sources twice (≈ 1 CPU-s each); the first load is
 * kept on globalThis and the others share it.
 */
type Loaded = { server?: Promise<typeof import('@licensor/server')>; postgres?: Promise<typeof import('./postgres')> };
const LOADED = Symbol.for('licensor.testkit.loadOnce');

function loaded(): Loaded {
  const main = globalThis as { [LOADED]?: Loaded };
  main[LOADED] ??= {};
  return main[LOADED];
}

export const serverOnce = (): Promise<typeof import('@licensor/server')> =>
  (loaded().server ??= import('@licensor/server'));

export const postgresOnce = (): Promise<typeof import('./postgres')> => (loaded().postgres ??= import('./postgres'));
