#!/usr/bin/env node
// Type-checks TypeScript projects (`tsc -p <project> --noEmit` each) in one process, one program after the other,
// sharing the parsed and bound declaration files between them: TypeScript's own lib files, @types/node, zod, … and the
// workspace sources that more than one program includes. Each program still checks every one of its files with its
// own options (lib, types, jsx) and its own type checker, as `tsc -p` does; only the parse (and the binding, which
// TypeScript keeps on the file) is shared, as its language service shares them between projects. Diagnostics are
// printed as `tsc` prints them without a terminal; the exit code is 1 when any program has an error.
//
//   node scripts/typecheck.mjs tsconfig.check.json packages/console/tsconfig.json …
//   node scripts/typecheck.mjs --all    (the programs of `npm test`, scripts/checks.mjs TYPE_CHECKED)
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const ts = require('typescript');

/** Checks each project; returns the number of error diagnostics, having printed every diagnostic. */
export function typecheck(projects, { cwd = process.cwd(), write = (s) => process.stdout.write(s) } = {}) {
  const parsedFiles = new Map();
  // The key TypeScript's language service shares files under: every option that changes a file's parse or binding
  // (ts.sourceFileAffectingCompilerOptions: module, moduleResolution, strictness, jsx, allowUnreachableCode…).
  const registry = ts.createDocumentRegistry();
  const formatHost = {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => cwd,
    getNewLine: () => ts.sys.newLine,
  };
  let errors = 0;
  for (const project of projects) {
    const diagnostics = [];
    const config = ts.getParsedCommandLineOfConfigFile(
      resolve(cwd, project),
      { noEmit: true },
      { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => diagnostics.push(d) },
    );
    if (config) {
      const { options } = config;
      const host = ts.createCompilerHost(options);
      const read = host.getSourceFile;
      // What a file's parse (and binding) depends on besides its text: the language version, the module format, and
      // every option that affects a source file (the registry's key for these settings).
      const settings = registry.getKeyForCompilationSettings(options);
      host.getSourceFile = (fileName, how, onError, fresh) => {
        const v = typeof how === 'object' ? how : { languageVersion: how };
        const key = [fileName, v.languageVersion, v.impliedNodeFormat, v.jsDocParsingMode, settings].join('|');
        let file = fresh ? undefined : parsedFiles.get(key);
        if (!file) {
          file = read(fileName, how, onError, fresh);
          if (file) parsedFiles.set(key, file);
        }
        return file;
      };
      const program = ts.createProgram({
        rootNames: config.fileNames,
        options,
        host,
        projectReferences: config.projectReferences,
        configFileParsingDiagnostics: ts.getConfigFileParsingDiagnostics(config),
      });
      diagnostics.push(...ts.getPreEmitDiagnostics(program));
    }
    if (diagnostics.length > 0) write(`${project}:\n${ts.formatDiagnostics(diagnostics, formatHost)}`);
    errors += diagnostics.filter((d) => d.category === ts.DiagnosticCategory.Error).length;
  }
  return errors;
}

// fileURLToPath, not the URL's pathname: that is percent-encoded (a space, a Chinese user name in the path), and a
// mismatch here would check nothing and exit 0.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  // --all: the programs `npm test` checks (scripts/checks.mjs), for `npm run typecheck`: one list for both.
  const projects = args.length === 1 && args[0] === '--all' ? (await import('./checks.mjs')).TYPE_CHECKED : args;
  if (projects.length === 0) {
    console.error('usage: node scripts/typecheck.mjs --all | <tsconfig.json> …');
    process.exit(2);
  }
  process.exitCode = typecheck(projects) > 0 ? 1 : 0;
}
