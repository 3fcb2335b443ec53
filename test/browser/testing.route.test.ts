// tokumei/testing in a Playwright test, as an app's own suite would use it: the page signs in
// with the real httpKeyProvider against a key environment URL that does not exist; a Playwright
// route answers it with the fake key environment running in the test (Node). Revocation and
// failures on demand reach the page.
import type { Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeKeyEnvironment, type FakeKeyEnvironment } from '../../src/testing.ts';
import { launchChromium, type LaunchedChromium } from './chromium.ts';
import type { PageApi } from './page.ts';
import { servePage, type PageServer } from './server.ts';

declare const tk: PageApi;

const KEY_ENV = 'https://key-env.test/session';
let server: PageServer;
let browser: LaunchedChromium;

beforeAll(async () => {
  server = await servePage(new URL('./page.ts', import.meta.url).pathname);
  browser = await launchChromium();
});
afterAll(async () => {
  await browser.close();
  await server.close();
});

/** What an app's Playwright suite writes once: the key environment's URL answered by the fake. */
async function routeKeyEnvironment(page: Page, env: FakeKeyEnvironment): Promise<void> {
  await page.route(`${KEY_ENV}**`, async (route: Route) => {
    const request = route.request();
    try {
      await route.fulfill(await env.handle({ url: request.url(), method: request.method(), headers: await request.allHeaders(), body: request.postData() }));
    } catch {
      await route.abort('failed'); // the 'network' failure
    }
  });
}

async function newApp(env: FakeKeyEnvironment): Promise<Page> {
  const page = await browser.context.newPage();
  await routeKeyEnvironment(page, env);
  await page.goto(`${server.origin}/app`);
  await page.waitForFunction(() => 'tk' in globalThis);
  return page;
}

describe('the fake key environment behind a Playwright route (Chromium)', () => {
  it('signs the page in over the real protocol; a revocation in the test wipes the page', async () => {
    const env = fakeKeyEnvironment();
    const page = await newApp(env);
    expect(await page.evaluate((o) => tk.trySignInHttp(o), { url: KEY_ENV, token: env.token('M000001'), revocationCheckMs: 300 })).toBe('ok');
    expect(await page.evaluate(() => tk.work(2))).toBe(2);
    expect(env.sessions).toHaveLength(1);
    env.revoke();
    await page.waitForFunction(() => tk.status().events.length > 0, undefined, { timeout: 15_000 });
    expect(await page.evaluate(() => tk.status())).toMatchObject({ state: 'closed', events: ['revoked'] });
    await page.close();
  });

  it('failures on demand reach the page with their codes; the next sign-in works', async () => {
    const env = fakeKeyEnvironment();
    const page = await newApp(env);
    const signIn = { url: KEY_ENV, token: env.token('M000001') };
    env.failNext('auth');
    expect(await page.evaluate((o) => tk.trySignInHttp(o), signIn)).toBe('ERR_AUTH');
    env.failNext('no-key');
    expect(await page.evaluate((o) => tk.trySignInHttp(o), signIn)).toBe('ERR_KEY_UNAVAILABLE no-key');
    env.failNext('network', 3); // retried twice, then given up
    expect(await page.evaluate((o) => tk.trySignInHttp(o), signIn)).toBe('ERR_KEY_UNAVAILABLE unreachable');
    // A gateway page without CORS headers: the browser itself refuses it to this page (another origin).
    env.failNext('cors', 3);
    expect(await page.evaluate((o) => tk.trySignInHttp(o), signIn)).toBe('ERR_KEY_UNAVAILABLE cors');
    expect(await page.evaluate((o) => tk.trySignInHttp(o), signIn)).toBe('ok');
    expect(env.deliveries).toBe(1);
    await page.close();
  });
});
