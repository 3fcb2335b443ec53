// G4 through the real key delivery, in every engine: the page signs in with httpKeyProvider
// against a key environment (tokumei/server, HPKE over HTTP on the same test server), so the keys
// reach the page only sealed. Scanned as in session.residue.test.ts: found while signed in, then
// nothing in any process of the browser or file of its profile after logoff. The needles come
// from the key environment's test-only key log. IndexedDB mode is here too: it resumes by
// re-delivery.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, launchEngine, type Browser, type Tab } from './engines/engine.ts';
import { KEY_ENV_PATH, startKeyEnvironment, TOKEN, type TestKeyEnvironment } from './key-env.ts';
import { KEY_PARTS } from './keys.ts';
import { scanBrowser, scanFiles } from './residue.ts';
import { servePage, type PageServer } from './server.ts';

declare const tk: import('./page.ts').PageApi;

let keyServer: PageServer;
let keyEnv: TestKeyEnvironment;

beforeAll(async () => {
  keyEnv = await startKeyEnvironment();
  keyServer = await servePage(new URL('./page.ts', import.meta.url).pathname, { handler: keyEnv.handler });
});
afterAll(async () => {
  await keyServer.close();
});

for (const engine of ENGINES) {
  describe(`zero residue in ${engine} with real key delivery (HPKE over HTTP)`, () => {
    let browser: Browser;
    let tab: Tab;
    beforeAll(async () => {
      browser = await launchEngine(engine);
      tab = await browser.newTab();
    });
    afterAll(async () => {
      await browser?.close();
    });
    afterEach(async () => {
      await tab.goto(`${keyServer.origin}/app`);
      await tab.waitFor(() => 'tk' in globalThis);
      await tab.evaluate(() => void indexedDB.deleteDatabase('tokumei'));
    });

    for (const persistence of ['memory', 'indexeddb'] as const) {
      it(`${persistence}: keys delivered by httpKeyProvider leave nothing after logoff${persistence === 'indexeddb' ? ' (after a reload that resumed)' : ''}`, async () => {
        keyEnv.logged.clear();
        await tab.goto(`${keyServer.origin}/app`);
        await tab.waitFor(() => 'tk' in globalThis);
        const signIn = { url: `${keyServer.origin}${KEY_ENV_PATH}`, token: TOKEN, persistence };
        expect(await tab.evaluate((o) => tk.signInHttp(o), signIn)).toEqual({ resumed: false });
        if (persistence === 'indexeddb') {
          await tab.reload();
          await tab.waitFor(() => 'tk' in globalThis);
          expect(await tab.evaluate((o) => tk.signInHttp(o), signIn)).toEqual({ resumed: true });
        }
        expect(await tab.evaluate(() => tk.work(20))).toBe(20);

        expect([...keyEnv.logged.keys()].sort()).toEqual(['M000001.v1', 'M000002.v1']);
        const { names, needles } = keyEnv.needles();
        const found = await scanBrowser(browser, names, needles);
        for (const part of KEY_PARTS) expect(found[`M000001.v1.${part}`], part).toBeGreaterThan(0);
        expect(found['M000002.v1.memberKey']).toBeGreaterThan(0);

        await tab.evaluate(() => tk.logoff());
        expect(await tab.evaluate(() => tk.probe())).toBe('ERR_SESSION_CLOSED');
        expect(await scanBrowser(browser, names, needles)).toEqual({});
        // The profile holds no key, in the clear or wrapped: IndexedDB holds only the session id
        // and its expiries (docs/sessions.md §5 on what LevelDB keeps after a delete).
        expect(await scanFiles(browser.profileDir, needles)).toEqual({ hits: 0, files: [] });
      }, 240_000);
    }
  });
}
