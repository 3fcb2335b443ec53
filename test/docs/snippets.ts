// Finds every TypeScript snippet of the documentation: ```ts / ```tsx fences in README.md and
// docs/*.md, and in the @example blocks of TSDoc comments under src/. Used by snippets.test.ts.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** One snippet: where it is (file and the line of its first code line) and its code. */
export interface Snippet {
  file: string;
  line: number;
  code: string;
  tsx: boolean;
  /** The fence says `skip-check`: shown, not compiled (say why next to it). */
  skipped: boolean;
}

const FENCE = /^(\s*)```(ts|tsx|typescript)\b(.*)$/;

/** Snippets in lines of text; `strip` removes a comment prefix (` * ` in TSDoc) from each line. */
function fromLines(file: string, lines: string[], strip: (line: string) => string): Snippet[] {
  const out: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = FENCE.exec(strip(lines[i]!));
    if (m === null) continue;
    const code: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(strip(lines[j]!)); j++) code.push(strip(lines[j]!));
    out.push({ file, line: i + 2, code: code.join('\n'), tsx: m[2] === 'tsx', skipped: /\bskip-check\b/.test(m[3]!) });
    i = j;
  }
  return out;
}

function walk(dir: string, ext: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name), ext) : e.name.endsWith(ext) ? [join(dir, e.name)] : [],
  );
}

/** Every snippet of the repository at `root`. */
export function collectSnippets(root: string): Snippet[] {
  const markdown = [join(root, 'README.md'), ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(root, 'docs', f))];
  const snippets: Snippet[] = [];
  for (const path of markdown) snippets.push(...fromLines(relative(root, path), readFileSync(path, 'utf8').split('\n'), (l) => l));
  for (const path of walk(join(root, 'src'), '.ts').concat(walk(join(root, 'src'), '.tsx'))) {
    const lines = readFileSync(path, 'utf8').split('\n');
    // Only inside /** … */ comments; the ` * ` prefix of each line is removed.
    let inDoc = false;
    const docLines = lines.map((l) => {
      if (/^\s*\/\*\*/.test(l)) inDoc = true;
      const line = inDoc ? l : '';
      if (l.includes('*/')) inDoc = false;
      return line;
    });
    snippets.push(...fromLines(relative(root, path), docLines, (l) => l.replace(/^\s*\*( |$)/, '')));
  }
  return snippets;
}
