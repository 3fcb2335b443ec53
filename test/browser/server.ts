// A tiny node:http server for real-browser tests: serves an esbuild bundle of a test page and a
// few plain HTML pages, on 127.0.0.1 and an ephemeral port.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { build } from 'esbuild';

/** A running test server. */
export interface PageServer {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  close(): Promise<void>;
}

const SHELL = (title: string, script: string) =>
  `<!doctype html><meta charset="utf-8"><title>${title}</title>${script}<p>${title}</p>`;

/**
 * What `/app?<flag>` changes before the bundle runs (a classic inline script runs before any
 * module), the same way in every engine:
 * - `no-broadcast-channel`: no BroadcastChannel, as in older browsers (cross-tab falls back to
 *   `storage` events);
 * - `indexeddb=unusable`: `indexedDB.open()` throws, as IndexedDB does where a browser's private
 *   mode or a lost connection to its storage process leaves it unusable;
 * - `indexeddb=no-clone`: storing a CryptoKey throws `DataCloneError`, as in Safari's Lockdown mode.
 */
const FLAGS: Record<string, string> = {
  'no-broadcast-channel': 'delete globalThis.BroadcastChannel;',
  'indexeddb=unusable':
    "IDBFactory.prototype.open = function () { throw new DOMException('IndexedDB is not available here (test)', 'InvalidStateError'); };",
  'indexeddb=no-clone':
    "{ const put = IDBObjectStore.prototype.put; IDBObjectStore.prototype.put = function (value, key) { if (value instanceof CryptoKey) throw new DOMException('CryptoKey cannot be cloned here (test)', 'DataCloneError'); return put.call(this, value, key); }; }",
};

function flagScripts(query: string): string {
  return query
    .split('&')
    .filter((f) => FLAGS[f] !== undefined)
    .map((f) => `<script>${FLAGS[f]}</script>`)
    .join('');
}

/**
 * Bundles `entry` (TypeScript, importing from `src/`) for the browser and serves it:
 * `/app` and `/app/*` load the bundle (after what the query's flags change, see `FLAGS`);
 * `/signed-out` and `/other` are plain pages. A `handler`
 * (e.g. a key environment's) sees every request first and calls `next` for the others.
 */
export async function servePage(
  entry: string,
  options: { handler?: (req: IncomingMessage, res: ServerResponse, next: () => void) => void } = {},
): Promise<PageServer> {
  const out = await build({ entryPoints: [entry], bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, logLevel: 'silent' });
  const bundle = out.outputFiles[0]!.text;
  const server: Server = createServer((req, res) => {
    if (options.handler !== undefined) options.handler(req, res, () => route(req, res));
    else route(req, res);
  });
  function route(req: IncomingMessage, res: ServerResponse): void {
    const [path = '/', query = ''] = (req.url ?? '/').split('?');
    const send = (type: string, body: string) => {
      // no-cache, not no-store: Chromium keeps no-store pages out of the back/forward cache,
      // and the bfcache test needs a page that can enter it. Nothing served here is secret.
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-cache' });
      res.end(body);
    };
    if (path === '/bundle.js') send('text/javascript', bundle);
    else if (path === '/app' || path.startsWith('/app/')) send('text/html', SHELL('app', `${flagScripts(query)}<script type="module" src="/bundle.js"></script>`));
    else if (path === '/signed-out' || path === '/other') send('text/html', SHELL(path.slice(1), ''));
    else {
      res.writeHead(404);
      res.end();
    }
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
