// The page of test/browser/search.normalize.test.ts: search normalization as the browser runs it.
import { TokumeiError } from '../../src/errors.ts';
import { normalizeSearchValue } from '../../src/search/normalize.ts';
import type { SearchMode } from '../../src/records/schema.ts';

/** Each value normalized under `mode`, or the error code it was refused with. */
function normalizeAll(mode: SearchMode, values: string[]): string[] {
  return values.map((v) => {
    try {
      return normalizeSearchValue(mode, v);
    } catch (err) {
      return err instanceof TokumeiError ? `!${err.code}` : `!${String(err)}`;
    }
  });
}

(globalThis as unknown as { normalizeAll: typeof normalizeAll }).normalizeAll = normalizeAll;
