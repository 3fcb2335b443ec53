// Every TypeScript snippet of the documentation compiles against the library as it is: the
// ```ts fences of README.md and docs/*.md and the @example blocks of the TSDoc comments in src/.
// Each snippet is its own module; `tokumei` and `tokumei/<subpath>` resolve to src/. The names a
// snippet uses without defining them (`key`, `sealed`, `memberSchema`, …) are declared once in
// test/docs/snippet-prelude.d.ts. A snippet that is deliberately not valid TypeScript (pseudo
// code, a fragment) says so on its fence: ```ts skip-check.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { collectSnippets, type Snippet } from './snippets.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const prelude = join(root, 'test/docs/snippet-prelude.d.ts');
const app = join(root, 'test/docs/snippet-app.ts');

const options: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  lib: ['lib.es2022.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
  types: ['node'],
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  allowImportingTsExtensions: true,
  jsx: ts.JsxEmit.ReactJSX,
  baseUrl: root,
  paths: { tokumei: ['src/index.ts'], 'tokumei/*': ['src/*.ts', 'src/*/index.ts'] },
};

/** Compiles every snippet in one program; returns the errors of each, as `file:line: TSnnnn message`. */
function compile(snippets: Snippet[]): string[][] {
  // Relative imports (the application's own modules) resolve to snippet-app.ts.
  const code = (s: Snippet): string => s.code.replace(/(from\s+|import\()'\.{1,2}\/[^']*'/g, `$1'${app}'`);
  const virtual = new Map(snippets.map((s, i) => [join(root, `.snippets/snippet-${i}.${s.tsx ? 'tsx' : 'ts'}`), `${code(s)}\nexport {};\n`]));
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, lang, onError, create) => {
    const text = virtual.get(name);
    return text !== undefined ? ts.createSourceFile(name, text, lang, true) : getSourceFile.call(host, name, lang, onError, create);
  };
  host.fileExists = (name) => virtual.has(name) || fileExists.call(host, name);
  host.readFile = (name) => virtual.get(name) ?? readFile.call(host, name);
  host.getCurrentDirectory = () => root;
  const names = [...virtual.keys()];
  const program = ts.createProgram([prelude, ...names], options, host);
  const preludeErrors = ts.getPreEmitDiagnostics(program, program.getSourceFile(prelude));
  if (preludeErrors.length > 0) throw new Error(`snippet-prelude.d.ts: ${ts.flattenDiagnosticMessageText(preludeErrors[0]!.messageText, '\n')}`);
  return names.map((name, i) => {
    const s = snippets[i]!;
    return ts.getPreEmitDiagnostics(program, program.getSourceFile(name)).map((d) => {
      const { line } = d.file !== undefined && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : { line: 0 };
      const where = d.file?.fileName === name ? `${s.file}:${s.line + line}` : `${s.file}:${s.line} (in ${d.file?.fileName ?? '?'})`;
      return `${where}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, '\n  ')}`;
    });
  });
}

const HINT = [
  'A documentation snippet does not type-check against the library.',
  '- Fix the snippet (or the API) so it compiles.',
  '- A name the snippet uses without defining it ("Cannot find name") is declared once in test/docs/snippet-prelude.d.ts: add it there.',
  '- A fence that is deliberately not valid TypeScript says so: ```ts skip-check (and the text says why).',
].join('\n');

describe('documentation snippets type-check (README.md, docs/*.md, TSDoc @example in src/)', () => {
  const snippets = collectSnippets(root);
  const checked = snippets.filter((s) => !s.skipped);
  // Two broken snippets compiled with the others: the positive control.
  const probes: Snippet[] = [
    { file: 'probe.md', line: 1, tsx: false, skipped: false, code: "import { openRecord } from 'tokumei';\nconst me = openRecord(key, memberSchema, sealed, { recordId: 'M1' });\nme.fulName;" },
    { file: 'probe.md', line: 10, tsx: false, skipped: false, code: 'notDeclaredAnywhere();' },
  ];
  let results: string[][] = [];
  beforeAll(() => {
    results = compile([...checked, ...probes]);
  }, 120_000);

  it('finds the snippets (README, every guide with code, the TSDoc examples)', () => {
    const files = new Set(checked.map((s) => s.file));
    expect(checked.length).toBeGreaterThan(40);
    for (const f of ['README.md', 'docs/search.md', 'src/records/record.ts', 'src/records/schema.ts']) expect(files, f).toContain(f);
  });

  it('every snippet compiles', () => {
    const errors = results.slice(0, checked.length).flat();
    expect(errors, `${HINT}\n\n${errors.join('\n')}`).toEqual([]);
  });

  it('the check sees a broken snippet (the positive control): a typo in a field, an unknown name', () => {
    const [typo, unknown] = results.slice(checked.length);
    expect(typo!.join('\n')).toMatch(/^probe\.md:3: TS2551 Property 'fulName' does not exist/);
    expect(unknown!.join('\n')).toMatch(/^probe\.md:10: TS2304 Cannot find name 'notDeclaredAnywhere'/);
  });
});
