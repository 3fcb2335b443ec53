// Packaging gates, run against the built dist/ (`npm test` builds first):
// publint and @arethetypeswrong/cli must be clean, the browser surface must stay within its
// gzip budget (test/size.mjs, also `npm run size`), and the typedoc reference must build
// without a warning.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

  it('the API reference builds with no warning (npm run docs: TSDoc on every export)', { timeout: 120_000 }, async () => {
    const out = mkdtempSync(join(tmpdir(), 'tokumei-api-'));
    try {
      // Same options as `npm run docs` (package.json typedocOptions: warnings are errors).
      const { code, output } = await outcome(bin('typedoc'), ['--out', out]);
      expect(output).not.toMatch(/\[warning\]|\[error\]/);
      expect(existsSync(join(out, 'index.html')), output).toBe(true);
      expect(code, output).toBe(0);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('every exported function and class has an @example importing from its public entry', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokumei-api-json-'));
    try {
      const { code, output } = await outcome(bin('typedoc'), ['--json', join(dir, 'api.json'), '--out', join(dir, 'html')]);
      expect(code, output).toBe(0);
      interface Tag { tag: string; content: { text: string }[] }
      interface Node { name: string; kind: number; children?: Node[]; comment?: { blockTags?: Tag[] }; signatures?: Node[] }
      const api = JSON.parse(readFileSync(join(dir, 'api.json'), 'utf8')) as Node;
      const missing: string[] = [];
      let checked = 0;
      for (const entry of api.children ?? []) {
        const path = entry.name === 'index' ? 'tokumei' : `tokumei/${entry.name}`;
        for (const item of entry.children ?? []) {
          if (item.kind !== 64 && item.kind !== 128) continue; // functions and classes
          checked++;
          const tags = [...(item.comment?.blockTags ?? []), ...(item.signatures ?? []).flatMap((s) => s.comment?.blockTags ?? [])];
          const examples = tags.filter((t) => t.tag === '@example').map((t) => t.content.map((c) => c.text).join(''));
          if (!examples.some((e) => e.includes(`from '${path}'`) || e.includes(`from 'tokumei'`))) missing.push(`${path}: ${item.name}`);
        }
      }
      expect(checked).toBeGreaterThan(20);
      expect(missing).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
