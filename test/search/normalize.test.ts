import { describe, expect, it } from 'vitest';
import { normalizeSearchValue } from '../../src/search/normalize.ts';

describe("normalizeSearchValue 'name-ja'", () => {
  const cases: [string, string][] = [
    ['ﾔﾏﾀﾞ ﾀﾛｳ', 'やまだたろう'], // half-width katakana, voiced mark composed
    ['ヤマダ　タロウ', 'やまだたろう'], // full-width katakana, ideographic space
    ['やまだたろう', 'やまだたろう'],
    ['  やまだ たろう  ', 'やまだたろう'],
    ['ヤマタ゛タロウ', 'やまだたろう'], // spacing voiced mark U+309B
    ['ﾊﾟﾋﾟﾌﾟﾍﾟﾎﾟ', 'ぱぴぷぺぽ'],
    ['ヴァイオリン', 'ゔぁいおりん'],
    ['ヶ月ヽヾ', 'ゖ月ゝゞ'],
    ['ヷ', 'ヷ'], // no hiragana counterpart: kept
    ['ラーメン', 'らーめん'], // prolonged sound mark kept
    ['ＡＢＣ　１２３', 'ABC123'],
    ['山田 太郎', '山田太郎'], // kanji untouched
    ['', ''],
  ];
  for (const [input, expected] of cases) {
    it(`"${input}" → "${expected}"`, () => expect(normalizeSearchValue('name-ja', input)).toBe(expected));
  }
});

describe("normalizeSearchValue 'exact'", () => {
  const cases: [string, string][] = [
    ['  12345678 ', '12345678'],
    ['１２３４５６７８', '12345678'],
    ['\u3000ヤマダ タロウ\u3000', 'ヤマダ タロウ'], // NFKC + trim only: inner space and katakana kept
    ['ﾔﾏﾀﾞ', 'ヤマダ'],
    ['Taro@Example.jp', 'Taro@Example.jp'], // no case folding
    ['①', '1'],
  ];
  for (const [input, expected] of cases) {
    it(`"${input}" → "${expected}"`, () => expect(normalizeSearchValue('exact', input)).toBe(expected));
  }
});
