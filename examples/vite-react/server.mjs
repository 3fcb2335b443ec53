// @ts-check
// Runs the example on one origin: the page (through Vite in development, from dist/ with
// --production), the key environment (/key-env/session), the data environment (/api/me) and a
// development sign-in (/dev-sso/token) standing in for your SSO. In production these are
// separate services run by different people; one process keeps the example small.
//
//   npm run dev                      http://127.0.0.1:5173, with fast refresh
//   npm run build && npm start       the built page
//
// PORT=… picks another port (0: any free one).
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDataEnvironment } from './server/data-env.mjs';
import { addressedToThisServer, devSso } from './server/dev-sso.mjs';
import { MEMBER_ID, startKeyEnvironment } from './server/key-env.mjs';

const root = fileURLToPath(new URL('.', import.meta.url));
const production = process.argv.includes('--production');
const port = Number(process.env.PORT ?? 5173);

const server = createServer();

/** @type {(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void} */
let page;
/** Host names besides localhost, 127.0.0.1 and [::1] that this server answers: Vite's `server.allowedHosts` when it lists some. */
let allowedHosts = /** @type {readonly string[]} */ ([]);
if (production) {
  const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };
  const dist = join(root, 'dist');
  page = (req, res) => {
    let path;
    try {
      path = normalize(decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/')); // stays under '/'
    } catch {
      res.writeHead(400).end();
      return;
    }
    const file = path === '/' || extname(path) === '' ? 'index.html' : path; // the app's routes are the app's
    readFile(join(dist, file)).then(
      (body) => res.writeHead(200, { 'content-type': types[/** @type {keyof types} */ (extname(file))] ?? 'application/octet-stream' }).end(body),
      () => res.writeHead(404).end(),
    );
  };
} else {
  const { createServer: createViteServer } = await import('vite');
  const vite = await createViteServer({ root, server: { middlewareMode: true, hmr: { server } }, appType: 'spa' });
  page = (req, res) => vite.middlewares(req, res);
  // `true` (any host) is not taken over: answering any host is what DNS rebinding needs.
  if (Array.isArray(vite.config.server.allowedHosts)) allowedHosts = vite.config.server.allowedHosts;
}

const sso = devSso(MEMBER_ID, { allowedHosts }); // development sign-in: replace with your SSO
const keys = await startKeyEnvironment(sso.authenticate);
const data = await startDataEnvironment(keys.env);

server.on('request', (req, res) => {
  // Only requests addressed to this server, not a page elsewhere that reached it through DNS
  // rebinding: the sign-in checks this itself, and the key environment's and data environment's
  // routes here are no one else's either.
  if (!addressedToThisServer(req, allowedHosts)) {
    res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' }).end('This host is not allowed.\n');
    return;
  }
  sso.handler(req, res, () => keys.handler(req, res, () => data.handler(req, res, () => page(req, res))));
});
server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  console.log(`tokumei example: http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : port}/`);
});
