import { defineConfig } from 'vitest/config';

// Workspace packages export their TypeScript sources directly, so tests run without a build step.
export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/client/electron/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
