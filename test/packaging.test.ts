// Packaging gates, run against the built dist/ (`npm test` builds first):
// publint and @arethetypeswrong/cli must be clean, the browser surface must stay within its
// gzip budget (test/size.mjs, also `npm run size`), and the typedoc reference must build
// without a warning.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

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
    for (const f of ['index.js', 'index.cjs', 'index.d.ts', 'index.d.cts', 'server.js', 'server.cjs', 'server.d.ts', 'server.d.cts', 'react.js', 'react.cjs', 'react.d.ts', 'react.d.cts', 'testing.js', 'testing.cjs', 'testing.d.ts', 'testing.d.cts']) {
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

  it('the browser surface stays within 17 KB gzip (npm run size)', { timeout: 120_000 }, async () => {
    const { code, output } = await outcome(process.execPath, ['test/size.mjs']);
    const gzip = /gzip [0-9.]+ KB \(([0-9]+) bytes\)/.exec(output);
    expect(gzip, output).not.toBeNull();
    expect(Number(gzip![1])).toBeLessThanOrEqual(17 * 1024);
    expect(code, output).toBe(0);
  });

  it('every relative link and image in the packed README and guides points at a file in the tarball', { timeout: 120_000 }, async () => {
    const { code, output } = await outcome('npm', ['pack', '--dry-run', '--json', '--ignore-scripts']);
    expect(code, output).toBe(0);
    const files = new Set((JSON.parse(output.slice(output.indexOf('['))) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path));
    const docs = [...files].filter((f) => f.endsWith('.md'));
    expect(docs).toEqual(expect.arrayContaining(['README.md', 'docs/format.md', 'docs/integration.md']));
    const broken: string[] = [];
    for (const doc of docs) {
      const text = readFileSync(join(root, doc), 'utf8');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!.split('#')[0]!;
        if (target === '' || /^[a-z]+:/i.test(target)) continue; // same-page anchors, absolute URLs
        const resolved = posix.normalize(posix.join(posix.dirname(doc), target));
        if (!files.has(resolved)) broken.push(`${doc} → ${m[1]}`);
      }
    }
    expect(broken).toEqual([]);
  });

  describe('the API reference (npm run docs)', () => {
    // One typedoc run with the options of `npm run docs` (package.json typedocOptions: warnings
    // are errors), writing the site and its JSON model.
    let dir: string;
    let built: Outcome;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tokumei-api-'));
      built = await outcome(bin('typedoc'), ['--out', join(dir, 'html'), '--json', join(dir, 'api.json')]);
    }, 180_000);
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('builds with no warning (TSDoc on every export)', () => {
      expect(built.output).not.toMatch(/\[warning\]|\[error\]/);
      expect(built.code, built.output).toBe(0);
    });

    it('opens on a landing page naming both entry points and linking every guide, which are part of the site', () => {
      const index = readFileSync(join(dir, 'html', 'index.html'), 'utf8');
      expect(index).toContain('Entry points');
      for (const module of ['tokumei', 'tokumei_server']) {
        expect(index).toContain(`modules/${module}.html`);
        expect(existsSync(join(dir, 'html', 'modules', `${module}.html`))).toBe(true);
      }
      const guides = readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md') && f !== 'api-home.md');
      expect(guides.length).toBeGreaterThanOrEqual(6);
      for (const guide of guides) {
        const page = `documents/${guide.replace(/\.md$/, '.html')}`;
        expect(index, guide).toContain(page);
        expect(existsSync(join(dir, 'html', page)), page).toBe(true);
      }
    });

    it('finds every error code in its search index', () => {
      const script = readFileSync(join(dir, 'html', 'assets', 'search.js'), 'utf8');
      const encoded = /"(eJ[A-Za-z0-9+/=]+)"/.exec(script)?.[1];
      expect(encoded).toBeDefined();
      const terms = new Set((JSON.parse(inflateSync(Buffer.from(encoded!, 'base64')).toString('utf8')) as { index: { invertedIndex: [string][] } }).index.invertedIndex.map((t) => t[0]));
      const codes = [...readFileSync(join(root, 'src', 'errors.ts'), 'utf8').matchAll(/^\s+\| '(ERR_[A-Z_]+)'/gm)].map((m) => m[1]!);
      expect(codes.length).toBeGreaterThanOrEqual(10);
      expect(codes.filter((c) => !terms.has(c.toLowerCase()))).toEqual([]);
    });

    it('every exported function and class has an @example importing from its public entry', () => {
      interface Tag { tag: string; content: { text: string }[] }
      interface Node { name: string; kind: number; children?: Node[]; comment?: { blockTags?: Tag[] }; signatures?: Node[] }
      const api = JSON.parse(readFileSync(join(dir, 'api.json'), 'utf8')) as Node;
      const missing: string[] = [];
      let checked = 0;
      for (const entry of (api.children ?? []).filter((c) => c.kind === 2)) {
        const path = entry.name; // modules are named after their import path (`@module` in each entry)
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
    });
  });
});
