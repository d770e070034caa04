import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// Workspace packages export their TypeScript sources directly, so tests run without a build step.
export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/client/electron/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The client's default anti-rollback anchors live in $XDG_STATE_HOME (Linux): keep tests out of the real home.
    env: { XDG_STATE_HOME: join(tmpdir(), 'licensor-test-state') },
  },
});
