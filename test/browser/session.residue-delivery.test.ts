// G4 through the real key delivery: the page signs in with httpKeyProvider against a key
// environment (tokumei/server, HPKE over HTTP on the same test server), so the keys reach the
// page only sealed. Scanned as in session.residue.test.ts: found while signed in, then nothing in
// any Chromium process or profile file after logoff. The needles come from the key
// environment's test-only key log. IndexedDB mode is here too: it resumes by re-delivery.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type LaunchedChromium } from './chromium.ts';
import { KEY_ENV_PATH, startKeyEnvironment, TOKEN, type TestKeyEnvironment } from './key-env.ts';
import { KEY_PARTS } from './keys.ts';
import { scanChromium, scanFiles } from './residue.ts';
import { servePage, type PageServer } from './server.ts';

declare const tk: import('./page.ts').PageApi;

let browser: LaunchedChromium | undefined;
afterEach(async () => {
  await browser?.close();
  browser = undefined;
});

const scanMemory = (names: string[], needles: Uint8Array[]) => scanChromium(browser!.userDataDir, names, needles);

describe('zero residue with real key delivery (HPKE over HTTP)', () => {
  let keyServer: PageServer;
  let keyEnv: TestKeyEnvironment;

  beforeAll(async () => {
    keyEnv = await startKeyEnvironment();
    keyServer = await servePage(new URL('./page.ts', import.meta.url).pathname, { handler: keyEnv.handler });
  });
  afterAll(async () => {
    await keyServer.close();
  });

  for (const persistence of ['memory', 'indexeddb'] as const) {
    it(`${persistence}: keys delivered by httpKeyProvider leave nothing after logoff${persistence === 'indexeddb' ? ' (after a reload that resumed)' : ''}`, async () => {
      browser = await launchChromium();
      const page = browser.context.pages()[0] ?? (await browser.context.newPage());
      await page.goto(`${keyServer.origin}/app`);
      await page.waitForFunction(() => 'tk' in globalThis);
      const signIn = { url: `${keyServer.origin}${KEY_ENV_PATH}`, token: TOKEN, persistence };
      expect(await page.evaluate((o) => tk.signInHttp(o), signIn)).toEqual({ resumed: false });
      if (persistence === 'indexeddb') {
        await page.reload();
        await page.waitForFunction(() => 'tk' in globalThis);
        expect(await page.evaluate((o) => tk.signInHttp(o), signIn)).toEqual({ resumed: true });
      }
      expect(await page.evaluate(() => tk.work(20))).toBe(20);

      expect([...keyEnv.logged.keys()].sort()).toEqual(['M000001.v1', 'M000002.v1']);
      const { names, needles } = keyEnv.needles();
      const found = await scanMemory(names, needles);
      for (const part of KEY_PARTS) expect(found[`M000001.v1.${part}`], part).toBeGreaterThan(0);
      expect(found['M000002.v1.memberKey']).toBeGreaterThan(0);

      await page.evaluate(() => tk.logoff());
      expect(await page.evaluate(() => tk.probe())).toBe('ERR_SESSION_CLOSED');
      expect(await scanMemory(names, needles)).toEqual({});
      // The profile holds no key, in the clear or wrapped: IndexedDB holds only the session id
      // and its expiries (docs/sessions.md §5 on what LevelDB keeps after a delete).
      expect(await scanFiles(browser!.userDataDir, needles)).toEqual({ hits: 0, files: [] });
    }, 240_000);
  }
});
