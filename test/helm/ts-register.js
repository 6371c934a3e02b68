/**
 * `node -r ./test/helm/ts-register.js gateway/src/cli.ts …` runs the CLI from its TypeScript
 * sources, transpiled on load by swc (as jest does), so tests can start the real process without
 * a fresh `npm run build`.
 */
const { readFileSync } = require('node:fs');
const Module = require('node:module');
const { transformSync } = require('@swc/core');

Module._extensions['.ts'] = function compileTs(module, filename) {
  const { code } = transformSync(readFileSync(filename, 'utf8'), {
    filename,
    jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  });
  module._compile(code, filename);
};
