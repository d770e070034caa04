import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The console's `api-types` script (packages/console/README.md: `src/api/schema.d.ts` from
 * packages/server/openapi-admin.yaml, then biome format) must run in the workspace as installed, and its output must
 * be the committed file, byte for byte (no drift between the admin API's description and the console's types).
 * openapi-typescript builds its output with TypeScript's JavaScript API; when its `typescript` peer resolved to
 * TypeScript 7 (the root's `typescript7` alias, which has no such API) the script died at load with "Cannot read
 * properties of undefined (reading 'createKeywordTypeNode')". Both steps run as processes of their own, as the
 * script runs them (and TypeScript 5.9's compiler stays out of the test worker).
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CONSOLE = join(ROOT, 'packages', 'console');
const SCHEMA = join(CONSOLE, 'src', 'api', 'schema.d.ts');

describe('the console API types', () => {
  it('are what the console’s api-types script generates from openapi-admin.yaml, byte for byte', () => {
    const dir = mkdtempSync(join(tmpdir(), 'licensor-api-types-'));
    try {
      const generated = join(dir, 'schema.d.ts');
      execFileSync(
        join(CONSOLE, 'node_modules', '.bin', 'openapi-typescript'),
        [join(ROOT, 'packages', 'server', 'openapi-admin.yaml'), '-o', generated],
        { cwd: CONSOLE, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      // Formatted as if it were the committed file (the repository's biome.json applies).
      const formatted = execFileSync(
        join(ROOT, 'node_modules', '.bin', 'biome'),
        ['format', `--stdin-file-path=${SCHEMA}`],
        { cwd: ROOT, input: readFileSync(generated), encoding: 'utf8' },
      );
      expect(formatted).toMatch(/export interface paths \{/);
      expect(formatted).toBe(readFileSync(SCHEMA, 'utf8'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
