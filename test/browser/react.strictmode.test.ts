// tokumei/react in real Chromium: a React 19 app under StrictMode, served by Vite's dev server
// (development React: StrictMode mounts every component twice; react-refresh for fast refresh),
// signing in through a real key environment that counts deliveries and logoffs.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { launchChromium, type LaunchedChromium } from './chromium.ts';
import { MEMBER_NAME, serveViteApp, type ViteApp } from './vite-app.ts';

let app: ViteApp;
let browser: LaunchedChromium;
let page: Page;

beforeAll(async () => {
  app = await serveViteApp(new URL('./react-app', import.meta.url).pathname);
  browser = await launchChromium();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await app?.close();
});
beforeEach(async () => {
  app.counts.deliveries.length = 0;
  app.counts.logoffs = 0;
  app.counts.ended.length = 0;
  app.counts.tokens = 0;
  page = await browser.context.newPage();
});
afterEach(async () => {
  // A clean origin for the next test: no stored session, no log.
  await page.evaluate(async () => {
    sessionStorage.clear();
    for (const { name } of await indexedDB.databases()) if (name?.startsWith('tokumei')) indexedDB.deleteDatabase(name);
  });
  await page.close();
});

const text = (testId: string) => page.getByTestId(testId).textContent();

async function load(query = ''): Promise<void> {
  await page.goto(`${app.origin}/${query}`);
  await page.getByTestId('name').filter({ hasText: MEMBER_NAME }).waitFor({ timeout: 30_000 });
}

/** Waits for the app's 50 re-renders (a new inline getToken each time) to be over, and a little more. */
async function afterRenderStorm(): Promise<void> {
  await page.getByTestId('renders').filter({ hasText: /^50$/ }).waitFor({ timeout: 60_000 });
  await page.waitForTimeout(500);
}

const wipesIn = (log: string) => log.split(' ').filter((e) => e.startsWith('closed'));

describe('tokumei/react under StrictMode (Chromium, React 19, Vite dev server)', { timeout: 120_000 }, () => {
  it('positive control: the hook the guide used to show signs in more than once and logs off, under the same StrictMode', async () => {
    await page.goto(`${app.origin}/?naive=1`);
    await page.getByTestId('status').filter({ hasText: 'open' }).waitFor({ timeout: 30_000 }).catch(() => undefined);
    await page.waitForTimeout(2000);
    await page.goto('about:blank'); // stop its loop
    expect(app.counts.deliveries.length).toBeGreaterThan(1);
    expect(app.counts.logoffs).toBeGreaterThan(0);
    await page.goto(app.origin);
  });

  it('one sign-in is one delivery, whatever StrictMode, inline options and a re-render storm do; no logoff', async () => {
    await load();
    await afterRenderStorm();
    expect(await text('renders')).toBe('50');
    expect(app.counts.deliveries).toHaveLength(1);
    expect(app.counts.tokens).toBe(1);
    expect(app.counts.logoffs).toBe(0);
    expect(await text('status')).toBe('open');
    expect(await text('session')).toBe(app.counts.deliveries[0]);
  });

  it('IndexedDB: 8 reloads resume the same session, one delivery each, no wipe but pagehide, no logoff', async () => {
    await load('?persistence=indexeddb');
    const sessionId = await text('session');
    for (let i = 0; i < 8; i++) {
      await page.reload();
      await page.getByTestId('name').filter({ hasText: MEMBER_NAME }).waitFor({ timeout: 30_000 });
      expect(await text('session')).toBe(sessionId);
    }
    await afterRenderStorm();
    expect(app.counts.deliveries).toEqual(Array(9).fill(sessionId));
    expect(app.counts.logoffs).toBe(0);
    expect(app.counts.ended).toEqual([]); // pagehide in IndexedDB mode keeps the session resumable
    const log = await page.evaluate(() => sessionStorage.getItem('log') ?? '');
    expect(wipesIn(log)).toEqual(Array(8).fill('closed:pagehide')); // one per reload, nothing else
    expect(await text('status')).toBe('open');
  });

  it('memory mode: 8 reloads are 9 sign-ins, one delivery each, no logoff, no wipe but pagehide (each ends its session at the key environment)', async () => {
    await load();
    for (let i = 0; i < 8; i++) {
      await page.reload();
      await page.getByTestId('name').filter({ hasText: MEMBER_NAME }).waitFor({ timeout: 30_000 });
    }
    await afterRenderStorm();
    expect(app.counts.deliveries).toHaveLength(9);
    expect(new Set(app.counts.deliveries).size).toBe(9);
    expect(app.counts.logoffs).toBe(0);
    // Each reload's pagehide ended its session at the key environment (memory mode: nothing can resume it).
    await expect.poll(() => app.counts.ended).toEqual(Array(8).fill('pagehide'));
    const log = await page.evaluate(() => sessionStorage.getItem('log') ?? '');
    expect(wipesIn(log)).toEqual(Array(8).fill('closed:pagehide'));
  });

  it('logoff: closed with its reason, the record dropped, the key environment told once; no sign-in until asked', async () => {
    await load();
    await page.getByTestId('log-off').click();
    await page.getByTestId('wipe').filter({ hasText: 'logoff' }).waitFor();
    expect(await text('status')).toBe('closed');
    expect(await text('name')).toBe('');
    expect(await text('record')).toBe('idle');
    await afterRenderStorm();
    await expect.poll(() => app.counts.logoffs).toBe(1);
    expect(app.counts.deliveries).toHaveLength(1); // openOnMount does not sign a signed-out member back in
    await page.getByTestId('sign-in').click();
    await page.getByTestId('name').filter({ hasText: MEMBER_NAME }).waitFor();
    expect(app.counts.deliveries).toHaveLength(2);
  });

  it('fast refresh: editing a component keeps the session (no new delivery, no wipe)', async () => {
    await load();
    const sessionId = await text('session');
    await afterRenderStorm();
    const file = join(app.dir, 'App.tsx');
    const source = await readFile(file, 'utf8');
    await writeFile(file, source.replace('Log off\n', 'Log off (edited)\n'));
    await page.getByTestId('log-off').filter({ hasText: 'edited' }).waitFor({ timeout: 30_000 });
    expect(await text('session')).toBe(sessionId);
    expect(await text('status')).toBe('open');
    expect(await text('name')).toBe(MEMBER_NAME);
    expect(app.counts.deliveries).toHaveLength(1);
    expect(app.counts.logoffs).toBe(0);
    // The module was really replaced in place, not reloaded: the page's log shows no second load.
    const log = await page.evaluate(() => sessionStorage.getItem('log') ?? '');
    expect(log.split(' ').filter((e) => e === 'opening')).toHaveLength(1);
    await writeFile(file, source);
  });

  it('idle warning: "Stay signed in" keeps the session; left alone it is wiped and the record dropped', async () => {
    await load('?idle=8000'); // warning 2 s before the wipe (a quarter)
    await page.getByTestId('stay').waitFor({ timeout: 30_000 });
    await page.getByTestId('stay').click();
    await page.getByTestId('stay').waitFor({ state: 'detached' });
    expect(await text('status')).toBe('open');
    await page.getByTestId('wipe').filter({ hasText: 'idle' }).waitFor({ timeout: 30_000 });
    expect(await text('name')).toBe('');
    expect(app.counts.deliveries).toHaveLength(1);
  });
});
