#!/usr/bin/env node
// Type-checks TypeScript projects (`tsc -p <project> --noEmit` each) in one process, one program after the other,
// sharing the parsed and bound declaration files between them: TypeScript's own lib files, @types/node, zod, … and the
// workspace sources that more than one program includes. Each program still checks every one of its files with its
// own options (lib, types, jsx) and its own type checker, as `tsc -p` does; only the parse (and the binding, which
// TypeScript keeps on the file) is shared, as its language service shares them between projects. Diagnostics are
// printed as `tsc` prints them without a terminal; the exit code is 1 when any program has an error.
//
//   node scripts/typecheck.mjs tsconfig.check.json packages/console/tsconfig.json …
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

const require = createRequire(import.meta.url);
const ts = require('typescript');

/** Checks each project; returns the number of error diagnostics, having printed every diagnostic. */
export function typecheck(projects, { cwd = process.cwd(), write = (s) => process.stdout.write(s) } = {}) {
  const parsedFiles = new Map();
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
      // the options that decide whether it is a module (moduleDetection, jsx).
      host.getSourceFile = (fileName, how, onError, fresh) => {
        const v = typeof how === 'object' ? how : { languageVersion: how };
        const key = [fileName, v.languageVersion, v.impliedNodeFormat, options.moduleDetection, options.jsx].join('|');
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

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  const projects = process.argv.slice(2);
  if (projects.length === 0) {
    console.error('usage: node scripts/typecheck.mjs <tsconfig.json> …');
    process.exit(2);
  }
  process.exitCode = typecheck(projects) > 0 ? 1 : 0;
}
