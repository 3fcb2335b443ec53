// Firefox behind the engine interface: Debian's firefox-esr driven by puppeteer-core over
// WebDriver BiDi (no CDP), headless, with a fresh profile directory. Every process of the
// instance is the browser process and its descendants (content, socket, RDD, utility).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Page } from 'puppeteer-core';
import { pollUntil, type Browser, type LaunchOptions, type Tab } from './engine.ts';
import { processTree } from './processes.ts';

/** Where Debian installs Firefox ESR. */
export const FIREFOX_PATH = '/usr/bin/firefox-esr';

/** The WebDriver BiDi browsing context behind a puppeteer page (puppeteer's own core API). */
interface BidiContext {
  navigate(url: string, wait: 'none' | 'interactive' | 'complete'): Promise<void>;
  reload(options: { wait: 'complete' }): Promise<void>;
  traverseHistory(delta: number): Promise<void>;
}

function firefoxTab(page: Page): Tab {
  // Navigation goes through BiDi's own commands, which wait for the document itself: puppeteer
  // 24 never sees the end of a navigation that restores a page from the back/forward cache (no
  // `load`), and after one every `page.goto` waits forever for the navigation it missed.
  const context = (page.mainFrame() as unknown as { browsingContext: BidiContext }).browsingContext;
  const tab: Tab = {
    async goto(url) {
      await context.navigate(url, 'complete');
    },
    async reload() {
      await context.reload({ wait: 'complete' });
    },
    async back() {
      const before = await page.evaluate(() => location.href);
      await context.traverseHistory(-1);
      await pollUntil(() => page.evaluate((b) => location.href !== b && document.readyState !== 'loading', before), 10_000, 'history.back()');
    },
    evaluate: (fn, arg) => page.evaluate(fn as never, arg) as never,
    async waitFor(fn, arg, timeoutMs = 10_000) {
      // Polled from here rather than in the page, so that a navigation while waiting (the
      // back/forward cache tests) does not end the wait with "execution context destroyed".
      await pollUntil(() => page.evaluate(fn as never, arg), timeoutMs, fn.toString());
    },
    async click(selector) {
      await page.locator(selector).click();
    },
    async fill(selector, text) {
      await page.locator(selector).fill(text);
    },
    async setViewport(size) {
      await page.setViewport(size);
    },
    async screenshot(path, options = {}) {
      await page.screenshot({ path: path as `${string}.png`, fullPage: options.fullPage ?? false });
    },
    async close() {
      await page.close({ runBeforeUnload: true });
    },
    get closed() {
      return page.isClosed();
    },
  };
  return tab;
}

/** Launches Firefox ESR with a fresh profile, headless, over WebDriver BiDi. */
export async function launchFirefox(options: LaunchOptions): Promise<Browser> {
  const profileDir = await mkdtemp(join(tmpdir(), 'tokumei-firefox-'));
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX_PATH,
    headless: true,
    userDataDir: profileDir,
    extraPrefsFirefox: {
      // The back/forward cache: how many documents Firefox keeps alive in session history
      // (-1: its own default, by memory size; 0: none).
      'browser.sessionhistory.max_total_viewers': options.bfcache === true ? -1 : 0,
      // No network chatter of its own (updates, telemetry, remote settings, captive portal).
      'app.update.enabled': false,
      'network.captive-portal-service.enabled': false,
      'network.connectivity-service.enabled': false,
      'datareporting.policy.dataSubmissionEnabled': false,
      'toolkit.telemetry.enabled': false,
    },
  });
  const pid = browser.process()?.pid;
  if (pid === undefined) throw new Error('firefox: puppeteer did not report the browser process');
  let first: Page | undefined = (await browser.pages())[0];
  let closed = false;
  return {
    engine: 'firefox',
    version: (await browser.version()).replace(/^firefox\//, ''),
    profileDir,
    async newTab() {
      const page = first ?? (await browser.newPage());
      first = undefined;
      return firefoxTab(page);
    },
    pids: () => processTree(pid),
    async close() {
      if (closed) return;
      closed = true;
      await browser.close().catch(() => browser.process()?.kill('SIGKILL'));
      await rm(profileDir, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}
