import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Options } from 'tsup';

// Entry points: `tokumei` (browser and Node), `tokumei/server` (Node, the key environment's
// toolkit), `tokumei/react` (React bindings; React is a peer dependency, never bundled) and
// `tokumei/testing` (test doubles: a fake key environment, deterministic keys).
// Nothing is minified so that a reviewer can read what ships.
const entry: Record<string, string> = { index: 'src/index.ts', server: 'src/server.ts', react: 'src/react.ts', testing: 'src/testing.ts' };

/**
 * One implementation behind `import` and `require`. Two copies of the library in one process
 * (one loaded by `require`, one by `import`) would each have their own `MemberKey`, `Keyring`
 * and `TokumeiError` classes: a key made by one copy would not work with the other's functions,
 * and `instanceof TokumeiError` would be false across them. So the ESM build is the only
 * implementation, and each `.cjs` entry re-exports it through `require(esm)`, which Node runs
 * without a flag from 20.19 (the `engines` minimum): a `require` and an `import` of tokumei get
 * the very same module. tsup still writes the CommonJS declarations (`.d.cts`); the CommonJS
 * JavaScript it writes is replaced here.
 */
function cjsReExportsEsm(): void {
  for (const file of readdirSync('dist')) {
    if (/^chunk-.*\.cjs(\.map)?$/.test(file) || /\.cjs\.map$/.test(file)) rmSync(join('dist', file));
  }
  for (const name of Object.keys(entry)) {
    writeFileSync(
      join('dist', `${name}.cjs`),
      `'use strict';\n// One implementation for require and import: this re-exports the ESM build (require(esm), Node >= 20.19).\nmodule.exports = require('./${name}.js');\n`,
    );
  }
}

const config: Options = {
  entry,
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'es2022',
  // Shared chunks: one MemberKey class for every entry, so `instanceof` holds across them.
  splitting: true,
  treeshake: true,
  onSuccess: async () => cjsReExportsEsm(),
};

export default config;
