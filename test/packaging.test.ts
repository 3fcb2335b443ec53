// Packaging gates (issue 7 §4), run against the built dist/ (`npm test` builds first):
// publint and @arethetypeswrong/cli must be clean, and the browser surface must stay within its
// gzip budget (test/size.mjs, also `npm run size`).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;
const bin = (name: string): string => `${root}node_modules/.bin/${name}`;

interface Outcome {
  code: number;
  output: string;
}

async function outcome(file: string, args: string[]): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run(file, args, { cwd: root, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('packaging', () => {
  it('has a build to check', () => {
    for (const f of ['index.js', 'index.cjs', 'index.d.ts', 'index.d.cts', 'server.js', 'server.cjs', 'server.d.ts', 'server.d.cts']) {
      expect(existsSync(`${root}dist/${f}`), `dist/${f} (run npm run build)`).toBe(true);
    }
  });

  it('publint --strict finds nothing', { timeout: 120_000 }, async () => {
    const { code, output } = await outcome(bin('publint'), ['--strict']);
    expect(output).toContain('All good');
    expect(code, output).toBe(0);
  });

  it('@arethetypeswrong/cli finds no problem in any resolution mode', { timeout: 120_000 }, async () => {
    const { code, output } = await outcome(bin('attw'), ['--pack', '.', '--format', 'ascii']);
    expect(output).toContain('No problems found');
    expect(code, output).toBe(0);
  });

  it('the browser surface stays within 16 KB gzip (npm run size)', { timeout: 120_000 }, async () => {
    const { code, output } = await outcome(process.execPath, ['test/size.mjs']);
    const gzip = /gzip [0-9.]+ KB \(([0-9]+) bytes\)/.exec(output);
    expect(gzip, output).not.toBeNull();
    expect(Number(gzip![1])).toBeLessThanOrEqual(16 * 1024);
    expect(code, output).toBe(0);
  });
});
