import { defineConfig } from 'vitest/config';

// Tests run from the TypeScript sources, never from a build: the workspace packages' `source` export condition
// points at src/ (their `default` is the built dist/). The rest are Vite's own defaults.
const conditions = ['source', 'module', 'node', 'development|production'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/client/electron/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
