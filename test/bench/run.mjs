// `npm run bench`: every benchmark of the project, one after another, in one process where
// possible. Benchmarks never assert timings in tests; they print medians and ratios measured
// side by side in one run (the machines are shared and noisy).
//   npm run bench [-- <name> ...]   the default benchmarks (a few minutes), or only those named
//   npm run bench -- --scale [scale.mjs options]   the 500,000-member benchmarks (scale.mjs;
//     about half an hour per store the first time, which builds the data set in .bench-data/)
import { existsSync } from 'node:fs';

const suites = ['records', 'search', 'delivery', 'session', 'master-keys'];
// Run only when asked for by their flag: they take far longer than the default run.
const heavy = { '--scale': 'scale' };
const args = process.argv.slice(2);
const flagged = Object.entries(heavy).filter(([flag]) => args.includes(flag)).map(([, name]) => name);
const only = flagged.length > 0 ? flagged : args.filter((a) => !a.startsWith('--'));
for (const name of flagged.length > 0 ? flagged : suites) {
  if (only.length > 0 && !only.includes(name)) continue;
  const file = new URL(`./${name}.mjs`, import.meta.url);
  if (!existsSync(file)) {
    console.log(`${name}: no benchmark yet`);
    continue;
  }
  const mod = await import(file.href);
  await mod.run();
  console.log('');
}
