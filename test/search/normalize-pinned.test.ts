// Search normalization pinned to Unicode 14.0 (docs/search.md §2): NFKC results differ between
// runtimes for code points assigned in newer Unicode versions (99 differ between 14.0 and 17.0),
// so tags made in one browser would not match tokens made in another. Checked here against the
// runtime the test runs in, with Unicode 14.0's assigned code points as data
// (test/vectors/unicode/assigned-14.0.json); test/browser/search.normalize.test.ts checks that
// Chromium, Firefox and WebKit give the same answers as Node.
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { nfkc14, normalizeSearchValue } from '../../src/search/normalize.ts';

const data = JSON.parse(readFileSync(new URL('../vectors/unicode/assigned-14.0.json', import.meta.url), 'utf8')) as { unicodeVersion: string; assigned: [number, number][] };
const in14 = (cp: number): boolean => {
  let lo = 0;
  let hi = data.assigned.length - 1;
  while (lo <= hi) {
    const m = (lo + hi) >> 1;
    const [a, b] = data.assigned[m]!;
    if (cp < a) hi = m - 1;
    else if (cp > b) lo = m + 1;
    else return true;
  }
  return false;
};
const ch = (cp: number): string => String.fromCodePoint(cp);
const hex = (cp: number): string => `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;

/** Code points this runtime assigns that Unicode 14.0 did not. */
function assignedAfter14(): number[] {
  const unassigned = /\p{Cn}/u;
  const out: number[] = [];
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    if (!in14(cp) && !unassigned.test(ch(cp))) out.push(cp);
  }
  return out;
}

describe('search normalization is NFKC as of Unicode 14.0, in any runtime', () => {
  it(`the data is Unicode 14.0.0 and this runtime is at least as new (${process.versions.unicode ?? '?'})`, () => {
    expect(data.unicodeVersion).toBe('14.0.0');
    expect(Number.parseFloat(process.versions.unicode ?? '0')).toBeGreaterThanOrEqual(14);
  });

  it('every code point assigned after 14.0 is left as it is, alone and between others', () => {
    const after = assignedAfter14();
    expect(after.length).toBeGreaterThan(10_000); // Unicode 15.0–17.0 added about 15,000
    const wrong: string[] = [];
    for (const cp of after) {
      const c = ch(cp);
      // Alone; after a base letter and before a combining mark (nothing composes across it).
      if (nfkc14(c) !== c || nfkc14(`A${c}\u0301`) !== `A${c}\u0301`) wrong.push(hex(cp));
    }
    // A failure here means this runtime implements a Unicode version newer than 17.0 and assigned
    // code points whose normalization is not inert: add them to AFTER_14 in src/search/normalize.ts.
    expect(wrong, `normalized differently from Unicode 14.0: ${wrong.slice(0, 20).join(' ')}`).toEqual([]);
  });

  it('without the pinning, this runtime\'s own NFKC would differ on some of them (the positive control)', () => {
    const differ = assignedAfter14().filter((cp) => ch(cp).normalize('NFKC') !== ch(cp));
    expect(differ.length).toBeGreaterThan(50); // 99 between 14.0 and 17.0
    expect(nfkc14('x\u{1E030}')).toBe('x\u{1E030}'); // Cyrillic modifier small a (15.0)
    expect('x\u{1E030}'.normalize('NFKC')).toBe('x\u0430');
  });

  it('what 14.0 knows is normalized as before: the documented examples', () => {
    for (const v of ['ﾔﾏﾀﾞ ﾀﾛｳ', 'ヤマダ　タロウ', 'やまだたろう', 'ヤマタ゛タロウ', 'ﾔﾏﾀﾞ　ﾀﾛｳ']) expect(normalizeSearchValue('name-ja', v)).toBe('やまだたろう');
    for (const v of ['１２３４５６７８', ' 12345678 ', '12345678']) expect(normalizeSearchValue('exact', v)).toBe('12345678');
    expect(normalizeSearchValue('exact', '㋿')).toBe('令和'); // U+32FF, Unicode 12.1
    expect(normalizeSearchValue('exact', 'e\u0301')).toBe('é');
  });

  it('a runtime older than 14.0 refuses a value holding a code point it does not know, and normalizes the rest', async () => {
    vi.resetModules();
    const real = String.prototype.normalize;
    // Pretend to be a Unicode 13 runtime: U+10781 (14.0) unknown, so left as it is.
    String.prototype.normalize = function (this: string, form?: string) {
      return this === '\u{10781}' ? this : real.call(this, form);
    };
    try {
      const { nfkc14: old } = await import('../../src/search/normalize.ts');
      expect(old('ﾀﾞ')).toBe('ダ');
      expect(() => old('a\u0378')).toThrow(expect.objectContaining({ code: 'ERR_FORMAT' }) as Error); // U+0378 is unassigned
    } finally {
      String.prototype.normalize = real;
      vi.resetModules();
    }
  });
});
