#!/usr/bin/env node
// Entry of `npm run demo` and `npm run demo:audit`. Bundles the demo's TypeScript with esbuild
// (the services for Node, the portal for the browser; tokumei itself is bundled from src/, so
// no build step is needed first), then runs the launcher or the audit.
//
//   node examples/portal/demo.mjs          start the demo (PORT sets the portal's port)
//   node examples/portal/demo.mjs audit    check what each environment's storage holds
//   node examples/portal/demo.mjs seed     only seed the data folder (DEMO_MEMBERS sets how many)
//
// TOKUMEI_DEMO_DATA sets the data folder (default: .demo-data/ at the repository root).
// TOKUMEI_DEMO_KEYLOG=<file> makes the key environment log delivered member keys (tests only).
// TOKUMEI_DEMO_MASTER_KEY=softhsm2 puts the key environment's master key in a SoftHSM2 token.
// KEY_ENV_DATABASE_URL / DATA_ENV_DATABASE_URL put an environment's database on a PostgreSQL
// server (default: an embedded PGlite directory each); the two must name different databases.
import { build, stop as stopEsbuild } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = resolve(here, '../..');
const dataDir = resolve(process.env.TOKUMEI_DEMO_DATA ?? join(root, '.demo-data'));
const buildDir = join(dataDir, 'build');
const command = process.argv[2] ?? 'start';
if (command !== 'start' && command !== 'audit' && command !== 'seed') {
  console.error('usage: node examples/portal/demo.mjs [start|audit|seed]');
  process.exit(2);
}

mkdirSync(join(buildDir, 'web'), { recursive: true });
// The databases' drivers (PGlite with its WebAssembly, pg) are not bundled: tokumei loads them at
// run time, and the bundles find them through this link to the repository's node_modules.
if (!existsSync(join(buildDir, 'node_modules'))) symlinkSync(join(root, 'node_modules'), join(buildDir, 'node_modules'), 'dir');
const node = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outdir: buildDir,
  outExtension: { '.js': '.mjs' },
  logLevel: 'warning',
  external: ['@electric-sql/pglite', 'pg'],
  // Bundled ESM still meets a few CommonJS `require`s of Node built-ins.
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
};
const entries = (names) => Object.fromEntries(names.map(([name, path]) => [name, join(here, path)]));
await Promise.all([
  build({
    ...node,
    entryPoints: entries(
      command === 'audit'
        ? [['audit', 'audit.ts']]
        : command === 'seed'
          ? [['seed', 'seed/seed.ts']]
          : [
            ['launcher', 'launcher.ts'],
            ['seed', 'seed/seed.ts'],
            ['sso', 'sso/server.ts'],
            ['key-env', 'key-env/server.ts'],
            ['data-env', 'data-env/server.ts'],
          ],
    ),
  }),
  command !== 'start'
    ? undefined
    : build({
        entryPoints: { main: join(here, 'web/main.ts') },
        bundle: true,
        platform: 'browser',
        format: 'esm',
        target: 'es2022',
        outdir: join(buildDir, 'web'),
        sourcemap: true,
        minify: true,
        logLevel: 'warning',
      }),
]);
await stopEsbuild(); // the bundles are written: no need to keep esbuild's service running
if (command === 'start') copyFileSync(join(here, 'web/index.html'), join(buildDir, 'web/index.html'));

process.env.DEMO_DATA_DIR = dataDir;
await import(pathToFileURL(join(buildDir, { start: 'launcher.mjs', audit: 'audit.mjs', seed: 'seed.mjs' }[command])).href);
