// Normalization of a value before it is tagged or searched for (docs/search.md §2). Both sides
// normalize the same way, so values that a person would call "the same" give the same token.
import type { SearchMode } from '../records/schema.ts';

// Katakana U+30A1 (ァ) … U+30F6 (ヶ) and the iteration marks U+30FD/U+30FE (ヽ ヾ) sit exactly
// 0x60 above their hiragana counterparts U+3041 … U+3096 and U+309D/U+309E. ヷ–ヺ (U+30F7–U+30FA)
// have no precomposed hiragana and stay as they are; so does the prolonged sound mark ー.
const KATAKANA = /[\u30A1-\u30F6\u30FD\u30FE]/g;
// After NFKC an ideographic space U+3000 has become U+0020; both are listed for clarity.
const SPACES = /[\u0020\u3000]/g;

function toHiragana(ch: string): string {
  return String.fromCharCode(ch.charCodeAt(0) - 0x60);
}

/**
 * The canonical form of `value` under `mode`:
 * - `'exact'`: Unicode NFKC, then leading and trailing white space trimmed.
 * - `'name-ja'`: NFKC (full-width Latin and digits become ASCII, half-width katakana become
 *   full-width with voiced marks composed), katakana folded to hiragana, every U+0020 and U+3000
 *   removed — `ﾔﾏﾀﾞ ﾀﾛｳ`, `ヤマダ　タロウ` and `やまだたろう` all become `やまだたろう`.
 *   Kanji are left alone: matching kanji to a reading is out of scope.
 */
export function normalizeSearchValue(mode: SearchMode, value: string): string {
  const nfkc = value.normalize('NFKC');
  if (mode === 'exact') return nfkc.trim();
  // NFKC again after removing spaces: NFKC maps a spacing voiced mark ゛ (U+309B) to
  // U+0020 U+3099, so "タ゛" becomes "た\u3099" here, which must compose to "だ" as "ダ" does.
  return nfkc.replace(KATAKANA, toHiragana).replace(SPACES, '').normalize('NFKC');
}
