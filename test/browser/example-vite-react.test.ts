// examples/vite-react, as a developer gets it: the folder copied out of the repository, tokumei
// installed from the packed tarball (`npm pack`: only what the package ships, through its
// `exports`), the example type-checked and built by its own `npm run build` (tsc + Vite), then
// served by its own server.mjs — built (`npm start`) and in development (`npm run dev`) — and
// driven in Chromium: sign in, the member's record opened in the page, log off. Its key
// environment requires DPoP: the page's requests carry proofs, and a request without a valid
// proof is refused while the same request with one is accepted. Its server answers only requests
// addressed to itself: a page that reaches it through DNS rebinding names another host.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cp, mkdir, mkdtemp, readdir, rm, symlink, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dpopProof } from '../../src/delivery/dpop.ts';
import { httpKeyProvider } from '../../src/delivery/http-key-provider.ts';
import { TokumeiError } from '../../src/errors.ts';
import { launchChromium, type LaunchedChromium } from './chromium.ts';

const run = promisify(execFile);
const repo = new URL('../..', import.meta.url).pathname;
let work: string;
let app: string;
let browser: LaunchedChromium;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tokumei-example-'));
  app = join(work, 'app');
  await cp(join(repo, 'examples/vite-react'), app, { recursive: true, filter: (src) => !/\/(node_modules|dist)(\/|$)/.test(src) });
  // The developer's `npm install`: tokumei from the packed tarball, everything else (react,
  // vite, typescript, …) linked from the repository's node_modules (no network in tests).
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: repo });
  const tarball = join(work, (JSON.parse(stdout) as { filename: string }[])[0]!.filename);
  await mkdir(join(app, 'node_modules', 'tokumei'), { recursive: true });
  await run('tar', ['-xzf', tarball, '-C', join(app, 'node_modules', 'tokumei'), '--strip-components=1']);
  for (const entry of await readdir(join(repo, 'node_modules'))) {
    // Not tokumei (from the tarball), not caches (.vite: the example's Vite writes its own).
    if (entry === 'tokumei' || (entry.startsWith('.') && entry !== '.bin')) continue;
    await symlink(join(repo, 'node_modules', entry), join(app, 'node_modules', entry));
  }
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  if (work === undefined) return;
  // The links first, one by one: removing the folder must never reach what they point to.
  for (const entry of await readdir(join(app, 'node_modules'), { withFileTypes: true }).catch(() => [])) {
    if (entry.isSymbolicLink()) await unlink(join(app, 'node_modules', entry.name));
  }
  await rm(work, { recursive: true, force: true });
});

/** Starts the example's server (port 0); resolves with its URL and the lines it printed. */
async function startServer(args: string[]): Promise<{ url: string; out: string[]; child: ChildProcess; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['server.mjs', ...args], { cwd: app, env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out.join('\n')}`)), 60_000);
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        out.push(line);
        const m = /tokumei example: (http:\/\/\S+)/.exec(line);
        if (m !== null) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`server exited (${code}): ${out.join('\n')}`)));
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.on('exit', () => resolve());
      child.kill('SIGTERM');
    });
  return { url, out, child, stop };
}

/** One request to 127.0.0.1:`port` with the given headers (`Host` included, as a rebinding page's browser sends it). */
function send(port: number, method: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, setHost: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Asks the development sign-in at 127.0.0.1:`port` for a token as a browser would that believes
 * it talks to `host`: a DPoP proof for `http://<host>/dev-sso/token`, `Host: <host>`, and `origin`.
 */
async function askTokenAs(port: number, host: string, origin?: string): Promise<{ status: number; body: string }> {
  const key = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const proof = await dpopProof(key, `http://${host}/dev-sso/token`, undefined, undefined);
  return send(port, 'POST', '/dev-sso/token', { host, dpop: proof, ...(origin === undefined ? {} : { origin }) });
}

/** Signs in, checks the record the page opened, logs off; returns what the key environment printed. */
async function signInOpenLogOff(url: string, out: string[]): Promise<void> {
  const page = await browser.context.newPage();
  // The headers of the page's delivery requests (DPoP: a proof with each, the token under the DPoP scheme).
  const deliveries: Promise<Record<string, string>>[] = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/key-env/session') deliveries.push(r.allHeaders());
  });
  try {
    await page.goto(url);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('full-name').filter({ hasText: '山田 太郎' }).waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('birth-date').textContent()).toBe('1980-04-01');
    // What the page fetched from the data environment was ciphertext only.
    const sealed = await page.evaluate(async () => (await fetch('/api/me')).json());
    expect(sealed.fullName).toMatch(/^tk1\./);
    expect(JSON.stringify(sealed)).not.toContain('山田');
    await page.getByRole('button', { name: 'Log off' }).click();
    await page.getByRole('status').filter({ hasText: 'Signed out (logoff)' }).waitFor();
    expect(await page.getByTestId('full-name').count()).toBe(0);
    await expect.poll(() => out.filter((l) => l === 'key-env: logoff').length).toBe(1);
    // Under StrictMode (the example's main.tsx): one sign-in, one delivery.
    expect(out.filter((l) => l.startsWith('key-env: delivered session ')).length).toBe(1);
    // The nonce challenge, then the delivery: each with its own proof, the token bound to the key.
    const headers = await Promise.all(deliveries);
    expect(headers.length).toBe(2);
    for (const h of headers) {
      expect(h.authorization).toMatch(/^DPoP [A-Za-z0-9_-]{43}$/);
      expect(h.dpop).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    }
    expect(headers[0]!.dpop).not.toBe(headers[1]!.dpop);
  } finally {
    await page.close();
  }
}

describe('examples/vite-react, copied and installed from the packed tarball', { timeout: 300_000 }, () => {
  it('type-checks and builds with its own npm run build (tsc + Vite)', async () => {
    const { stdout } = await run('npm', ['run', 'build'], { cwd: app, env: { ...process.env, NO_COLOR: '1' } });
    expect(stdout).toMatch(/built in/);
    const assets = await readdir(join(app, 'dist', 'assets'));
    expect(assets.some((f) => f.endsWith('.js'))).toBe(true);
  });

  it('the built page (npm start): sign in, the record opened in the page, log off', async () => {
    const server = await startServer(['--production']);
    try {
      await signInOpenLogOff(server.url, server.out);
    } finally {
      await server.stop();
    }
  });

  it('the key environment requires DPoP: without a valid proof a request is refused, the same request with one is accepted', async () => {
    const server = await startServer(['--production']);
    try {
      const generate = () => crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
      const [key, otherKey] = [await generate(), await generate()];
      const tokenUrl = new URL('/dev-sso/token', server.url).href;
      const askToken = (dpop?: string) => fetch(tokenUrl, { method: 'POST', headers: dpop === undefined ? {} : { DPoP: dpop } });
      // The development sign-in issues no token without a proof of this request.
      expect((await askToken()).status).toBe(400);
      expect((await askToken(await dpopProof(key, new URL('/elsewhere', server.url).href, undefined, undefined))).status).toBe(400);
      const proof = await dpopProof(key, tokenUrl, undefined, undefined);
      const issued = await askToken(proof);
      expect(issued.status).toBe(200);
      const { access_token: token, token_type: type } = (await issued.json()) as { access_token: string; token_type: string };
      expect(type).toBe('DPoP');
      expect((await askToken(proof)).status).toBe(400); // a proof is used once

      // The key environment, with that token (bound to `key`):
      const url = new URL('/key-env/session', server.url).href;
      const sign = (options: { dpopKey?: CryptoKeyPair; fetch?: typeof fetch }) => httpKeyProvider({ url, getToken: () => token, retries: 0, ...options }).fetchKeys({});
      const codeOf = (p: Promise<unknown>) => p.then(() => 'delivered', (err: unknown) => (err instanceof TokumeiError ? err.code : String(err)));
      // as a plain bearer token (no proof) — refused;
      expect(await codeOf(sign({}))).toBe('ERR_AUTH');
      // under the DPoP scheme with the proof taken off the request — refused;
      const withoutProof: typeof fetch = (input, init) => {
        const headers = { ...(init?.headers as Record<string, string>) };
        delete headers.DPoP;
        return fetch(input, { ...init, headers });
      };
      expect(await codeOf(sign({ dpopKey: key, fetch: withoutProof }))).toBe('ERR_AUTH');
      // with a valid proof by another key than the token's — refused;
      expect(await codeOf(sign({ dpopKey: otherKey }))).toBe('ERR_AUTH');
      expect(server.out.filter((l) => l.startsWith('key-env: delivered session ')).length).toBe(0);
      // control: the same token with a proof by its key — delivered.
      const keys = await sign({ dpopKey: key });
      expect(keys.keyring.keyIds.length).toBeGreaterThan(0);
      keys.keyring.destroy();
      await expect.poll(() => server.out.filter((l) => l.startsWith('key-env: delivered session ')).length).toBe(1);
    } finally {
      await server.stop();
    }
  });

  it('answers only requests addressed to itself: a page that reached it through DNS rebinding gets no token and no record', async () => {
    const server = await startServer(['--production']);
    try {
      const port = Number(new URL(server.url).port);
      const attacker = `rebound.attacker.test:${port}`; // the attacker's name, re-pointed at 127.0.0.1
      // The rebinding page's requests: its own host name, and its origin when it sends one. Each
      // proof is valid for the URL the page called, so the host is all that is refused.
      for (const [host, origin] of [
        [attacker, undefined],
        [attacker, `http://${attacker}`],
        [`127.0.0.1:${port}`, `http://${attacker}`], // a forged Host, the page's origin still told
        [`127.0.0.1:${port}`, 'null'],
        [`localhost:${port + 1}`, undefined], // this machine, but not this server
        [`127.0.0.1`, undefined],
      ] as const) {
        const refused = await askTokenAs(port, host, origin);
        expect(refused.status, `${host} ${origin}`).toBe(403);
        expect(refused.body).not.toContain('access_token');
      }
      expect((await send(port, 'GET', '/api/me', { host: attacker })).status).toBe(403);
      expect((await send(port, 'GET', '/', { host: attacker })).status).toBe(403);
      // The positive controls: the server's own names at its port, with or without an origin.
      for (const [host, origin] of [
        [`127.0.0.1:${port}`, undefined],
        [`localhost:${port}`, `http://localhost:${port}`],
        [`[::1]:${port}`, `http://[::1]:${port}`],
      ] as const) {
        const issued = await askTokenAs(port, host, origin);
        expect(issued.status, `${host} ${origin}`).toBe(200);
        expect(JSON.parse(issued.body)).toMatchObject({ token_type: 'DPoP', access_token: expect.stringMatching(/^[\w-]{43}$/) });
      }
      expect((await send(port, 'GET', '/api/me', { host: `localhost:${port}` })).status).toBe(200);
    } finally {
      await server.stop();
    }
  });

  it('the development sign-in checks the host itself, wherever it is mounted; allowedHosts (Vite\'s) adds names', async () => {
    const { devSso } = (await import(join(app, 'server/dev-sso.mjs'))) as {
      devSso: (memberId: string, options?: { allowedHosts?: readonly string[] }) => { handler: (req: IncomingMessage, res: ServerResponse, next: () => void) => void };
    };
    for (const [allowedHosts, host, expected] of [
      [[], 'rebound.attacker.test', 403],
      [['dev.example.test'], 'rebound.attacker.test', 403],
      [['dev.example.test'], 'dev.example.test:8443', 200],
      [['.example.test'], 'a.b.example.test', 200],
      [['.example.test'], 'example.test.attacker.test', 403],
      [[], 'localhost', 200], // the port is filled in below
    ] as const) {
      const sso = devSso('M1', { allowedHosts });
      const bare = createServer((req, res) => sso.handler(req, res, () => res.writeHead(404).end()));
      await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = bare.address() as AddressInfo;
        const answer = await askTokenAs(port, host === 'localhost' ? `localhost:${port}` : host);
        expect(answer.status, `${JSON.stringify(allowedHosts)} ${host}`).toBe(expected);
      } finally {
        await new Promise((resolve) => bare.close(resolve));
      }
    }
  });

  it('in development (npm run dev, Vite with fast refresh): the same', async () => {
    const server = await startServer([]);
    try {
      await signInOpenLogOff(server.url, server.out);
    } finally {
      await server.stop();
    }
  });
});
