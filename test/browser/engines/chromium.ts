// Chromium behind the engine interface: Debian's /usr/bin/chromium through playwright-core, as
// launched by test/browser/chromium.ts (same flags, same persistent profile).
import type { Page } from 'playwright-core';
import { chromiumPids, launchChromium } from '../chromium.ts';
import type { Browser, LaunchOptions, Tab } from './engine.ts';

function chromiumTab(page: Page): Tab {
  return {
    async goto(url) {
      await page.goto(url);
    },
    async reload() {
      await page.reload();
    },
    async back() {
      await page.goBack({ waitUntil: 'commit' });
    },
    evaluate: (fn, arg) => page.evaluate(fn as never, arg) as never,
    async waitFor(fn, arg, timeoutMs = 10_000) {
      await page.waitForFunction(fn as never, arg, { timeout: timeoutMs });
    },
    async click(selector) {
      await page.locator(selector).first().click();
    },
    async fill(selector, text) {
      await page.locator(selector).first().fill(text);
    },
    async setViewport(size) {
      await page.setViewportSize(size);
    },
    async screenshot(path, options = {}) {
      await page.screenshot({ path, fullPage: options.fullPage ?? false });
    },
    async close() {
      await page.close({ runBeforeUnload: true });
    },
    get closed() {
      return page.isClosed();
    },
  };
}

/** Launches Chromium with a fresh profile. */
export async function launchChromiumEngine(options: LaunchOptions): Promise<Browser> {
  const launched = await launchChromium({ bfcache: options.bfcache ?? false });
  const version = launched.context.browser()?.version() ?? (await versionOf(launched.context.pages()[0]));
  let first: Page | undefined = launched.context.pages()[0];
  return {
    engine: 'chromium',
    version,
    profileDir: launched.userDataDir,
    async newTab() {
      const page = first ?? (await launched.context.newPage());
      first = undefined;
      return chromiumTab(page);
    },
    pids: () => chromiumPids(launched.userDataDir),
    close: () => launched.close(),
  };
}

async function versionOf(page: Page | undefined): Promise<string> {
  const ua = page === undefined ? '' : await page.evaluate(() => navigator.userAgent);
  return /Chrome\/(\S+)/.exec(ua)?.[1] ?? 'unknown';
}
