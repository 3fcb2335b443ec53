// Search normalization gives the same answers in Chromium, Firefox and WebKit as in Node
// (docs/search.md §2): NFKC pinned to Unicode 14.0, whatever Unicode version each engine's own
// normalize() implements. The corpus holds every code point assigned after 14.0 that Node knows
// (alone and between a letter and a combining mark), the documented Japanese examples, and
// seeded random strings mixing Latin, kana, full- and half-width forms, combining marks and
// newer code points.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeSearchValue } from '../../src/search/normalize.ts';
import { ENGINES, launchEngine, type Browser } from './engines/engine.ts';
import { servePage, type PageServer } from './server.ts';

declare const normalizeAll: (mode: 'exact' | 'name-ja', values: string[]) => string[];

function corpus(): string[] {
  const out = ['ﾔﾏﾀﾞ ﾀﾛｳ', 'ヤマダ　タロウ', 'ヤマタ゛タロウ', '１２３４５６７８', ' 12345678 ', '㋿', 'ﾊﾟﾋﾟﾌﾟ', 'Å', 'ﬁ', 'e\u0301\u0323', 'ｶﾞｷﾞｸﾞ ｹﾞｺﾞ'];
  const unassigned = /\p{Cn}/u;
  const newer: number[] = [];
  // Code points of Unicode 15.0–17.0 blocks (assigned after 14.0), plus a few sure to be older.
  for (const [a, b] of [[0x0890, 0x089f], [0x1ac0, 0x1aff], [0xa7c0, 0xa7ff], [0x10500, 0x105ff], [0x10d40, 0x10d8f], [0x10ec0, 0x10eff], [0x11380, 0x113ff], [0x11f00, 0x11f5f], [0x16100, 0x1613f], [0x16d40, 0x16d7f], [0x1cc00, 0x1cebf], [0x1e030, 0x1e08f], [0x1e4d0, 0x1e4ff], [0x1e5d0, 0x1e5ff], [0x1e6c0, 0x1e6ff], [0x2ebf0, 0x2ee5f]] as const) {
    for (let cp = a; cp <= b; cp++) if (!unassigned.test(String.fromCodePoint(cp))) newer.push(cp);
  }
  for (const cp of newer) out.push(String.fromCodePoint(cp), `A${String.fromCodePoint(cp)}\u0301`);
  // Seeded random strings (xorshift), so every engine gets the same corpus.
  let x = 0x2545f491;
  const next = (n: number): number => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return (x >>> 0) % n;
  };
  const pool = [[0x20, 0x7e], [0x300, 0x36f], [0x3000, 0x30ff], [0xff00, 0xffef], [0x3099, 0x309c]] as const;
  for (let i = 0; i < 3000; i++) {
    let s = '';
    for (let j = 1 + next(8); j > 0; j--) {
      if (next(6) === 0) s += String.fromCodePoint(newer[next(newer.length)]!);
      else {
        const [a, b] = pool[next(pool.length)]!;
        s += String.fromCodePoint(a + next(b - a + 1));
      }
    }
    out.push(s);
  }
  return out;
}

let server: PageServer;
beforeAll(async () => {
  server = await servePage(new URL('./normalize.page.ts', import.meta.url).pathname);
});
afterAll(async () => {
  await server.close();
});

const values = corpus();
/** How many corpus values each engine's own normalize('NFKC') answers differently from Node's. */
const ownDiffers: Record<string, number> = {};
const expected = Object.fromEntries((['exact', 'name-ja'] as const).map((mode) => [mode, values.map((v) => normalizeSearchValue(mode, v))]));

for (const engine of ENGINES) {
  describe(`search normalization in ${engine}`, () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await launchEngine(engine);
    }, 120_000);
    afterAll(async () => {
      await browser?.close();
    });

    it('gives exactly the answers Node gives, for every value of the corpus, in both modes', async () => {
      const tab = await browser.newTab();
      await tab.goto(`${server.origin}/app`);
      await tab.waitFor(() => 'normalizeAll' in globalThis);
      expect(values.length).toBeGreaterThan(5000);
      for (const mode of ['exact', 'name-ja'] as const) {
        const got: string[] = [];
        for (let i = 0; i < values.length; i += 1000) got.push(...(await tab.evaluate((a) => normalizeAll(a.mode, a.values), { mode, values: values.slice(i, i + 1000) })));
        const differ = got.flatMap((g, i) => (g === expected[mode]![i] ? [] : [`${JSON.stringify(values[i])} → ${JSON.stringify(g)}, Node ${JSON.stringify(expected[mode]![i])}`]));
        expect(differ, `${engine} ${browser.version}, ${mode}`).toEqual([]);
      }
      const own = await tab.evaluate((vs) => vs.map((v) => v.normalize('NFKC')), values.slice(0, 2000));
      ownDiffers[engine] = own.filter((o, i) => o !== values[i]!.normalize('NFKC')).length;
    }, 180_000);
  });
}

describe('the positive control', () => {
  it('some engine\'s own NFKC differs from Node\'s on the corpus (measured: WebKitGTK 2.50, 83 of 2,000)', () => {
    expect(Object.keys(ownDiffers).sort()).toEqual([...ENGINES].sort());
    expect(Math.max(...Object.values(ownDiffers))).toBeGreaterThan(0);
  });
});
