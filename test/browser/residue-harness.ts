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
    scanMemory,
    expectKeysFound,
  };
}
