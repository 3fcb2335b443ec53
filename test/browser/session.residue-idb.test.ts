// G4 in real Chromium, continued (see session.residue.test.ts for the method): IndexedDB
// persistence through a reload and resume, and a page sitting in the back/forward cache.
import { describe, expect, it } from 'vitest';
import { testKey } from './keys.ts';
import { scanFiles } from './residue.ts';
import { useResidueHarness } from './residue-harness.ts';

declare const tk: import('./page.ts').PageApi;

const h = useResidueHarness();

describe('zero residue in Chromium (G4), IndexedDB mode and the back/forward cache', () => {
  it('indexeddb: after reload, resume and logoff, no key or subkey in any process or profile file', async () => {
    const own = testKey('M000001.v1');
    const dependant = testKey('M000002.v1');
    const { names, needles } = h.needlesOf([own, dependant]);
    const page = await h.signedInPage('indexeddb', [own, dependant]);
    // Reload: the keyring is unwrapped from IndexedDB; that path must leave nothing either.
    await page.reload();
    await page.waitForFunction(() => 'tk' in globalThis);
    const resume = { keys: [] as [string, string][], persistence: 'indexeddb' as const };
    expect(await page.evaluate((o) => tk.signIn(o), resume)).toEqual({ resumed: true, persistence: 'indexeddb' });
    expect(await page.evaluate(() => tk.work(20))).toBe(20);
    await h.expectKeysFound(own, dependant, names, needles);

    await page.evaluate(() => tk.logoff());
    expect(await page.evaluate(() => tk.probe())).toBe('ERR_SESSION_CLOSED');
    expect(await h.scanMemory(names, needles)).toEqual({});
    // The profile holds no key in the clear (what else remains on disk: docs/sessions.md).
    expect(await scanFiles(h.browser.userDataDir, needles)).toEqual({ hits: 0, files: [] });
  }, 90_000);

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
  }, 90_000);
});
