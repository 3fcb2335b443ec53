// G4 in real Chromium, continued (see session.residue.test.ts for the method): a page sitting
// in the back/forward cache holds no key. (IndexedDB mode: session.residue-delivery.test.ts.)
import { describe, expect, it } from 'vitest';
import { testKey } from './keys.ts';
import { useResidueHarness } from './residue-harness.ts';

declare const tk: import('./page.ts').PageApi;

const h = useResidueHarness();

describe('zero residue in Chromium (G4), the back/forward cache', () => {
  it('memory: while the page sits in the back/forward cache, no key or subkey in any process', async () => {
    const own = testKey('M000001.v1');
    const dependant = testKey('M000002.v1');
    const { names, needles } = h.needlesOf([own, dependant]);
    const page = await h.signedInPage('memory', [own, dependant]);
    await h.expectKeysFound(own, dependant, names, needles);

    await page.goto(`${h.origin}/other`); // the app page enters the cache, alive but frozen
    expect(await h.scanMemory(names, needles)).toEqual({});

    // Proof that the scanned document was in the cache (not discarded): it comes back.
    await page.goBack({ waitUntil: 'commit' });
    await page.waitForFunction(() => 'tk' in globalThis && tk.status().restoredFromBfcache, undefined, { timeout: 10_000 });
    expect(await page.evaluate(() => tk.status())).toMatchObject({ state: 'closed', events: ['pagehide'] });
  }, 240_000);
});
