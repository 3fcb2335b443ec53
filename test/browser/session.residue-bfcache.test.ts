// G4 in every engine, continued (see session.residue.test.ts for the method): a page sitting in
// the back/forward cache holds no key. (IndexedDB mode: session.residue-delivery.test.ts.)
import { describe, expect, it } from 'vitest';
import { ENGINES } from './engines/engine.ts';
import { testKey } from './keys.ts';
import { useResidueHarness } from './residue-harness.ts';

declare const tk: import('./page.ts').PageApi;

for (const engine of ENGINES) {
  describe(`zero residue in ${engine} (G4), the back/forward cache`, () => {
    const h = useResidueHarness(engine);

    it('memory: while the page sits in the back/forward cache, no key or subkey in any process', async () => {
      const own = testKey('M000001.v1');
      const dependant = testKey('M000002.v1');
      const { names, needles } = h.needlesOf([own, dependant]);
      const page = await h.signedInPage('memory', [own, dependant]);
      await h.expectKeysFound(own, dependant, names, needles);

      await page.goto(`${h.origin}/other`); // the app page enters the cache, alive but frozen
      expect(await h.scanMemory(names, needles)).toEqual({});

      // Proof that the scanned document was in the cache (not discarded): it comes back.
      await page.back();
      await page.waitFor(() => 'tk' in globalThis && tk.status().restoredFromBfcache);
      expect(await page.evaluate(() => tk.status())).toMatchObject({ state: 'closed', events: ['pagehide'] });
    }, 240_000);
  });
}
