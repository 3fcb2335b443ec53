// `npm run demo:audit`: checks what each environment's storage holds (see audit/check.ts).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { auditDemo, formatReport } from './audit/check.ts';
import { DEMO_CONFIG_FILE } from './seed/config.ts';

const dataDir = process.env.DEMO_DATA_DIR ?? '.demo-data';
if (!existsSync(join(dataDir, DEMO_CONFIG_FILE))) {
  console.error(`No seeded demo in ${dataDir}: run \`npm run demo\` first.`);
  process.exit(2);
}
const t0 = performance.now();
const report = await auditDemo(dataDir);
console.log(formatReport(report));
console.log(`(${((performance.now() - t0) / 1000).toFixed(1)} s)`);
process.exit(report.ok ? 0 : 1);
