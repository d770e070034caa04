import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * Package boundaries that the type checker cannot see:
 * - production code (what the packages build and ship, and the Electron shell) never imports test support:
 *   `@licensor/testkit`, the shell's fakes in `electron/test/`, or vitest;
 * - `@licensor/testkit` is a development dependency only;
 * - the simulator plays the marketplace and depends on `@licensor/shared` only, never on the server or the client.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PRODUCTION_PACKAGES = ['shared', 'client', 'simulator', 'server'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|tsx|mts)$/.test(e.name) && !/\.test\.tsx?$/.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .filter((f) => !f.split(sep).includes('node_modules'));
}

/** Production sources: each package's src/, and the Electron shell except its test fakes. */
function productionFiles(): string[] {
  const electron = join(ROOT, 'packages', 'client', 'electron');
  return [
    ...PRODUCTION_PACKAGES.flatMap((p) => sourceFiles(join(ROOT, 'packages', p, 'src'))),
    ...sourceFiles(electron).filter((f) => !f.startsWith(join(electron, 'test') + sep)),
  ];
}

/** Every module specifier a file imports or re-exports, static or dynamic (TypeScript's own scanner). */
const importsOf = (file: string): string[] =>
  ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles.map((i) => i.fileName);

const isTestSupport = (file: string, specifier: string): boolean =>
  specifier === 'vitest' ||
  specifier.startsWith('@licensor/testkit') ||
  (specifier.startsWith('.') &&
    (resolve(dirname(file), specifier).startsWith(join(ROOT, 'packages', 'testkit')) ||
      resolve(dirname(file), specifier).startsWith(join(ROOT, 'packages', 'client', 'electron', 'test') + sep) ||
      resolve(dirname(file), specifier).startsWith(join(ROOT, 'test') + sep)));

describe('package boundaries', () => {
  it('no production module imports test support', () => {
    const files = productionFiles();
    expect(files.length).toBeGreaterThan(100); // the scan found the sources
    const offending = files.flatMap((file) =>
      importsOf(file)
        .filter((s) => isTestSupport(file, s))
        .map((s) => `${relative(ROOT, file)} imports ${s}`),
    );
    expect(offending).toEqual([]);
  });

  it('lists @licensor/testkit as a development dependency only', () => {
    for (const pkg of PRODUCTION_PACKAGES) {
      const manifest = JSON.parse(readFileSync(join(ROOT, 'packages', pkg, 'package.json'), 'utf8')) as {
        dependencies?: Record<string, string>;
        peerDependencies?: Record<string, string>;
      };
      expect(Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies }), pkg).not.toContain(
        '@licensor/testkit',
      );
    }
  });

  it('keeps the simulator independent of the server and the client', () => {
    const simulator = join(ROOT, 'packages', 'simulator');
    const files = sourceFiles(join(simulator, 'src'));
    const imports = files.flatMap((file) => importsOf(file).map((s) => ({ file, s })));
    expect(imports.map((i) => i.s)).toContain('@licensor/shared'); // the scanner sees the imports
    const offending = imports
      .filter(
        ({ file, s }) =>
          /^@licensor\/(server|client|testkit)(\/|$)/.test(s) ||
          (s.startsWith('.') && !resolve(dirname(file), s).startsWith(join(simulator, 'src') + sep)),
      )
      .map(({ file, s }) => `${relative(ROOT, file)} imports ${s}`);
    expect(offending).toEqual([]);
    const manifest = JSON.parse(readFileSync(join(simulator, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    expect(Object.keys(manifest.dependencies ?? {}).filter((d) => d.startsWith('@licensor/'))).toEqual([
      '@licensor/shared',
    ]);
  });
});
