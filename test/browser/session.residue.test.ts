// G4, measured in every engine (Chromium, Firefox, WebKit), memory persistence: after logoff,
// and after closing the tab, neither the member keys nor any subkey derived from them is in the
// memory of any process of that browser or in any file of its profile. Each scan is paired with
// a positive control: the same scan finds the keys while the member is signed in. No forced
// garbage collection and no navigation: the wipe alone must leave nothing, because a page stays
// alive after logoff until the portal navigates. The back/forward cache:
// session.residue-bfcache.test.ts; real key delivery and IndexedDB mode:
// session.residue-delivery.test.ts.
import { describe, expect, it } from 'vitest';
import { ENGINES } from './engines/engine.ts';
import { testKey } from './keys.ts';
import { scanFiles } from './residue.ts';
import { useResidueHarness } from './residue-harness.ts';

declare const tk: import('./page.ts').PageApi;

for (const engine of ENGINES) {
  describe(`zero residue in ${engine} (G4), memory mode`, () => {
    const h = useResidueHarness(engine);

    it('after logoff, no key or subkey in any process or profile file', async () => {
      const own = testKey('M000001.v1');
      const dependant = testKey('M000002.v1');
      const { names, needles } = h.needlesOf([own, dependant]);
      const page = await h.signedInPage('memory', [own, dependant]);
      await h.expectKeysFound(own, dependant, names, needles);

      await page.evaluate(() => tk.logoff());
      expect(await page.evaluate(() => tk.probe())).toBe('ERR_SESSION_CLOSED');
      // Scanned while the page is still open and has not navigated: a portal would go on to a
      // signed-out page, which only frees more. Measured: 0 hits here, and 1 per key before.
      expect(await h.scanMemory(names, needles)).toEqual({});
      expect(await scanFiles(h.browser.profileDir, needles)).toEqual({ hits: 0, files: [] });
    }, 240_000);

    it('after closing the tab, no key or subkey in any process or profile file', async () => {
      const own = testKey('M000001.v1');
      const dependant = testKey('M000002.v1');
      const { names, needles } = h.needlesOf([own, dependant]);
      const other = await h.newTab(); // keeps the browser running
      await other.goto(`${h.origin}/other`);
      const page = await h.signedInPage('memory', [own, dependant]);
      await h.expectKeysFound(own, dependant, names, needles);

      await h.closeTab(page, other);

      expect(await h.scanMemory(names, needles)).toEqual({});
      expect(await scanFiles(h.browser.profileDir, needles)).toEqual({ hits: 0, files: [] });
    }, 240_000);
  });
}
