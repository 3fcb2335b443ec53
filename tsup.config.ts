import type { Options } from 'tsup';

// Two entry points: `tokumei` (browser and Node) and `tokumei/server` (Node, the key
// environment's toolkit). ESM + CJS + declarations for each; nothing is minified so that a
// reviewer can read what ships.
const config: Options = {
  entry: { index: 'src/index.ts', server: 'src/server.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'es2022',
  // Shared chunks: one MemberKey class for both entries, so `instanceof` holds across them.
  splitting: true,
  treeshake: true,
};

export default config;
