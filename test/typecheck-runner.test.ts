/**
 * scripts/typecheck.mjs (the static checks' type checker: `tsc -p` of TypeScript 7 for each program) must report what
 * `tsc -p` reports for each program, whatever else it checked first, and must never check nothing and exit 0.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const RUNNER = join(ROOT, 'scripts/typecheck.mjs');
const { typecheck } = (await import(RUNNER)) as {
  typecheck(projects: string[], o: { cwd: string; write(s: string): void }): number;
};

const dir = mkdtempSync(join(tmpdir(), 'licensor-typecheck-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Two projects over one shared file, which only the strict one's options make an error. Against ES5's declarations
 * alone, unchecked (lib, skipLibCheck): TypeScript's default ones include the DOM's, whose check has no part in what
 * is tested.
 */
function projects(): { lenient: string; strict: string } {
  writeFileSync(join(dir, 'shared.ts'), 'export function f(): number {\n  return 1;\n  f();\n}\n');
  const config = (extra: object) =>
    JSON.stringify({
      compilerOptions: { noEmit: true, types: [], lib: ['es5'], skipLibCheck: true, strict: true, ...extra },
      files: ['shared.ts'],
    });
  writeFileSync(join(dir, 'lenient.json'), config({}));
  writeFileSync(join(dir, 'strict.json'), config({ allowUnreachableCode: false }));
  return { lenient: 'lenient.json', strict: 'strict.json' };
}

describe('scripts/typecheck.mjs', () => {
  it('reports an error that only one program’s options make, in either order, under that program’s name', () => {
    const { lenient, strict } = projects();
    for (const order of [
      [lenient, strict],
      [strict, lenient],
    ]) {
      let out = '';
      const errors = typecheck(order, { cwd: dir, write: (s) => (out += s) });
      expect(errors).toBe(1);
      expect(out).toContain(`${strict}:\n`);
      expect(out).not.toContain(`${lenient}:\n`);
      expect(out).toMatch(/TS7027/);
    }
  });

  it('passes a clean program and fails one that cannot be checked (a missing tsconfig), never checking nothing', () => {
    const { lenient } = projects();
    let out = '';
    expect(typecheck([lenient], { cwd: dir, write: (s) => (out += s) })).toBe(0);
    expect(out).toBe('');
    expect(typecheck([lenient, 'missing.json'], { cwd: dir, write: (s) => (out += s) })).toBeGreaterThanOrEqual(1);
    expect(out).toContain('missing.json:\n');
  });

  it('runs from a folder whose path has a space and non-ASCII letters: usage and exit 2 without projects, exit 1 on an error', () => {
    // Beside the real runner (it finds `typescript` from its own folder), under a name with a space and 张三.
    const copy = join(ROOT, 'scripts', `typecheck probe 张三 ${process.pid}.mjs`);
    copyFileSync(RUNNER, copy);
    try {
      const bare = spawnSync(process.execPath, [copy], { encoding: 'utf8' });
      expect(bare.status).toBe(2);
      expect(bare.stderr).toMatch(/usage/);
      projects();
      const failing = spawnSync(process.execPath, [copy, join(dir, 'strict.json')], { encoding: 'utf8', cwd: dir });
      expect(failing.status).toBe(1);
      expect(failing.stdout).toMatch(/TS7027/);
    } finally {
      rmSync(copy, { force: true });
    }
  });
});
