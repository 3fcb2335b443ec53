// Launching Debian's Chromium through playwright-core for real-browser tests, and finding every
// process of one instance so its memory can be scanned (docs/threat-model.md §7). Never downloads a browser.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { processTreeByArg } from './engines/processes.ts';

/** The flags every test launch uses (no network chatter, no GPU process, runs as root). */
export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** A running Chromium instance with its own profile directory. */
export interface LaunchedChromium {
  context: BrowserContext;
  /** The profile directory (a fresh temp directory unless one was given). */
  userDataDir: string;
  /** Closes the browser; removes the profile directory if this call created it. */
  close(): Promise<void>;
}

/**
 * Launches `/usr/bin/chromium` with a persistent profile, so the profile on disk can be scanned
 * after the test. A fresh temp profile by default; pass `userDataDir` to reuse one (for example
 * to reopen the same profile after a restart). `bfcache: true` enables the back/forward cache,
 * which playwright-core otherwise disables.
 */
export async function launchChromium(
  options: { userDataDir?: string; headless?: boolean; bfcache?: boolean } = {},
): Promise<LaunchedChromium> {
  const owned = options.userDataDir === undefined;
  const userDataDir = options.userDataDir ?? (await mkdtemp(join(tmpdir(), 'tokumei-chromium-')));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: options.headless ?? true,
    args: [...CHROMIUM_ARGS],
    // playwright-core turns the back/forward cache off by default; `bfcache: true` keeps
    // Chromium's own default (on), for tests of pages entering and leaving it.
    ...(options.bfcache === true ? { ignoreDefaultArgs: ['--disable-back-forward-cache'] } : {}),
  });
  let closed = false;
  return {
    context,
    userDataDir,
    async close() {
      if (closed) return;
      closed = true;
      await context.close().catch(() => undefined);
      if (owned) await rm(userDataDir, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}

/**
 * Every process of the Chromium instance using `userDataDir`: those whose command line names
 * `--user-data-dir=<dir>` and all their descendants (zygotes, renderers, utility processes).
 */
export function chromiumPids(userDataDir: string): number[] {
  const flag = `--user-data-dir=${userDataDir}`;
  return processTreeByArg((arg) => arg === flag || arg === `${flag}/`);
}
