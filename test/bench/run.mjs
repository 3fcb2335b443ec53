// `npm run bench`: every benchmark of the project, one after another, in one process where
// possible. Benchmarks never assert timings in tests; they print medians and ratios measured
// side by side in one run (the machines are shared and noisy).
import { existsSync } from 'node:fs';

const suites = ['records', 'search', 'delivery', 'session', 'master-keys'];
const only = process.argv.slice(2);
for (const name of suites) {
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
