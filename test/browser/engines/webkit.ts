// WebKit behind the engine interface: WebKitGTK's MiniBrowser driven through WebKitWebDriver
// (W3C WebDriver over HTTP; the small client below uses `fetch`). MiniBrowser needs an X display,
// so each launch starts its own Xvfb. The driver picks its own port (`-p 0`) and the port is read
// back from /proc. HOME and the XDG folders point at a fresh temp directory: that is the profile.
// In automation mode MiniBrowser keeps website data (IndexedDB included) in an ephemeral,
// in-memory session of its network process, so nothing of a page reaches that folder by design.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pollUntil, type Browser, type LaunchOptions, type Size, type Tab } from './engine.ts';
import { listeningPort, processTree, stopProcess, track } from './processes.ts';

/** WebKitGTK's WebDriver and its test browser (Debian's webkit2gtk-driver). */
export const WEBKIT_DRIVER_PATH = '/usr/bin/WebKitWebDriver';
export const MINIBROWSER_PATH = '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';

// MiniBrowser's toolbar would keep its window at least 447 px wide; with these styles it can be
// as narrow as a phone (390 px). Only the browser's own chrome is styled, never web content.
const GTK_CSS = 'headerbar, headerbar *, toolbar, toolbar *, entry, button { min-width: 0; min-height: 0; padding: 0; margin: 0; font-size: 1px; }\n';

/** Starts Xvfb on the first free display; resolves with the child and `:N`. */
async function startXvfb(): Promise<{ child: ChildProcess; display: string }> {
  const child = spawn('Xvfb', ['-displayfd', '1', '-nolisten', 'tcp', '-screen', '0', '1280x1024x24'], { stdio: ['ignore', 'pipe', 'ignore'] });
  track(child);
  const display = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(`:${out.trim()}`);
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`Xvfb exited (${code}) before it chose a display`)));
  });
  return { child, display };
}

interface WebDriverError {
  error: string;
  message: string;
}

/** A W3C WebDriver session over HTTP. */
class WebDriverSession {
  constructor(
    readonly base: string,
    readonly id: string,
  ) {}

  static async create(base: string, capabilities: object): Promise<{ session: WebDriverSession; browserVersion: string }> {
    const value = (await request(base, 'POST', '/session', { capabilities })) as { sessionId: string; capabilities: { browserVersion: string } };
    return { session: new WebDriverSession(base, value.sessionId), browserVersion: value.capabilities.browserVersion };
  }

  cmd(method: 'GET' | 'POST' | 'DELETE', path: string, body?: object): Promise<unknown> {
    return request(this.base, method, `/session/${this.id}${path}`, body ?? (method === 'POST' ? {} : undefined));
  }
}

async function request(base: string, method: string, path: string, body?: object): Promise<unknown> {
  const res = await fetch(base + path, {
    method,
    headers: { 'content-type': 'application/json; charset=utf-8' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json()) as { value: unknown };
  if (!res.ok) {
    const e = json.value as WebDriverError;
    throw new Error(`webdriver ${method} ${path.replace(/^\/session\/[^/]+/, '')}: ${e.error}: ${e.message}`);
  }
  return json.value;
}

// Runs a function's source with one JSON argument; the result comes back as { ok } or { err }.
// The source is part of the script WebDriver runs (no eval in the page, so a page's CSP is moot).
const evaluateScript = (source: string): string => `const done = arguments[arguments.length - 1];
const arg = arguments[0];
Promise.resolve()
  .then(() => (${source})(arg))
  .then((ok) => done({ ok: ok === undefined ? null : ok }), (e) => done({ err: String(e) + (e && e.stack ? ' at ' + e.stack : '') }));`;

/** Launches MiniBrowser through WebKitWebDriver, under a fresh Xvfb. */
export async function launchWebKit(options: LaunchOptions): Promise<Browser> {
  const home = await mkdtemp(join(tmpdir(), 'tokumei-webkit-'));
  await mkdir(join(home, 'config/gtk-3.0'), { recursive: true });
  await writeFile(join(home, 'config/gtk-3.0/gtk.css'), GTK_CSS);
  const xvfb = await startXvfb();
  const env = {
    ...process.env,
    DISPLAY: xvfb.display,
    HOME: home,
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_DATA_HOME: join(home, 'data'),
    XDG_CACHE_HOME: join(home, 'cache'),
    XDG_RUNTIME_DIR: join(home, 'runtime'),
    // WebKitGTK takes navigator.language from the locale; under CI's "C" locale it is "C", which
    // no Intl constructor accepts (and libraries call them at import). Chromium and Firefox say
    // en-US here: so does WebKit.
    LANG: 'en_US.UTF-8',
    LANGUAGE: 'en_US',
    LC_ALL: '',
  };
  await mkdir(env.XDG_RUNTIME_DIR, { recursive: true, mode: 0o700 });
  // TOKUMEI_WEBKIT_LOG=<file> keeps what the driver and the browser print (pages' console
  // messages included), for finding out why a page did not do what a test expected.
  const log = process.env.TOKUMEI_WEBKIT_LOG;
  const driver = spawn(WEBKIT_DRIVER_PATH, ['-p', '0'], { env, stdio: log === undefined ? 'ignore' : ['ignore', openSync(log, 'a'), openSync(log, 'a')] });
  track(driver);
  const stopAll = async (): Promise<void> => {
    await stopProcess(driver);
    await stopProcess(xvfb.child);
    await rm(home, { recursive: true, force: true }).catch(() => undefined);
  };
  let session: WebDriverSession;
  let version: string;
  try {
    let port: number | undefined;
    await pollUntil(async () => (port = listeningPort(driver.pid!)) !== undefined, 10_000, 'WebKitWebDriver to listen');
    ({ session, browserVersion: version } = await WebDriverSession.create(`http://127.0.0.1:${port}`, {
      alwaysMatch: {
        timeouts: { script: 30_000, pageLoad: 30_000, implicit: 0 },
        'webkitgtk:browserOptions': {
          binary: MINIBROWSER_PATH,
          args: ['--automation', `--enable-page-cache=${options.bfcache === true}`, `--enable-write-console-messages-to-stdout=${log !== undefined}`],
        },
      },
    }));
  } catch (err) {
    await stopAll();
    throw err;
  }
  let current = ((await session.cmd('GET', '/window/handles')) as string[])[0]!;
  let first: string | undefined = current;
  let open: string[] = [current]; // the tabs still open, as the driver last listed them
  // Every command acts on the session's current tab: switch first when another tab is meant.
  let queue: Promise<unknown> = Promise.resolve();
  const on = <T>(handle: string, run: () => Promise<T>): Promise<T> => {
    const next = queue.then(async () => {
      if (current !== handle) {
        await session.cmd('POST', '/window', { handle });
        current = handle;
      }
      return run();
    });
    queue = next.catch(() => undefined);
    return next;
  };
  let closed = false;

  function webkitTab(handle: string): Tab {
    let tabClosed = false;
    const evaluate = (fn: (arg: never) => unknown, arg: unknown): Promise<unknown> =>
      on(handle, async () => {
        const r = (await session.cmd('POST', '/execute/async', { script: evaluateScript(fn.toString()), args: [arg ?? null] })) as { ok?: unknown; err?: string };
        if (r.err !== undefined) throw new Error(`evaluate: ${r.err}`);
        return r.ok;
      });
    const element = async (selector: string): Promise<string> => {
      const el = (await session.cmd('POST', '/element', { using: 'css selector', value: selector })) as Record<string, string>;
      return Object.values(el)[0]!;
    };
    const tab: Tab = {
      goto: (url) => on(handle, async () => void (await session.cmd('POST', '/url', { url }))),
      reload: () => on(handle, async () => void (await session.cmd('POST', '/refresh'))),
      back: () => on(handle, async () => void (await session.cmd('POST', '/back'))),
      evaluate: evaluate as Tab['evaluate'],
      async waitFor(fn, arg, timeoutMs = 10_000) {
        await pollUntil(() => evaluate(fn as never, arg), timeoutMs, fn.toString());
      },
      click: (selector) => on(handle, async () => void (await session.cmd('POST', `/element/${await element(selector)}/click`))),
      fill: (selector, text) =>
        on(handle, async () => {
          const id = await element(selector);
          await session.cmd('POST', `/element/${id}/clear`);
          await session.cmd('POST', `/element/${id}/value`, { text });
        }),
      setViewport: (size) => on(handle, () => setViewport(size)),
      screenshot: (path) =>
        on(handle, async () => {
          await writeFile(path, Buffer.from((await session.cmd('GET', '/screenshot')) as string, 'base64'));
        }),
      close: () =>
        on(handle, async () => {
          tabClosed = true;
          open = (await session.cmd('DELETE', '/window')) as string[];
          // The session has no current tab now: the next command switches to its own.
          current = '';
          if (open.length === 0) closed = true;
        }),
      get closed() {
        return tabClosed;
      },
    };
    return tab;
  }

  /** The window's outer size is what WebDriver sets; correct it by the chrome's size once measured. */
  async function setViewport(size: Size): Promise<void> {
    await session.cmd('POST', '/window/rect', size);
    const inner = (await session.cmd('POST', '/execute/sync', { script: 'return [innerWidth, innerHeight]', args: [] })) as [number, number];
    const width = size.width + (size.width - inner[0]);
    const height = size.height + (size.height - inner[1]);
    if (width !== size.width || height !== size.height) await session.cmd('POST', '/window/rect', { width, height });
  }

  return {
    engine: 'webkit',
    version,
    profileDir: home,
    async newTab() {
      if (first !== undefined) {
        const handle = first;
        first = undefined;
        return webkitTab(handle);
      }
      const { handle } = (await on(open[0]!, () => session.cmd('POST', '/window/new', { type: 'tab' }))) as { handle: string };
      open.push(handle);
      return webkitTab(handle);
    },
    // MiniBrowser and everything it started (web processes, network process); not the driver.
    pids: () => processTree(driver.pid!, { includeRoot: false }),
    async close() {
      if (closed) return stopAll();
      closed = true;
      await session.cmd('DELETE', '').catch(() => undefined);
      await stopAll();
    },
  };
}
