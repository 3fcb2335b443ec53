// Session lifecycle in every engine (Chromium, Firefox, WebKit): sign-in through httpKeyProvider
// against a real key environment and a record sealed there opened in the page; IndexedDB resume
// after reload; logoff across two tabs (BroadcastChannel, and the storage-event fallback);
// pagehide and the back/forward cache; the idle timeout; ERR_STORAGE_UNAVAILABLE and the memory
// fallback where IndexedDB cannot be used. One browser per engine for the file; each test uses
// fresh tabs and a clean origin. IndexedDB mode resumes through the key environment
// (re-delivery of the stored session), so every test signs in through a real one on the same
// test server.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sealRecord, type SealedRecord } from '../../src/index.ts';
import { ENGINES, launchEngine, type Browser, type Tab } from './engines/engine.ts';
import { KEY_ENV_PATH, startKeyEnvironment, TOKEN } from './key-env.ts';
import { testKey } from './keys.ts';
import type { PageApi, SignInOptions } from './page.ts';
import { memberSchema } from './page-schema.ts';
import { servePage, type PageServer } from './server.ts';

declare const tk: PageApi;

let server: PageServer;
let sealed: SealedRecord;

beforeAll(async () => {
  const keyEnv = await startKeyEnvironment();
  // A record sealed on the server side with M000001's key, for the page to open.
  const ring = await keyEnv.env.openKeyring('M000001');
  sealed = sealRecord(ring, memberSchema, { id: 'M000001', fullName: '鈴木 一郎', birthDate: '1980-04-01', address: '大阪府大阪市北区1-2-3' }, { recordId: 'M000001' });
  ring.destroy();
  server = await servePage(new URL('./page.ts', import.meta.url).pathname, { handler: keyEnv.handler });
});
afterAll(async () => {
  await server.close();
});

function signInOptions(persistence: 'memory' | 'indexeddb', extra: Partial<SignInOptions> = {}): SignInOptions {
  const k = testKey('M000001.v1');
  return { keys: [[k.seed, k.keyId]], persistence, ...extra };
}

/** Signs in (or resumes) through the key environment, in IndexedDB mode. */
function viaKeyEnv(extra: { idleTimeoutMs?: number; namespace?: string; fallback?: 'memory' } = {}) {
  return { url: `${server.origin}${KEY_ENV_PATH}`, token: TOKEN, persistence: 'indexeddb' as const, ...extra };
}

for (const engine of ENGINES) {
  // 60 s a test: a test of several tabs opens a window for each, which takes WebKit's MiniBrowser
  // (through WebDriver) seconds apiece on a busy 2-core machine (measured: over 30 s once).
  describe(`sessions in ${engine}`, { timeout: 60_000 }, () => {
    let browser: Browser;
    // Tabs of the current test; the first one left open is kept for the next test, since
    // closing a browser's last tab may end the browser (or its WebDriver session).
    let tabs: Tab[] = [];
    let kept: Tab | undefined;

    beforeAll(async () => {
      browser = await launchEngine(engine, { bfcache: true });
    });
    afterAll(async () => {
      await browser?.close();
    });
    afterEach(async () => {
      const open = tabs.filter((t) => !t.closed);
      tabs = [];
      kept = open[0];
      for (const t of open.slice(1)) await t.close();
      if (kept === undefined) return;
      // Clean origin for the next test: delete what the test left in IndexedDB (a later open
      // waits for the deletion to finish).
      await kept.goto(`${server.origin}/app`);
      await kept.waitFor(() => 'tk' in globalThis);
      await kept.evaluate(async () => {
        for (const { name } of await indexedDB.databases()) if (name?.startsWith('tokumei')) indexedDB.deleteDatabase(name);
      });
    });

    async function newApp(query = ''): Promise<Tab> {
      const tab = kept ?? (await browser.newTab());
      kept = undefined;
      tabs.push(tab);
      await tab.goto(`${server.origin}/app${query}`);
      await tab.waitFor(() => 'tk' in globalThis);
      return tab;
    }

    async function reloadApp(tab: Tab): Promise<void> {
      await tab.reload();
      await tab.waitFor(() => 'tk' in globalThis);
    }

    it('signs in through the key environment, opens a record sealed there, and logs off', async () => {
      const tab = await newApp();
      expect(await tab.evaluate((o) => tk.signInHttp(o), { ...viaKeyEnv(), persistence: 'memory' as const })).toEqual({ resumed: false });
      expect(await tab.evaluate(([s]) => tk.open(s, 'M000001'), [sealed] as const)).toBe('鈴木 一郎');
      expect(await tab.evaluate(() => tk.work(3))).toBe(3);
      await tab.evaluate(() => tk.logoff());
      expect(await tab.evaluate(() => tk.status())).toMatchObject({ state: 'closed', events: ['logoff'] });
      expect(await tab.evaluate(() => tk.probe())).toBe('ERR_SESSION_CLOSED');
    });

    it('indexeddb: a reload resumes without a new sign-in; memory: a reload has nothing to resume', async () => {
      const tab = await newApp();
      expect(await tab.evaluate((o) => tk.signInHttp(o), viaKeyEnv())).toEqual({ resumed: false });
      const first = await tab.evaluate(() => tk.status());
      expect(first.persistence).toBe('indexeddb');
      await reloadApp(tab);
      expect(await tab.evaluate((o) => tk.signInHttp(o), viaKeyEnv())).toEqual({ resumed: true });
      expect((await tab.evaluate(() => tk.status())).sessionId).toBe(first.sessionId);
      expect(await tab.evaluate(() => tk.work(3))).toBe(3);

      const mem = await newApp();
      await mem.evaluate((o) => tk.signIn(o), signInOptions('memory'));
      await reloadApp(mem);
      expect(await mem.evaluate(() => tk.probe())).toBe('no-session');
    });

    it('logoff in one tab wipes the other (BroadcastChannel) and removes the stored entry', async () => {
      const a = await newApp();
      const b = await newApp();
      expect(await b.evaluate(() => typeof BroadcastChannel)).toBe('function');
      await a.evaluate((o) => tk.signInHttp(o), viaKeyEnv());
      expect((await b.evaluate((o) => tk.signInHttp(o), viaKeyEnv())).resumed).toBe(true);
      await a.evaluate(() => tk.logoff());
      await b.waitFor(() => tk.status().events.length > 0);
      expect(await b.evaluate(() => tk.status())).toMatchObject({ state: 'closed', events: ['remote-logoff'] });
      expect(await b.evaluate(() => tk.probe())).toBe('ERR_SESSION_CLOSED');
      // Nothing left to resume: a third tab starts a new session (a new key delivery).
      const c = await newApp();
      expect(await c.evaluate((o) => tk.signInHttp(o), viaKeyEnv())).toEqual({ resumed: false });
    });

    it('logoff reaches the other tab through storage events where BroadcastChannel is missing', async () => {
      const a = await newApp('?no-broadcast-channel');
      const b = await newApp('?no-broadcast-channel');
      expect(await b.evaluate(() => typeof BroadcastChannel)).toBe('undefined');
      await a.evaluate((o) => tk.signIn(o), signInOptions('memory'));
      await b.evaluate((o) => tk.signIn(o), signInOptions('memory'));
      await a.evaluate(() => tk.logoff());
      await b.waitFor(() => tk.status().events.length > 0);
      expect(await b.evaluate(() => tk.status())).toMatchObject({ state: 'closed', events: ['remote-logoff'] });
    });

    it('two portals (namespaces) on one origin: logoff in one reaches its own tabs only, and each keeps its own stored session', async () => {
      const portalA = await newApp();
      const portalA2 = await newApp();
      const portalB = await newApp();
      await portalA.evaluate((o) => tk.signInHttp(o), viaKeyEnv({ namespace: 'portal-a' }));
      expect((await portalA2.evaluate((o) => tk.signInHttp(o), viaKeyEnv({ namespace: 'portal-a' }))).resumed).toBe(true);
      expect((await portalB.evaluate((o) => tk.signInHttp(o), viaKeyEnv({ namespace: 'portal-b' }))).resumed).toBe(false); // its own database
      expect(await portalA.evaluate(async () => (await indexedDB.databases()).map((d) => d.name).sort())).toEqual(['tokumei/portal-a', 'tokumei/portal-b']);
      await portalA.evaluate(() => tk.logoff());
      await portalA2.waitFor(() => tk.status().events.length > 0); // positive control
      expect(await portalA2.evaluate(() => tk.status())).toMatchObject({ state: 'closed', events: ['remote-logoff'] });
      await new Promise((r) => setTimeout(r, 200));
      expect(await portalB.evaluate(() => tk.status())).toMatchObject({ state: 'open', events: [] });
      // Portal B's reload still resumes its own session.
      await reloadApp(portalB);
      expect((await portalB.evaluate((o) => tk.signInHttp(o), viaKeyEnv({ namespace: 'portal-b' }))).resumed).toBe(true);
    });

    it("another member's logoff (storage events, no BroadcastChannel) leaves this member's tab open", async () => {
      const alice = await newApp('?no-broadcast-channel');
      const alice2 = await newApp('?no-broadcast-channel');
      const bob = await newApp('?no-broadcast-channel');
      const bobKey = testKey('M000009.v1');
      await alice.evaluate((o) => tk.signIn(o), signInOptions('memory'));
      await alice2.evaluate((o) => tk.signIn(o), signInOptions('memory'));
      await bob.evaluate((o) => tk.signIn(o), { keys: [[bobKey.seed, bobKey.keyId]] as [string, string][] });
      await alice.evaluate(() => tk.logoff());
      await alice2.waitFor(() => tk.status().events.length > 0); // positive control
      await new Promise((r) => setTimeout(r, 200));
      expect(await bob.evaluate(() => tk.status())).toMatchObject({ state: 'open', events: [] });
    });

    it('a page restored from the back/forward cache has no live keys, and resumes from IndexedDB', async () => {
      const tab = await newApp();
      await tab.evaluate((o) => tk.signInHttp(o), viaKeyEnv());
      await tab.goto(`${server.origin}/other`);
      await tab.back();
      // A restore from the cache fires no `load`: wait for pageshow to have run.
      await tab.waitFor(() => 'tk' in globalThis && tk.status().restoredFromBfcache).catch(() => undefined);
      const status = await tab.evaluate(() => tk.status());
      const why = await tab.evaluate(() => JSON.stringify((performance.getEntriesByType('navigation')[0] as unknown as { notRestoredReasons?: unknown } | undefined)?.notRestoredReasons ?? null));
      expect(status.restoredFromBfcache, why).toBe(true); // the same document came back from the cache
      expect(status).toMatchObject({ state: 'closed', events: ['pagehide'] });
      expect(await tab.evaluate(() => tk.probe())).toBe('ERR_SESSION_CLOSED');
      // What a portal's pageshow handler does: open again, which resumes the stored session.
      expect((await tab.evaluate((o) => tk.signInHttp(o), viaKeyEnv())).resumed).toBe(true);
      expect(await tab.evaluate(() => tk.probe())).toBe('ok');
    });

    it('wipes at the idle timeout and removes the stored entry', async () => {
      const tab = await newApp();
      await tab.evaluate((o) => tk.signInHttp(o), viaKeyEnv({ idleTimeoutMs: 1000 }));
      await tab.waitFor(() => tk.status().events.length > 0, undefined, 15_000);
      expect(await tab.evaluate(() => tk.status())).toMatchObject({ state: 'closed', events: ['idle'] });
      expect(await tab.evaluate(() => tk.probe())).toBe('ERR_SESSION_CLOSED');
      await reloadApp(tab);
      expect(await tab.evaluate((o) => tk.signInHttp(o), viaKeyEnv())).toEqual({ resumed: false });
    });

    for (const failure of ['unusable', 'no-clone'] as const) {
      it(`indexeddb ${failure === 'unusable' ? 'unusable (open throws)' : 'cannot store a CryptoKey (DataCloneError)'}: ERR_STORAGE_UNAVAILABLE, or the memory fallback`, async () => {
        const tab = await newApp(`?indexeddb=${failure}`);
        const refused = await tab.evaluate((o) => tk.signInHttp(o).then(() => 'signed in', (e: { code?: string }) => e.code ?? String(e)), viaKeyEnv());
        expect(refused).toBe('ERR_STORAGE_UNAVAILABLE');
        expect(await tab.evaluate(() => tk.probe())).toBe('no-session');

        expect(await tab.evaluate((o) => tk.signInHttp(o), viaKeyEnv({ fallback: 'memory' }))).toEqual({ resumed: false });
        expect(await tab.evaluate(() => tk.status())).toMatchObject({ state: 'open', persistence: 'memory' });
        expect(await tab.evaluate(([s]) => tk.open(s, 'M000001'), [sealed] as const)).toBe('鈴木 一郎');
        await tab.evaluate(() => tk.logoff());
        expect(await tab.evaluate(() => tk.probe())).toBe('ERR_SESSION_CLOSED');
      });
    }
  });
}
