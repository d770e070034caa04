import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// Tests run from the TypeScript sources, never from a build: the workspace packages' `source` export condition
// points at src/ (their `default` is the built dist/). The rest are Vite's own defaults.
const conditions = ['source', 'module', 'node', 'development|production'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['source'] } },
  // Vitest's own environment, which loads the global setup.
  environments: { __vitest__: { resolve: { conditions, externalConditions: ['source'] } } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/client/electron/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Records every SQL statement the server prepares and checks each on PostgreSQL after the run.
    globalSetup: ['packages/testkit/src/sqlPortability.ts'],
    // The client's default anti-rollback anchors live in $XDG_STATE_HOME (Linux): keep tests out of the real home.
    // Likewise the CLI's code cache ($XDG_CACHE_HOME/licensor/code-cache, see packages/client/src/codeCache.ts).
    env: {
      XDG_STATE_HOME: join(tmpdir(), 'licensor-test-state'),
      XDG_CACHE_HOME: join(tmpdir(), 'licensor-test-cache'),
    },
  },
});
