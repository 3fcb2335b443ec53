// Idle that matches people, in real Chromium with real input (playwright's mouse and keyboard):
// a member scrolling or typing is not idle by default; a quiet member is warned before the wipe,
// and answering the warning keeps the session.
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type LaunchedChromium } from './chromium.ts';
import { testKey } from './keys.ts';
import type { PageApi, SignInOptions } from './page.ts';
import { servePage, type PageServer } from './server.ts';

declare const tk: PageApi;

let server: PageServer;
let browser: LaunchedChromium;
const pages: Page[] = [];

beforeAll(async () => {
  server = await servePage(new URL('./page.ts', import.meta.url).pathname);
  browser = await launchChromium();
});
afterAll(async () => {
  await browser.close();
  await server.close();
});
afterEach(async () => {
  for (const p of pages.splice(0)) await p.close();
});

async function newApp(): Promise<Page> {
  const page = await browser.context.newPage();
  pages.push(page);
  await page.goto(`${server.origin}/app`);
  await page.waitForFunction(() => 'tk' in globalThis);
  // Something to scroll and a form field to type into.
  await page.evaluate(() => {
    document.body.style.height = '20000px';
    document.body.append(Object.assign(document.createElement('input'), { id: 'field' }));
  });
  return page;
}

function idleOptions(extra: Partial<SignInOptions> = {}): SignInOptions {
  const k = testKey('M000001.v1');
  return { keys: [[k.seed, k.keyId]], idleTimeoutMs: 1500, idleWarningMs: 500, ...extra };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('idle in Chromium, with real input', () => {
  it('scrolling with the wheel for 4.5 s keeps a 3 s idle session open (default events); without them it is wiped', async () => {
    // One page at a time: the page being scrolled is the one in front.
    const scrolled: Record<string, { state?: string; events: string[]; scrollY: number; longestGapMs: number }> = {};
    for (const [name, extra] of [['default', {}], ['opted-out', { activityEvents: [] as string[] }]] as const) {
      const page = await newApp();
      await page.bringToFront();
      await page.evaluate((o) => tk.signIn(o), idleOptions({ idleTimeoutMs: 3000, ...extra }));
      await page.mouse.move(200, 200);
      let longestGapMs = 0;
      for (let last = Date.now(), end = last + 4500; Date.now() < end; ) {
        await page.mouse.wheel(0, 200);
        longestGapMs = Math.max(longestGapMs, Date.now() - last);
        last = Date.now();
        await sleep(250);
      }
      scrolled[name] = { ...(await page.evaluate(() => tk.status())), scrollY: await page.evaluate(() => window.scrollY), longestGapMs };
      await page.close();
    }
    expect(scrolled.default!.scrollY).toBeGreaterThan(0); // the page really scrolled
    expect(scrolled.default!.longestGapMs).toBeLessThan(3000); // the input really came more often than the timeout
    expect(scrolled.default).toMatchObject({ state: 'open', events: [] });
    // Positive control: the same scrolling, with activity events opted out, did not count.
    expect(scrolled['opted-out']).toMatchObject({ state: 'closed', events: ['idle'] });
  });

  it('typing in a form field is activity', async () => {
    const page = await newApp();
    await page.evaluate((o) => tk.signIn(o), idleOptions({ idleTimeoutMs: 3000 }));
    await page.click('#field');
    for (let i = 0; i < 8; i++) {
      await page.keyboard.type('ab');
      await sleep(400);
    }
    expect(await page.inputValue('#field')).toBe('ab'.repeat(8));
    expect(await page.evaluate(() => tk.status())).toMatchObject({ state: 'open', events: [] });
  });

  it('a quiet member is warned (not early) before the idle wipe; the wipe keeps to the announced deadline', async () => {
    const page = await newApp();
    await page.evaluate((o) => tk.signIn(o), idleOptions());
    await page.waitForFunction(() => tk.status().events.length > 0, undefined, { timeout: 15_000 });
    const { events, wipedAfter } = await page.evaluate(() => tk.idle());
    expect(events).toHaveLength(1);
    const [name, at, deadline] = events[0]!;
    expect(name).toBe('idle-warning');
    expect(at).toBeGreaterThanOrEqual(deadline - 500); // idleWarningMs before the deadline, not earlier
    expect(wipedAfter).toBeGreaterThanOrEqual(deadline);
    expect(wipedAfter).toBeGreaterThan(at);
    expect(await page.evaluate(() => tk.status().events)).toEqual(['idle']);
  });

  it('answering the warning ("still there?" → touch(), or a key press) ends it and keeps the session', async () => {
    const page = await newApp();
    // A 4 s window to answer in: long enough for a loaded machine's round trips.
    await page.evaluate((o) => tk.signIn(o), idleOptions({ idleTimeoutMs: 6000, idleWarningMs: 4000 }));
    await page.waitForFunction(() => tk.idle().events.length === 1, undefined, { timeout: 15_000 });
    const before = await page.evaluate(() => tk.idle().deadline);
    await page.evaluate(() => tk.touch());
    const after = await page.evaluate(() => tk.idle());
    expect(after.events.map(([name]) => name)).toEqual(['idle-warning', 'active']);
    expect(after.deadline).toBeGreaterThan(before);
    // The next quiet spell warns again; this time a key press answers it.
    await page.waitForFunction(() => tk.idle().events.length === 3, undefined, { timeout: 15_000 });
    await page.keyboard.press('Shift');
    await page.waitForFunction(() => tk.idle().events.length === 4);
    expect((await page.evaluate(() => tk.idle())).events.map(([name]) => name)).toEqual(['idle-warning', 'active', 'idle-warning', 'active']);
    expect(await page.evaluate(() => tk.status())).toMatchObject({ state: 'open', events: [] });
  });
});
