// CSP and CORS refusals of the key delivery request, in real Chromium: a script sees both only
// as "Failed to fetch", like a network that is down, so httpKeyProvider reports all three as
// `unreachable` (and retries them); diagnoseKeyEnvironment tells them apart afterwards. The page
// is on one origin, the key environment on another.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyEnvironment } from '../../src/server/key-environment.ts';
import { keyEnvironmentHandler } from '../../src/server/http/handler.ts';
import { localMasterKey } from '../../src/server/master-keys/local.ts';
import { memoryKeyStore } from '../../src/server/stores/memory-store.ts';
import { launchChromium, type LaunchedChromium } from './chromium.ts';

const servers: Server[] = [];
/** Requests the key environments saw, as "METHOD /path". */
const seen: string[] = [];
let browser: LaunchedChromium;
let page: Page;
let pageOrigin: string;
let allowing: string; // a key environment that lists the page's origin
let refusing: string; // one that does not (CORS)
let closedPort: string;

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  const out = await build({ entryPoints: [new URL('./key-env-diagnose.page.ts', import.meta.url).pathname], bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, logLevel: 'silent' });
  const bundle = out.outputFiles[0]!.text;
  pageOrigin = await listen((req, res) => {
    const [path, query] = (req.url ?? '/').split('?');
    if (path === '/bundle.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    // `?csp`: a policy that lets the page talk to its own origin only.
    const csp: Record<string, string> = query === 'csp' ? { 'content-security-policy': "connect-src 'self'" } : {};
    res.writeHead(200, { 'content-type': 'text/html', ...csp }).end('<!doctype html><meta charset="utf-8"><script type="module" src="/bundle.js"></script>');
  });
  const env = createKeyEnvironment({
    masterKey: localMasterKey(crypto.getRandomValues(new Uint8Array(32))),
    store: memoryKeyStore(),
    authenticate: ({ token }) => ({ memberId: token.split('~')[0]! }),
    dpop: { required: false },
  });
  await env.createMemberKey('M000001');
  const counted = (handler: (req: IncomingMessage, res: ServerResponse) => void) => (req: IncomingMessage, res: ServerResponse) => {
    seen.push(`${req.method} ${req.url}`);
    handler(req, res);
  };
  allowing = await listen(counted(keyEnvironmentHandler(env, { path: '/session', allowOrigins: [pageOrigin] })));
  refusing = await listen(counted(keyEnvironmentHandler(env, { path: '/session' })));
  const gone = createServer();
  await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
  closedPort = `http://127.0.0.1:${(gone.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => gone.close(() => resolve()));
  browser = await launchChromium();
  page = await browser.context.newPage();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  for (const s of servers) await new Promise<void>((resolve) => s.close(() => resolve()));
});

/** One sign-in from the page (with `?csp`: under the policy), and the requests the key environments saw meanwhile. */
async function signIn(url: string, query = ''): Promise<{ result: unknown; posts: number; diagnosis?: string; requests: string[] }> {
  await page.goto(`${pageOrigin}/app${query}`);
  await page.waitForFunction(() => typeof (globalThis as { signIn?: unknown }).signIn === 'function');
  const before = seen.length;
  const out = await page.evaluate((u) => (globalThis as unknown as { signIn: (u: string) => Promise<{ result: unknown; posts: number; diagnosis?: string }> }).signIn(u), url);
  return { ...out, requests: seen.slice(before) };
}

describe('diagnoseKeyEnvironment in Chromium: CSP, CORS and a network failure told apart', () => {
  it('control: a key environment on another origin that lists the page delivers, and answers', async () => {
    const { result, posts, diagnosis } = await signIn(`${allowing}/session`);
    expect(result).toBe('delivered');
    expect(posts).toBe(1);
    expect(diagnosis).toBe('answers');
  });

  it("CORS: the key environment does not list the page's origin — unreachable for httpKeyProvider, 'cors' for the diagnosis", async () => {
    const { result, posts, diagnosis, requests } = await signIn(`${refusing}/session`);
    expect(result).toMatchObject({ code: 'ERR_KEY_UNAVAILABLE' });
    expect(posts).toBe(3);
    expect(diagnosis).toBe('cors');
    // Three refused preflights of the sign-in, then the diagnosis: its refused preflight and its no-cors request.
    expect(requests).toEqual([...Array(4).fill('OPTIONS /session'), 'GET /session']);
  });

  it("CSP: the page's connect-src does not allow the key environment — nothing is sent, 'csp' for the diagnosis", async () => {
    const { result, posts, diagnosis, requests } = await signIn(`${allowing}/session`, '?csp');
    expect(result).toMatchObject({ code: 'ERR_KEY_UNAVAILABLE' });
    expect(posts).toBe(3);
    expect(diagnosis).toBe('csp');
    expect(requests).toEqual([]);
  });

  it("control: a key environment that does not run — 'network' for the diagnosis", async () => {
    const { result, posts, diagnosis } = await signIn(`${closedPort}/session`);
    expect(result).toMatchObject({ code: 'ERR_KEY_UNAVAILABLE' });
    expect(posts).toBe(3);
    expect(diagnosis).toBe('network');
  });
});
