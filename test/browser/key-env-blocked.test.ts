// CSP and CORS refusals of the key delivery request, in Chromium, Firefox and WebKit. A script
// sees both only as "Failed to fetch", like a network that is down; httpKeyProvider tells them
// apart (one `no-cors` request to the same URL) and says what to fix — reason `csp` at once, and
// `cors` after the retries, since a gateway's error page without CORS headers during an outage
// looks the same (a gateway that recovers meanwhile delivers) — while a key environment that
// does not run is still `unreachable` and retried; diagnoseKeyEnvironment gives the same answer
// on demand. The page is on one origin,
// the key environments on others; what reaches them is counted at the server.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyEnvironment } from '../../src/server/key-environment.ts';
import { keyEnvironmentHandler } from '../../src/server/http/handler.ts';
import { localMasterKey } from '../../src/server/master-keys/local.ts';
import { memoryKeyStore } from '../../src/server/stores/memory-store.ts';
import { ENGINES, launchEngine, type Browser, type Tab } from './engines/engine.ts';

declare const signIn: (url: string, dpop: boolean) => Promise<{ result: unknown; posts: number }>;
declare const diagnose: (url: string) => Promise<string>;

const servers: Server[] = [];
/** Requests the key environments saw, as "METHOD /path". */
const seen: string[] = [];
let pageOrigin: string;
let allowing: string; // a key environment that lists the page's origin
let refusing: string; // one that does not (CORS)
let noDpopHeader: string; // one behind a gateway whose CORS lists the page but not the DPoP header
let closedPort: string;
let flaky: string; // a gateway whose first answer is its own 502 page, without CORS headers
let flakyOutages = 0;

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  const out = await build({ entryPoints: [new URL('./key-env-blocked.page.ts', import.meta.url).pathname], bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, logLevel: 'silent' });
  const bundle = out.outputFiles[0]!.text;
  pageOrigin = await listen((req, res) => {
    const { pathname, searchParams } = new URL(req.url ?? '/', 'http://page');
    if (pathname === '/bundle.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    // `?connect=<origins>`: a policy that lets the page talk to its own origin and those only.
    const connect = searchParams.get('connect');
    const csp: Record<string, string> = connect === null ? {} : { 'content-security-policy': `connect-src 'self' ${connect}` };
    res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'no-store', ...csp }).end('<!doctype html><meta charset="utf-8"><script type="module" src="/bundle.js"></script>');
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
  const allowingHandler = keyEnvironmentHandler(env, { path: '/session', allowOrigins: [pageOrigin] });
  noDpopHeader = await listen(
    counted((req, res) => {
      // A gateway's own CORS answer that forgot the DPoP header.
      const setHeader = res.setHeader.bind(res);
      res.setHeader = (name, value) => setHeader(name, /^access-control-allow-headers$/i.test(name) ? 'Authorization, Content-Type' : value);
      allowingHandler(req, res);
    }),
  );
  flaky = await listen(
    counted((req, res) => {
      if (flakyOutages > 0) {
        flakyOutages--;
        return void res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>502 Bad Gateway</h1>');
      }
      allowingHandler(req, res);
    }),
  );
  const gone = createServer();
  await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
  closedPort = `http://127.0.0.1:${(gone.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => gone.close(() => resolve()));
}, 60_000);

afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

for (const engine of ENGINES) {
  describe(`httpKeyProvider in ${engine}: CSP and CORS refusals say so (CSP at once)`, () => {
    let browser: Browser;
    let tab: Tab;
    beforeAll(async () => {
      browser = await launchEngine(engine);
      tab = await browser.newTab();
    }, 120_000);
    afterAll(async () => {
      await browser?.close();
    });

    /**
     * One sign-in from a fresh page (`connect`: under a CSP whose connect-src is 'self' and
     * these origins), the requests the key environments saw meanwhile, then the diagnosis.
     */
    async function attempt(url: string, options: { connect?: string; dpop?: boolean } = {}) {
      await tab.goto(`${pageOrigin}/app${options.connect === undefined ? '' : `?connect=${encodeURIComponent(options.connect)}`}`);
      await tab.waitFor(() => 'signIn' in globalThis);
      const before = seen.length;
      const { result, posts } = await tab.evaluate((a) => signIn(a.url, a.dpop), { url, dpop: options.dpop ?? false });
      const requests = seen.slice(before);
      const diagnosis = await tab.evaluate((u) => diagnose(u), url);
      return { result, posts, requests, diagnosis };
    }

    it('control: a key environment on another origin that lists the page delivers (with and without DPoP)', async () => {
      for (const dpop of [false, true]) {
        const { result, posts, diagnosis } = await attempt(`${allowing}/session`, { dpop });
        expect(result).toBe('delivered');
        // With DPoP the first POST is answered by the nonce challenge (a new provider has no nonce).
        expect(posts).toBe(dpop ? 2 : 1);
        expect(diagnosis).toBe('answers');
      }
    });

    it("control: under a CSP whose connect-src lists the key environment's origin, the same sign-in delivers", async () => {
      const { result, posts, requests } = await attempt(`${allowing}/session`, { connect: allowing });
      expect(result).toBe('delivered');
      expect(posts).toBe(1);
      expect(requests).toContain('POST /session');
    });

    it("CSP: the page's connect-src lacks the key environment — reason csp, naming connect-src, one attempt, nothing sent", async () => {
      const { result, posts, requests, diagnosis } = await attempt(`${allowing}/session`, { connect: '' });
      expect(result).toMatchObject({ code: 'ERR_KEY_UNAVAILABLE', reason: 'csp' });
      expect((result as { message: string }).message).toBe(`key environment: csp (${allowing}/session not in the page's connect-src)`);
      expect(posts).toBe(1);
      expect(requests).toEqual([]);
      expect(diagnosis).toBe('csp');
    });

    it("CORS: the key environment does not list the page's origin — reason cors after the retries, naming both origins and the gateway case", async () => {
      const { result, posts, requests, diagnosis } = await attempt(`${refusing}/session`);
      expect(result).toMatchObject({ code: 'ERR_KEY_UNAVAILABLE', reason: 'cors' });
      expect((result as { message: string }).message).toBe(`key environment: cors (${refusing}/session answers, but not to ${pageOrigin}: its CORS lacks this origin or the DPoP header, or a gateway's error page lacks CORS headers)`);
      expect(posts).toBe(3);
      // Each attempt: the refused preflight, then the no-cors request that told CORS from a network failure.
      expect(requests).toEqual(Array(3).fill(['OPTIONS /session', 'GET /session']).flat());
      expect(diagnosis).toBe('cors');
    });

    it('CORS: a gateway that lists the page but not the DPoP header — reason cors for a DPoP sign-in', async () => {
      const { result, posts, requests, diagnosis } = await attempt(`${noDpopHeader}/session`, { dpop: true });
      expect(result).toMatchObject({ code: 'ERR_KEY_UNAVAILABLE', reason: 'cors' });
      expect(posts).toBe(3);
      expect(requests).toEqual(Array(3).fill(['OPTIONS /session', 'GET /session']).flat());
      // diagnoseKeyEnvironment sends no DPoP header: to it, this gateway answers (as documented).
      expect(diagnosis).toBe('answers');
      // Control: without DPoP the same gateway's CORS lets the request through.
      expect((await attempt(`${noDpopHeader}/session`)).result).toBe('delivered');
    });

    it("a gateway's 502 page without CORS headers looks like a CORS refusal, and is retried: the sign-in delivers once the gateway recovers", async () => {
      flakyOutages = 2; // the first preflight and the probe after it get the gateway's page
      const { result, posts, requests } = await attempt(`${flaky}/session`);
      expect(flakyOutages).toBe(0);
      expect(result).toBe('delivered');
      expect(posts).toBe(2);
      expect(requests).toContain('POST /session');
    });

    it('control: a key environment that does not run is still unreachable, and retried (2 retries: 3 attempts)', async () => {
      const { result, posts, diagnosis } = await attempt(`${closedPort}/session`);
      expect(result).toMatchObject({ code: 'ERR_KEY_UNAVAILABLE', reason: 'unreachable' });
      expect(posts).toBe(3);
      expect(diagnosis).toBe('network');
    });
  });
}
