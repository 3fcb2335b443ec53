// Shared set-up of the residue tests (G4): a page server, one Chromium per test, the test
// keys as needles, and the memory scan with its positive control.
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { launchChromium, type LaunchedChromium } from './chromium.ts';
import { KEY_PARTS, type TestKey } from './keys.ts';
import { scanChromium } from './residue.ts';
import { servePage, type PageServer } from './server.ts';

declare const tk: import('./page.ts').PageApi;

/** What a residue test file uses; `useResidueHarness()` registers the hooks that manage it. */
export interface ResidueHarness {
  readonly origin: string;
  readonly browser: LaunchedChromium;
  needlesOf(keys: TestKey[]): { names: string[]; needles: Uint8Array[] };
  signedInPage(persistence: 'memory' | 'indexeddb', keys: TestKey[]): Promise<Page>;
  scanMemory(names: string[], needles: Uint8Array[]): Promise<Record<string, number>>;
  expectKeysFound(own: TestKey, dependant: TestKey, names: string[], needles: Uint8Array[]): Promise<void>;
}

/** Call at the top level of a test file. */
export function useResidueHarness(): ResidueHarness {
  let server: PageServer;
  let browser: LaunchedChromium | undefined;
  beforeAll(async () => {
    server = await servePage(new URL('./page.ts', import.meta.url).pathname);
  });
  afterAll(async () => {
    await server.close();
  });
  afterEach(async () => {
    await browser?.close();
    browser = undefined;
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

  async function signedInPage(persistence: 'memory' | 'indexeddb', keys: TestKey[]): Promise<Page> {
    browser = await launchChromium({ bfcache: true });
    const page = browser.context.pages()[0] ?? (await browser.context.newPage());
    await page.goto(`${server.origin}/app`);
    await page.waitForFunction(() => 'tk' in globalThis);
    await page.evaluate((o) => tk.signIn(o), { keys: keys.map((k) => [k.seed, k.keyId] as [string, string]), persistence });
    expect(await page.evaluate(() => tk.work(20))).toBe(20);
    return page;
  }

  /** Scans every process of the instance; returns hits by needle name (only non-zero ones). */
  function scanMemory(names: string[], needles: Uint8Array[]): Promise<Record<string, number>> {
    return scanChromium(browser!.userDataDir, names, needles);
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
      return browser!;
    },
    needlesOf,
    signedInPage,
    scanMemory,
    expectKeysFound,
  };
}
