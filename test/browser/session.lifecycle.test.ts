// Session lifecycle in real Chromium: IndexedDB resume after reload, logoff across two tabs
// (BroadcastChannel, and the storage-event fallback), pagehide and the back/forward cache, and
// the idle timeout. One browser for the file; each test uses fresh pages and a clean origin.
// IndexedDB mode resumes through the key environment (re-delivery of the stored session), so
// those tests sign in with httpKeyProvider against a real one on the same test server.
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type LaunchedChromium } from './chromium.ts';
import { KEY_ENV_PATH, startKeyEnvironment, TOKEN } from './key-env.ts';
import { testKey } from './keys.ts';
import type { PageApi, SignInOptions } from './page.ts';
import { servePage, type PageServer } from './server.ts';

declare const tk: PageApi;

let server: PageServer;
let browser: LaunchedChromium;
const pages: Page[] = [];

beforeAll(async () => {
  const keyEnv = await startKeyEnvironment();
  server = await servePage(new URL('./page.ts', import.meta.url).pathname, { handler: keyEnv.handler });
  browser = await launchChromium({ bfcache: true });
});
afterAll(async () => {
  await browser.close();
  await server.close();
});
afterEach(async () => {
  // Clean origin for the next test: log off whatever is left (removes the IndexedDB entry).
  const page = pages[0];
  if (page !== undefined && !page.isClosed()) {
    await page.goto(`${server.origin}/app`);
    await page.waitForFunction(() => 'tk' in globalThis);
    await page.evaluate(async () => {
      for (const { name } of await indexedDB.databases()) if (name?.startsWith('tokumei')) indexedDB.deleteDatabase(name);
    });
  }
  for (const p of pages.splice(0)) await p.close();
});

async function newApp(init?: () => void): Promise<Page> {
  const page = await browser.context.newPage();
  pages.push(page);
  if (init !== undefined) await page.addInitScript(init);
  await page.goto(`${server.origin}/app`);
  await page.waitForFunction(() => 'tk' in globalThis);
  return page;
}

function signInOptions(persistence: 'memory' | 'indexeddb', extra: Partial<SignInOptions> = {}): SignInOptions {
  const k = testKey('M000001.v1');
  return { keys: [[k.seed, k.keyId]], persistence, ...extra };
}

/** Signs in (or resumes) through the key environment, in IndexedDB mode. */
function viaKeyEnv(extra: { idleTimeoutMs?: number; namespace?: string } = {}) {
  return { url: `${server.origin}${KEY_ENV_PATH}`, token: TOKEN, persistence: 'indexeddb' as const, ...extra };
}

async function reloadApp(page: Page): Promise<void> {
  await page.reload();
  await page.waitForFunction(() => 'tk' in globalThis);
}

describe('sessions in Chromium', () => {
  it('indexeddb: a reload resumes without a new sign-in; memory: a reload has nothing to resume', async () => {
    const page = await newApp();
    expect(await page.evaluate((o) => tk.signInHttp(o), viaKeyEnv())).toEqual({ resumed: false });
    const first = await page.evaluate(() => tk.status());
    await reloadApp(page);
    expect(await page.evaluate((o) => tk.signInHttp(o), viaKeyEnv())).toEqual({ resumed: true });
    expect((await page.evaluate(() => tk.status())).sessionId).toBe(first.sessionId);
    expect(await page.evaluate(() => tk.work(3))).toBe(3);

    const mem = await newApp();
    await mem.evaluate((o) => tk.signIn(o), signInOptions('memory'));
    await reloadApp(mem);
    expect(await mem.evaluate(() => tk.probe())).toBe('no-session');
  });

  it('logoff in one tab wipes the other (BroadcastChannel) and removes the stored entry', async () => {
    const a = await newApp();
    const b = await newApp();
    await a.evaluate((o) => tk.signInHttp(o), viaKeyEnv());
    expect((await b.evaluate((o) => tk.signInHttp(o), viaKeyEnv())).resumed).toBe(true);
    await a.evaluate(() => tk.logoff());
    await b.waitForFunction(() => tk.status().events.length > 0);
    expect(await b.evaluate(() => tk.status())).toMatchObject({ state: 'closed', events: ['remote-logoff'] });
    expect(await b.evaluate(() => tk.probe())).toBe('ERR_SESSION_CLOSED');
    // Nothing left to resume: a third tab starts a new session (a new key delivery).
    const c = await newApp();
    expect(await c.evaluate((o) => tk.signInHttp(o), viaKeyEnv())).toEqual({ resumed: false });
  });

  it('logoff reaches the other tab through storage events where BroadcastChannel is missing', async () => {
    const noChannel = () => {
      delete (globalThis as { BroadcastChannel?: unknown }).BroadcastChannel;
    };
    const a = await newApp(noChannel);
    const b = await newApp(noChannel);
    expect(await b.evaluate(() => typeof BroadcastChannel)).toBe('undefined');
    await a.evaluate((o) => tk.signIn(o), signInOptions('memory'));
    await b.evaluate((o) => tk.signIn(o), signInOptions('memory'));
    await a.evaluate(() => tk.logoff());
    await b.waitForFunction(() => tk.status().events.length > 0);
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
    await portalA2.waitForFunction(() => tk.status().events.length > 0); // positive control
    expect(await portalA2.evaluate(() => tk.status())).toMatchObject({ state: 'closed', events: ['remote-logoff'] });
    await new Promise((r) => setTimeout(r, 200));
    expect(await portalB.evaluate(() => tk.status())).toMatchObject({ state: 'open', events: [] });
    // Portal B's reload still resumes its own session.
    await reloadApp(portalB);
    expect((await portalB.evaluate((o) => tk.signInHttp(o), viaKeyEnv({ namespace: 'portal-b' }))).resumed).toBe(true);
  });

  it("another member's logoff (storage events, no BroadcastChannel) leaves this member's tab open", async () => {
    const noChannel = () => {
      delete (globalThis as { BroadcastChannel?: unknown }).BroadcastChannel;
    };
    const alice = await newApp(noChannel);
    const alice2 = await newApp(noChannel);
    const bob = await newApp(noChannel);
    const bobKey = testKey('M000009.v1');
    await alice.evaluate((o) => tk.signIn(o), signInOptions('memory'));
    await alice2.evaluate((o) => tk.signIn(o), signInOptions('memory'));
    await bob.evaluate((o) => tk.signIn(o), { keys: [[bobKey.seed, bobKey.keyId]] as [string, string][] });
    await alice.evaluate(() => tk.logoff());
    await alice2.waitForFunction(() => tk.status().events.length > 0); // positive control
    await new Promise((r) => setTimeout(r, 200));
    expect(await bob.evaluate(() => tk.status())).toMatchObject({ state: 'open', events: [] });
  });

  it('a page restored from the back/forward cache has no live keys, and resumes from IndexedDB', async () => {
    const page = await newApp();
    await page.evaluate((o) => tk.signInHttp(o), viaKeyEnv());
    await page.goto(`${server.origin}/other`);
    // A restore from the cache fires no `load`: wait for the commit, then for pageshow to have run.
    await page.goBack({ waitUntil: 'commit' });
    await page.waitForFunction(() => 'tk' in globalThis && tk.status().restoredFromBfcache, undefined, { timeout: 10_000 }).catch(() => undefined);
    const status = await page.evaluate(() => tk.status());
    const why = await page.evaluate(() => JSON.stringify((performance.getEntriesByType('navigation')[0] as unknown as { notRestoredReasons?: unknown }).notRestoredReasons ?? null));
    expect(status.restoredFromBfcache, why).toBe(true); // the same document came back from the cache
    expect(status).toMatchObject({ state: 'closed', events: ['pagehide'] });
    expect(await page.evaluate(() => tk.probe())).toBe('ERR_SESSION_CLOSED');
    // What a portal's pageshow handler does: open again, which resumes the stored session.
    expect((await page.evaluate((o) => tk.signInHttp(o), viaKeyEnv())).resumed).toBe(true);
    expect(await page.evaluate(() => tk.probe())).toBe('ok');
  });

  it('wipes at the idle timeout and removes the stored entry', async () => {
    const page = await newApp();
    await page.evaluate((o) => tk.signInHttp(o), viaKeyEnv({ idleTimeoutMs: 1000 }));
    await page.waitForFunction(() => tk.status().events.length > 0, undefined, { timeout: 15_000 });
    expect(await page.evaluate(() => tk.status())).toMatchObject({ state: 'closed', events: ['idle'] });
    expect(await page.evaluate(() => tk.probe())).toBe('ERR_SESSION_CLOSED');
    await reloadApp(page);
    expect(await page.evaluate((o) => tk.signInHttp(o), viaKeyEnv())).toEqual({ resumed: false });
  });
});
