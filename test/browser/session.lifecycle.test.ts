// Session lifecycle in real Chromium: IndexedDB resume after reload, logoff across two tabs
// (BroadcastChannel, and the storage-event fallback), pagehide and the back/forward cache, and
// the idle timeout. One browser for the file; each test uses fresh pages and a clean origin.
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type LaunchedChromium } from './chromium.ts';
import { testKey } from './keys.ts';
import type { PageApi, SignInOptions } from './page.ts';
import { servePage, type PageServer } from './server.ts';

declare const tk: PageApi;

/** Sign-in options with no keys: succeeds only by resuming from IndexedDB. */
const RESUME: SignInOptions = { keys: [], persistence: 'indexeddb' };

let server: PageServer;
let browser: LaunchedChromium;
const pages: Page[] = [];

beforeAll(async () => {
  server = await servePage(new URL('./page.ts', import.meta.url).pathname);
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
    await page.evaluate(() => indexedDB.deleteDatabase('tokumei'));
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

async function reloadApp(page: Page): Promise<void> {
  await page.reload();
  await page.waitForFunction(() => 'tk' in globalThis);
}

describe('sessions in Chromium', () => {
  it('indexeddb: a reload resumes without a new sign-in; memory: a reload has nothing to resume', async () => {
    const page = await newApp();
    expect(await page.evaluate((o) => tk.signIn(o), signInOptions('indexeddb'))).toEqual({ resumed: false, persistence: 'indexeddb' });
    await reloadApp(page);
    // No keys given: if the session were not resumed, the provider would fail to build a keyring.
    expect(await page.evaluate((o) => tk.signIn(o), RESUME)).toEqual({ resumed: true, persistence: 'indexeddb' });
    expect(await page.evaluate(() => tk.work(3))).toBe(3);

    const mem = await newApp();
    await mem.evaluate((o) => tk.signIn(o), signInOptions('memory'));
    await reloadApp(mem);
    expect(await mem.evaluate(() => tk.probe())).toBe('no-session');
  });

  it('logoff in one tab wipes the other (BroadcastChannel) and removes the stored entry', async () => {
    const a = await newApp();
    const b = await newApp();
    await a.evaluate((o) => tk.signIn(o), signInOptions('indexeddb'));
    expect((await b.evaluate((o) => tk.signIn(o), RESUME)).resumed).toBe(true);
    await a.evaluate(() => tk.logoff());
    await b.waitForFunction(() => tk.status().events.length > 0);
    expect(await b.evaluate(() => tk.status())).toMatchObject({ state: 'closed', events: ['remote-logoff'] });
    expect(await b.evaluate(() => tk.probe())).toBe('ERR_SESSION_CLOSED');
    const c = await newApp();
    await expect(c.evaluate((o) => tk.signIn(o), RESUME)).rejects.toThrow(/keys/);
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

  it('a page restored from the back/forward cache has no live keys, and resumes from IndexedDB', async () => {
    const page = await newApp();
    await page.evaluate((o) => tk.signIn(o), signInOptions('indexeddb'));
    await page.goto(`${server.origin}/other`);
    // A restore from the cache fires no `load`: wait for the commit, then for pageshow to have run.
    await page.goBack({ waitUntil: 'commit' });
    await page.waitForFunction(() => 'tk' in globalThis && tk.status().restoredFromBfcache, undefined, { timeout: 10_000 }).catch(() => undefined);
    const status = await page.evaluate(() => tk.status());
    const why = await page.evaluate(() => JSON.stringify((performance.getEntriesByType('navigation')[0] as unknown as { notRestoredReasons?: unknown }).notRestoredReasons ?? null));
    expect(status.restoredFromBfcache, why).toBe(true); // the same document came back from the cache
    expect(status).toMatchObject({ state: 'closed', events: ['pagehide'] });
    expect(await page.evaluate(() => tk.probe())).toBe('ERR_SESSION_CLOSED');
    // What a portal's pageshow handler does: open again, which resumes from IndexedDB.
    expect((await page.evaluate((o) => tk.signIn(o), RESUME)).resumed).toBe(true);
    expect(await page.evaluate(() => tk.probe())).toBe('ok');
  });

  it('wipes at the idle timeout and removes the stored entry', async () => {
    const page = await newApp();
    await page.evaluate((o) => tk.signIn(o), signInOptions('indexeddb', { idleTimeoutMs: 1000 }));
    await page.waitForFunction(() => tk.status().events.length > 0, undefined, { timeout: 15_000 });
    expect(await page.evaluate(() => tk.status())).toMatchObject({ state: 'closed', events: ['idle'] });
    expect(await page.evaluate(() => tk.probe())).toBe('ERR_SESSION_CLOSED');
    await reloadApp(page);
    await expect(page.evaluate((o) => tk.signIn(o), RESUME)).rejects.toThrow(/keys/);
  });
});
