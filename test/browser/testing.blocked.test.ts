// tokumei/testing's simulated CSP and CORS refusals reach the app exactly as the real ones do
// (test/browser/key-env-blocked.test.ts tests those in three engines): in Chromium, the same
// sign-in through the real httpKeyProvider, once refused for real — by the page's
// Content-Security-Policy, by a key environment on another origin that does not list the page —
// and once against the fake with `failNext('csp')` / `failNext('cors')`, to the same URL.
// The error (code, reason, message) and the number of attempts (CSP at once, CORS after the
// retries) must be the same; the in-process keyProvider gives the same code and reason.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyEnvironment } from '../../src/server/key-environment.ts';
import { keyEnvironmentHandler } from '../../src/server/http/handler.ts';
import { localMasterKey } from '../../src/server/master-keys/local.ts';
import { memoryKeyStore } from '../../src/server/stores/memory-store.ts';
import { launchChromium, type LaunchedChromium } from './chromium.ts';
import { servePage, type PageServer } from './server.ts';

type Fake = { failure: 'csp' | 'cors'; times: number; path: 'fetch' | 'in-process' };
declare const signIn: (url: string, fake?: Fake) => Promise<{ result: unknown; posts: number }>;

const PAGE = new URL('./testing-blocked.page.ts', import.meta.url).pathname;
const servers: PageServer[] = [];
let pageOrigin: string;
let refusing: string; // a real key environment on another origin that does not list the page
let allowing: string; // one that does (the control)
let browser: LaunchedChromium;
let page: Page;
/** Requests the real key environments saw. */
const seen: string[] = [];

/** Serves the page, with `handler` seeing every request first. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse, next: () => void) => void): Promise<string> {
  const s = await servePage(PAGE, { handler });
  servers.push(s);
  return s.origin;
}

beforeAll(async () => {
  // `/app?csp`: under a policy whose connect-src is the page's own origin only.
  pageOrigin = await serve((req, res, next) => {
    if (/[?&]csp\b/.test(req.url ?? '')) res.setHeader('content-security-policy', "connect-src 'self'");
    next();
  });
  const env = createKeyEnvironment({
    masterKey: localMasterKey(crypto.getRandomValues(new Uint8Array(32))),
    store: memoryKeyStore(),
    authenticate: ({ token }) => ({ memberId: token.split('~')[0]! }),
    dpop: { required: false },
  });
  await env.createMemberKey('M000001');
  const counted = (handler: (req: IncomingMessage, res: ServerResponse, next: () => void) => void) => (req: IncomingMessage, res: ServerResponse, next: () => void) => {
    seen.push(`${req.method} ${req.url}`);
    handler(req, res, next);
  };
  refusing = `${await serve(counted(keyEnvironmentHandler(env, { path: '/session' })))}/session`;
  allowing = `${await serve(counted(keyEnvironmentHandler(env, { path: '/session', allowOrigins: [pageOrigin] })))}/session`;
  browser = await launchChromium();
  page = await browser.context.newPage();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  for (const s of servers) await s.close();
});

async function attempt(url: string, options: { csp?: boolean; fake?: Fake } = {}): Promise<{ result: unknown; posts: number; requests: string[] }> {
  await page.goto(`${pageOrigin}/app${options.csp === true ? '?csp' : ''}`);
  await page.waitForFunction(() => 'signIn' in globalThis);
  const before = seen.length;
  const r = await page.evaluate((a) => signIn(a.url, a.fake), { url, fake: options.fake });
  return { ...r, requests: seen.slice(before) };
}

describe('tokumei/testing simulates CSP and CORS refusals as the browser makes them (Chromium)', () => {
  it('controls: the real key environment delivers when it lists the page; the fake delivers with nothing planned', async () => {
    expect((await attempt(allowing)).result).toBe('delivered');
    const fake = await attempt(refusing, { fake: { failure: 'csp', times: 0, path: 'fetch' } });
    expect(fake).toEqual({ result: 'delivered', posts: 1, requests: [] });
  });

  it("failNext('csp'): reason csp at once, the same error as the page's real connect-src refusal", async () => {
    const real = await attempt(allowing, { csp: true });
    expect(real.result).toMatchObject({ code: 'ERR_KEY_UNAVAILABLE', reason: 'csp' });
    expect(real.requests).toEqual([]); // the browser sent nothing
    const simulated = await attempt(allowing, { fake: { failure: 'csp', times: 3, path: 'fetch' } });
    expect(simulated.requests).toEqual([]); // the fake answered, not the real key environment
    expect({ result: simulated.result, posts: simulated.posts }).toEqual({ result: real.result, posts: real.posts });
    expect(simulated.posts).toBe(1);
    const inProcess = await attempt(allowing, { fake: { failure: 'csp', times: 1, path: 'in-process' } });
    expect(inProcess.result).toMatchObject({ code: 'ERR_KEY_UNAVAILABLE', reason: 'csp' });
  });

  it("failNext('cors', 3): reason cors after the retries, the same error as a real key environment that does not list the page", async () => {
    const real = await attempt(refusing);
    expect(real.result).toMatchObject({ code: 'ERR_KEY_UNAVAILABLE', reason: 'cors' });
    expect(real.requests).toEqual(Array(3).fill(['OPTIONS /session', 'GET /session']).flat());
    const simulated = await attempt(refusing, { fake: { failure: 'cors', times: 3, path: 'fetch' } });
    expect(simulated.requests).toEqual([]);
    expect({ result: simulated.result, posts: simulated.posts }).toEqual({ result: real.result, posts: real.posts });
    expect(simulated.posts).toBe(3);
    // Like a gateway that recovers between attempts, one planned refusal is survived by the retry.
    expect(await attempt(refusing, { fake: { failure: 'cors', times: 1, path: 'fetch' } }).then((r) => [r.result, r.posts])).toEqual(['delivered', 2]);
    const inProcess = await attempt(refusing, { fake: { failure: 'cors', times: 1, path: 'in-process' } });
    expect(inProcess.result).toMatchObject({ code: 'ERR_KEY_UNAVAILABLE', reason: 'cors' });
  });
});
