// One way for the browser tests to drive each engine they run in: Chromium (Debian's, through
// playwright-core), Firefox (Debian's ESR, through puppeteer-core over WebDriver BiDi) and WebKit
// (WebKitGTK's MiniBrowser through WebKitWebDriver, W3C WebDriver over HTTP, under Xvfb). Each
// launch gets a fresh profile; `pids()` lists every process of that one browser instance, so the
// residue scans read all of them. No browser is ever downloaded.

/** The engines the browser tests run in. */
export type EngineName = 'chromium' | 'firefox' | 'webkit';

/** Every engine, in the order the tests run them. */
export const ENGINES: readonly EngineName[] = ['chromium', 'firefox', 'webkit'];

/** A CSS pixel size. */
export interface Size {
  width: number;
  height: number;
}

/** How to launch. */
export interface LaunchOptions {
  /**
   * Keep the back/forward cache on. Off by default in every engine (playwright-core turns it off
   * in Chromium; Firefox and WebKit are told to keep no cached pages), so a test that needs a
   * page to enter the cache says so.
   */
  bfcache?: boolean;
}

/** One tab (a top-level browsing context). */
export interface Tab {
  /** Navigates and waits for `load`. */
  goto(url: string): Promise<void>;
  /** Reloads and waits for `load`. */
  reload(): Promise<void>;
  /**
   * Goes back one history entry and resolves once it is the current document (a page restored
   * from the back/forward cache fires no `load`: wait for what the test expects next).
   */
  back(): Promise<void>;
  /** Runs `fn(arg)` in the page (its source is sent, so it may use only page globals and `arg`). */
  evaluate<R, A = undefined>(fn: (arg: A) => R | Promise<R>, arg?: A): Promise<Awaited<R>>;
  /** Polls `fn(arg)` in the page until it returns something truthy; throws after `timeoutMs`. */
  waitFor<A = undefined>(fn: (arg: A) => unknown, arg?: A, timeoutMs?: number): Promise<void>;
  /** Clicks the first element matching `selector` (a real input event in every engine). */
  click(selector: string): Promise<void>;
  /** Replaces the value of the input matching `selector` by typing `text`. */
  fill(selector: string, text: string): Promise<void>;
  /** Sets the size of the page's viewport (the window's, where the engine has no emulation). */
  setViewport(size: Size): Promise<void>;
  /** Writes a PNG of the viewport (or of the whole page, where the engine can) to `path`. */
  screenshot(path: string, options?: { fullPage?: boolean }): Promise<void>;
  /** Closes the tab (running `beforeunload`/`pagehide` as a member closing it would). */
  close(): Promise<void>;
  readonly closed: boolean;
}

/** One running browser instance with its own fresh profile. */
export interface Browser {
  readonly engine: EngineName;
  /** The engine's version as the browser reports it (e.g. `156.0.8078.114`). */
  readonly version: string;
  /** The profile directory on disk (what the profile scans read). */
  readonly profileDir: string;
  /** Opens a tab (the first call hands out the tab the browser started with). */
  newTab(): Promise<Tab>;
  /** Every live process of this browser instance (browser, content/renderer, network, …). */
  pids(): number[];
  /** Closes the browser and removes its profile. Idempotent. */
  close(): Promise<void>;
}

/** Polls `check` every `intervalMs` until it returns something truthy; rethrows its last error on timeout. */
export async function pollUntil(check: () => Promise<unknown>, timeoutMs: number, what: string, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
      last = undefined;
    } catch (err) {
      last = err; // e.g. the document was being replaced by a navigation
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Launches `engine` with a fresh profile. */
export async function launchEngine(engine: EngineName, options: LaunchOptions = {}): Promise<Browser> {
  switch (engine) {
    case 'chromium':
      return (await import('./chromium.ts')).launchChromiumEngine(options);
    case 'firefox':
      return (await import('./firefox.ts')).launchFirefox(options);
    case 'webkit':
      return (await import('./webkit.ts')).launchWebKit(options);
  }
}
