// `npm run demo`: seeds the data folder on first start, starts the SSO (an OpenID Provider at
// its own origin), the key environment and the data environment (each its own process, port
// and storage), and serves the portal with a small gateway in front of the two environments.
// Ctrl-C stops everything.
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { DEMO_CONFIG_FILE } from './seed/config.ts';
import { DATABASE_URL_VARIABLES, databaseUrl } from './shared/database.ts';
import { PORTAL_CLIENT_ID, resourcesOf } from './shared/deployment.ts';
import { HttpError, serve } from './shared/http.ts';

const dataDir = process.env.DEMO_DATA_DIR ?? '.demo-data';
const buildDir = join(dataDir, 'build');
const webDir = join(buildDir, 'web');
const children: ChildProcess[] = [];
let stopping = false;

function start(name: string, env: Record<string, string>): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(join(buildDir, `${name}.mjs`), [], { env: { ...process.env, DEMO_DATA_DIR: dataDir, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once('message', (m: { ready?: string; port?: number }) => {
      if (m.ready === name && typeof m.port === 'number') resolve({ child, port: m.port });
    });
    child.once('exit', (code) => {
      if (!stopping) {
        reject(new Error(`${name} exited with code ${code}`));
        console.error(`${name} stopped unexpectedly (exit code ${code}); stopping the demo.`);
        void stop(1);
      }
    });
  });
}

function runToEnd(name: string): Promise<void> {
  const child = fork(join(buildDir, `${name}.mjs`), [], { env: { ...process.env, DEMO_DATA_DIR: dataDir }, stdio: 'inherit' });
  return new Promise((resolve, reject) => child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${name} failed with exit code ${code}`)))));
}

async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log('Stopping the demo…');
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
        }),
    ),
  );
  process.exit(code);
}

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.map': 'application/json' };
// The portal's pages may talk only to their own origin and run only their own scripts: a
// content security policy is the first defence of keys that live in the page (XSS). No inline
// script or style at all, and Trusted Types: no string can reach an HTML or script sink
// (`innerHTML`, `eval`, …) — the page builds its DOM from nodes and text, and the chart library
// styles through the CSSOM, which CSP allows.
function csp(issuer: string): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    // The SSO's discovery, token and revocation endpoints are fetched from the page (CORS).
    `connect-src 'self' ${new URL(issuer).origin}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
  ].join('; ');
}

/** What the page needs to know to sign in: put into index.html's `<meta name="sso-…">` tags. */
let pageConfig: Record<string, string> = {};

function serveStatic(res: ServerResponse, pathname: string): void {
  const rel = pathname === '/' ? 'index.html' : normalize(pathname).replace(/^\/+/, '');
  if (rel.includes('..') || !(extname(rel) in TYPES)) throw new HttpError(404, 'not found');
  const file = join(webDir, rel);
  if (!existsSync(file)) throw new HttpError(404, 'not found');
  let body = readFileSync(file);
  if (rel === 'index.html') body = Buffer.from(body.toString('utf8').replace(/%SSO_([A-Z_]+)%/g, (_m, name: string) => escapeAttribute(pageConfig[name] ?? '')));
  res.writeHead(200, { 'content-type': TYPES[extname(rel)]!, 'cache-control': 'no-store', 'content-security-policy': csp(pageConfig.ISSUER ?? 'http://localhost'), 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' });
  res.end(body);
}

function escapeAttribute(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The gateway: forwards `/<prefix>/rest` to a service, as an API gateway would. */
function proxy(req: IncomingMessage, res: ServerResponse, port: number, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers, host: `127.0.0.1:${port}` };
    const upstream = request({ host: '127.0.0.1', port, method: req.method, path, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
      up.on('end', resolve);
      up.on('error', reject);
    });
    upstream.on('error', () => reject(new HttpError(502, 'service unavailable')));
    req.pipe(upstream);
  });
}

process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
process.on('SIGHUP', () => void stop(0));
// Whoever started the demo went away (a shell or npm killed by a signal it did not pass on):
// this process is handed to another parent, and stops every child rather than run on unseen.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) void stop(0);
}, 500).unref();

// One database for both environments is refused before anything starts.
try {
  databaseUrl('key');
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}

if (!existsSync(join(dataDir, DEMO_CONFIG_FILE))) {
  const t0 = performance.now();
  await runToEnd('seed');
  console.log(`Seeded the demo data in ${((performance.now() - t0) / 1000).toFixed(1)} s (${dataDir}).`);
}
/** A port someone else holds (a second `npm run demo`, say): say what to set, not a stack trace. */
function portInUse(port: number): (err: unknown) => never {
  return (err) => {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EADDRINUSE' && code !== 'EACCES') throw err;
    console.error(
      code === 'EADDRINUSE'
        ? `Port ${port} is already in use (another \`npm run demo\`?). Set PORT to run this one on another port, e.g. PORT=${port + 1} npm run demo (PORT=0 picks a free one).`
        : `Port ${port} may not be opened by this user. Set PORT to another port, e.g. PORT=8080 npm run demo (PORT=0 picks a free one).`,
    );
    process.exit(1);
  };
}

// The gateway listens first: the portal's origin names the resources in every access token.
const portalPort = Number(process.env.PORT ?? '8080');
const routes: [string, number][] = [];
const portal = await serve(async (req, res, url) => {
  for (const [prefix, port] of routes) {
    if (url.pathname.startsWith(prefix)) {
      // Key-environment administration stays internal.
      if (prefix === '/key-env/' && url.pathname.startsWith('/key-env/admin/')) throw new HttpError(404, 'not found');
      return proxy(req, res, port, url.pathname.slice(prefix.length - 1) + url.search);
    }
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'method not allowed');
  if (routes.length === 0) throw new HttpError(503, 'starting');
  serveStatic(res, url.pathname);
}, portalPort).catch(portInUse(portalPort));
const portalUrl = `http://127.0.0.1:${portal.port}`;
const { keyEnvironment, dataEnvironment } = resourcesOf(portalUrl);

const sso = await start('sso', { DEMO_PORTAL_URL: portalUrl });
// A host of its own (`localhost`, not 127.0.0.1): cookies are scoped by host, not port, so the
// SSO's session cookie never goes to the portal or either environment.
const issuer = `http://localhost:${sso.port}`;
const env = { DEMO_PORTAL_URL: portalUrl, DEMO_ISSUER: issuer };
// Side by side: each opens its own database, which takes seconds. The data environment fetches
// the ticket keys from the key environment's public address, behind the gateway.
const [keyEnv, dataEnv] = await Promise.all([start('key-env', env), start('data-env', env)]);
pageConfig = { ISSUER: issuer, CLIENT_ID: PORTAL_CLIENT_ID, KEY_ENVIRONMENT: keyEnvironment, DATA_ENVIRONMENT: dataEnvironment };
routes.push(['/key-env/', keyEnv.port], ['/data-env/', dataEnv.port]);

console.log(`  SSO:              ${issuer}/ (OpenID Provider; any member M000001… with password "demo")`);
const storageOf = (environment: 'key' | 'data', folder: string): string => `${join(dataDir, folder)}${databaseUrl(environment) === undefined ? '' : `, database: ${DATABASE_URL_VARIABLES[environment]}`}`;
console.log(`  Key environment:  http://127.0.0.1:${keyEnv.port}/ (storage: ${storageOf('key', 'key-env')})`);
console.log(`  Data environment: http://127.0.0.1:${dataEnv.port}/ (storage: ${storageOf('data', 'data-env')})`);
console.log(`Portal: ${portalUrl}/`);
console.log('Press Ctrl-C to stop.');
