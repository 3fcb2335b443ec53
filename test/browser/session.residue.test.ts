// G4, measured in real Chromium, memory persistence: after logoff, and after closing the tab,
// neither the member keys nor any subkey derived from them is in the memory of any Chromium
// process or in any file of the profile. Each scan is paired with a positive control: the same
// scan finds the keys while the member is signed in. No forced garbage collection and no
// navigation: the wipe alone must leave nothing, because a page stays alive after logoff until
// the portal navigates. IndexedDB mode and the back/forward cache: session.residue-idb.test.ts.
import { describe, expect, it } from 'vitest';
import { testKey } from './keys.ts';
import { scanFiles } from './residue.ts';
import { useResidueHarness } from './residue-harness.ts';

declare const tk: import('./page.ts').PageApi;

const h = useResidueHarness();

describe('zero residue in Chromium (G4), memory mode', () => {
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
    expect(await scanFiles(h.browser.userDataDir, needles)).toEqual({ hits: 0, files: [] });
  }, 240_000);

  it('after closing the tab, no key or subkey in any process or profile file', async () => {
    const own = testKey('M000001.v1');
    const dependant = testKey('M000002.v1');
    const { names, needles } = h.needlesOf([own, dependant]);
    const page = await h.signedInPage('memory', [own, dependant]);
    const other = await h.browser.context.newPage(); // keeps the browser running
    await other.goto(`${h.origin}/other`);
    await h.expectKeysFound(own, dependant, names, needles);

    await page.close({ runBeforeUnload: true });

    expect(await h.scanMemory(names, needles)).toEqual({});
    expect(await scanFiles(h.browser.userDataDir, needles)).toEqual({ hits: 0, files: [] });
  }, 240_000);
});
