// Shared set-up of the residue tests (G4): a page server, one browser of the given engine for the
// test file (back/forward cache on), the test keys as needles, and the memory scan over every
// process of that browser with its positive control. Each test's keys are fresh random ones, so
// what an earlier test left cannot be mistaken for this test's keys.
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { launchEngine, type Browser, type EngineName, type Tab } from './engines/engine.ts';
import { KEY_PARTS, type TestKey } from './keys.ts';
import { scanBrowser } from './residue.ts';
import { servePage, type PageServer } from './server.ts';

declare const tk: import('./page.ts').PageApi;

/** What a residue test file uses; `useResidueHarness()` registers the hooks that manage it. */
export interface ResidueHarness {
  readonly origin: string;
  readonly browser: Browser;
  needlesOf(keys: TestKey[]): { names: string[]; needles: Uint8Array[] };
  /** A tab of this test (closed after it, but for one kept open so the browser keeps running). */
  newTab(): Promise<Tab>;
  signedInPage(persistence: 'memory' | 'indexeddb', keys: TestKey[]): Promise<Tab>;
  /**
   * Closes `page` as a member closing the tab would, and resolves once its `pagehide` handlers
   * have run, as `witness` (an open tab of the same origin) sees them.
   */
  closeTab(page: Tab, witness: Tab): Promise<void>;
  scanMemory(names: string[], needles: Uint8Array[]): Promise<Record<string, number>>;
  expectKeysFound(own: TestKey, dependant: TestKey, names: string[], needles: Uint8Array[]): Promise<void>;
}

/** Call inside a `describe` of one engine (or at the top level of a file for Chromium). */
export function useResidueHarness(engine: EngineName = 'chromium'): ResidueHarness {
  let server: PageServer;
  let browser: Browser;
  let tabs: Tab[] = [];
  let kept: Tab | undefined;
  beforeAll(async () => {
    server = await servePage(new URL('./page.ts', import.meta.url).pathname);
    browser = await launchEngine(engine, { bfcache: true });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });
  afterEach(async () => {
    const open = tabs.filter((t) => !t.closed);
    tabs = [];
    kept = open[0];
    for (const t of open.slice(1)) await t.close();
    await kept?.goto(`${server.origin}/other`);
  });

  function needlesOf(keys: TestKey[]): { names: string[]; needles: Uint8Array[] } {
    const names: string[] = [];
    const needles: Uint8Array[] = [];
    for (const k of keys) {
      for (const part of KEY_PARTS) {
        names.push(`${k.keyId}.${part}`);
        needles.push(k[part]);
      }
    }
    return { names, needles };
  }

  async function newTab(): Promise<Tab> {
    const tab = kept ?? (await browser.newTab());
    kept = undefined;
    tabs.push(tab);
    return tab;
  }

  async function signedInPage(persistence: 'memory' | 'indexeddb', keys: TestKey[]): Promise<Tab> {
    const tab = await newTab();
    await tab.goto(`${server.origin}/app`);
    await tab.waitFor(() => 'tk' in globalThis);
    await tab.evaluate((o) => tk.signIn(o), { keys: keys.map((k) => [k.seed, k.keyId] as [string, string]), persistence });
    expect(await tab.evaluate(() => tk.work(20))).toBe(20);
    return tab;
  }

  async function closeTab(page: Tab, witness: Tab): Promise<void> {
    // Measured in Firefox ESR 153: the WebDriver BiDi close can return before the content process
    // has run the page's `pagehide` (a scan at that moment found every key still there in one of
    // three runs; one second later, 0). A scan must follow the wipe, so it waits for a message the
    // page posts from a `pagehide` listener added after the session's, which therefore runs last.
    await witness.evaluate(() => {
      const g = globalThis as { pagehides?: number };
      g.pagehides = 0;
      new BroadcastChannel('test-pagehide').onmessage = () => void (g.pagehides! += 1);
    });
    await page.evaluate(() => {
      const channel = new BroadcastChannel('test-pagehide');
      addEventListener('pagehide', () => channel.postMessage('pagehide'));
    });
    await page.close();
    await witness.waitFor(() => (globalThis as { pagehides?: number }).pagehides === 1, undefined, 10_000);
  }

  /** Scans every process of the instance; returns hits by needle name (only non-zero ones). */
  function scanMemory(names: string[], needles: Uint8Array[]): Promise<Record<string, number>> {
    return scanBrowser(browser, names, needles);
  }

  /**
   * The positive control: the scan sees the keys the signed-in page holds — every part of the
   * own key, which has sealed and opened (KEY_PARTS), and the dependant's key.
   */
  async function expectKeysFound(own: TestKey, dependant: TestKey, names: string[], needles: Uint8Array[]): Promise<void> {
    const found = await scanMemory(names, needles);
    for (const part of KEY_PARTS) expect(found[`${own.keyId}.${part}`], `${own.keyId}.${part}`).toBeGreaterThan(0);
    expect(found[`${dependant.keyId}.memberKey`]).toBeGreaterThan(0);
  }

  return {
    get origin() {
      return server.origin;
    },
    get browser() {
      return browser;
    },
    needlesOf,
    newTab,
    signedInPage,
    closeTab,
    scanMemory,
    expectKeysFound,
  };
}
