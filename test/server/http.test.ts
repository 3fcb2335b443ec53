// keyEnvironmentHandler and createKeyEnvironmentServer: routing, CORS, methods, JSON only,
// body limits that close the connection unread, body and header time-outs, a connection cap,
// client aborts that are not internal errors, the DPoP challenge headers, the liveness probe.
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyEnvironment, type KeyEnvironment } from '../../src/server/key-environment.ts';
import { keyEnvironmentHandler } from '../../src/server/http/handler.ts';
import { createKeyEnvironmentServer } from '../../src/server/http/server.ts';
import { memoryKeyStore } from '../../src/server/stores/memory-store.ts';
import { localMasterKey } from '../../src/server/master-keys/local.ts';
import { boundToken, deliveryBody, dpopKey, dpopKeyEnvironment, proof, testIssuer } from './auth/helpers.ts';

const JSON_HEADERS = { 'Content-Type': 'application/json' };
const servers: Server[] = [];
const internalErrors: unknown[] = [];
const refusals: unknown[] = [];
let env: KeyEnvironment;
let origin: string;

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  env = createKeyEnvironment({
    masterKey: localMasterKey(new Uint8Array(32).fill(1)),
    store: memoryKeyStore(),
    authenticate: ({ token }) => {
      if (token === 'boom') throw new Error('sso unreachable');
      return token.startsWith('ok~') ? { memberId: 'M1' } : null;
    },
    dpop: { required: false },
  });
  await env.createMemberKey('M1');
  const handler = keyEnvironmentHandler(env, {
    path: '/kx',
    allowOrigins: ['https://portal.example'],
    maxBodyBytes: 1024,
    bodyTimeoutMs: 500,
    onError: (e) => internalErrors.push(e),
    onRefused: (e) => refusals.push(e),
  });
  origin = await listen(createServer((req, res) => handler(req, res, () => res.writeHead(418).end())));
});

afterAll(async () => {
  for (const s of servers) await new Promise<void>((resolve) => s.close(() => resolve()));
});

/** A raw connection: what it received, and when the server closed it. */
function raw(url: string): { socket: Socket; received: () => string; closed: Promise<void> } {
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  socket.on('error', () => undefined); // EPIPE/ECONNRESET once the server has closed
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return { socket, received: () => text, closed };
}

const within = <T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> => Promise.race([p, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms))]);

describe('keyEnvironmentHandler: routes, methods, types', () => {
  it('passes requests for other paths to next', async () => {
    expect((await fetch(`${origin}/elsewhere`)).status).toBe(418);
  });

  it('answers CORS preflights for allowed origins only, allowing the DPoP header; exposes DPoP-Nonce', async () => {
    const ok = await fetch(`${origin}/kx`, { method: 'OPTIONS', headers: { Origin: 'https://portal.example' } });
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://portal.example');
    expect(ok.headers.get('access-control-allow-headers')).toBe('Authorization, Content-Type, DPoP');
    const other = await fetch(`${origin}/kx`, { method: 'OPTIONS', headers: { Origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const post = await fetch(`${origin}/kx/status`, { method: 'POST', headers: { ...JSON_HEADERS, Origin: 'https://portal.example' }, body: '{"protocol":"tokumei-key-delivery/1","sessionId":"s1.x"}' });
    expect(post.headers.get('access-control-expose-headers')).toBe('DPoP-Nonce, WWW-Authenticate');
    expect(post.headers.get('dpop-nonce')).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('refuses other methods (405) and non-JSON (400)', async () => {
    expect((await fetch(`${origin}/kx`)).status).toBe(405);
    const bad = await fetch(`${origin}/kx/status`, { method: 'POST', headers: JSON_HEADERS, body: '{' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: 'ERR_FORMAT' });
    expect((await fetch(`${origin}/kx/status`, { method: 'POST', headers: JSON_HEADERS, body: '{"protocol":"tokumei-key-delivery/1","sessionId":5}' })).status).toBe(400);
  });

  it('every endpoint requires application/json (415): a CORS-simple text/plain logoff changes nothing; the protocol field is required', async () => {
    const issuer = await testIssuer();
    const key = await dpopKey();
    const denv = await dpopKeyEnvironment(issuer, { dpop: { nonces: false } });
    const h = keyEnvironmentHandler(denv, { path: '/s', publicUrl: 'https://keys.example/session' });
    const o = await listen(createServer(h));
    const token = await boundToken(issuer, key);
    const delivered = await fetch(`${o}/s`, { method: 'POST', headers: { ...JSON_HEADERS, Authorization: `DPoP ${token}`, DPoP: await proof(key, { accessToken: token }) }, body: JSON.stringify(await deliveryBody()) });
    const { sessionId, endToken } = (await delivered.json()) as { sessionId: string; endToken: string };
    const body = JSON.stringify({ protocol: 'tokumei-key-delivery/1', sessionId, endToken });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined]) {
      const res = await fetch(`${o}/s/logoff`, { method: 'POST', headers: type === undefined ? {} : { 'Content-Type': type }, body });
      expect(res.status).toBe(type === undefined ? 415 : 415);
    }
    expect(await denv.sessionStatus(sessionId)).toBe('active');
    expect((await fetch(`${o}/s/logoff`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ sessionId, endToken }) })).status).toBe(400);
    expect(await denv.sessionStatus(sessionId)).toBe('active');
    expect((await fetch(`${o}/s/logoff`, { method: 'POST', headers: { 'Content-Type': 'application/json; charset=utf-8' }, body })).status).toBe(204);
    expect(await denv.sessionStatus(sessionId)).toBe('revoked');
  });

  it('status of an unknown session is revoked; logoff of an unknown session answers 204', async () => {
    const st = await fetch(`${origin}/kx/status`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ protocol: 'tokumei-key-delivery/1', sessionId: 's1.nope' }) });
    expect(await st.json()).toEqual({ status: 'revoked' });
    expect((await fetch(`${origin}/kx/logoff`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ protocol: 'tokumei-key-delivery/1', sessionId: 's1.nope' }) })).status).toBe(204);
  });
});

describe('keyEnvironmentHandler: credentials', () => {
  it('a failing authenticate is a 500 with no detail, reported to onError', async () => {
    const res = await fetch(`${origin}/kx`, { method: 'POST', headers: { ...JSON_HEADERS, Authorization: 'Bearer boom' }, body: '{}' });
    expect(res.status).toBe(500);
    expect(await res.text()).toBe('{"error":"internal"}');
    expect(String(internalErrors.at(-1))).toContain('sso unreachable');
  });

  it('no token or a refused one is 401 with a Bearer and DPoP challenge, told to onRefused', async () => {
    const before = refusals.length;
    for (const headers of [{}, { Authorization: 'Basic abc' }, { Authorization: 'Bearer nope' }] as Record<string, string>[]) {
      const res = await fetch(`${origin}/kx`, { method: 'POST', headers: { ...JSON_HEADERS, ...headers }, body: '{}' });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token", DPoP algs="ES256"');
      expect(await res.json()).toEqual({ error: 'ERR_AUTH' });
    }
    expect(refusals.length).toBe(before + 3);
  });

  it('where DPoP is required: the nonce challenge (401, use_dpop_nonce, DPoP-Nonce), then the delivery with it', async () => {
    const issuer = await testIssuer();
    const key = await dpopKey();
    const denv = await dpopKeyEnvironment(issuer);
    // Behind a gateway: the browser calls https://portal.example/key-env/session; this server sees /session.
    const o = await listen(createServer(keyEnvironmentHandler(denv, { path: '/session', publicUrl: 'https://portal.example/key-env/session' })));
    const token = await boundToken(issuer, key);
    const htu = 'https://portal.example/key-env/session';
    const send = async (nonce?: string) =>
      fetch(`${o}/session`, { method: 'POST', headers: { ...JSON_HEADERS, Authorization: `DPoP ${token}`, DPoP: await proof(key, { accessToken: token, htu, ...(nonce ? { nonce } : {}) }) }, body: JSON.stringify(await deliveryBody()) });
    const challenged = await send();
    expect(challenged.status).toBe(401);
    expect(challenged.headers.get('www-authenticate')).toBe('DPoP error="use_dpop_nonce", algs="ES256"');
    const nonce = challenged.headers.get('dpop-nonce')!;
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const ok = await send(nonce);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { memberId: string }).memberId).toBe('M000001');
    const again = await send(nonce); // the same token a second time
    expect(again.status).toBe(401);
    expect(again.headers.get('www-authenticate')).toBe('DPoP error="invalid_token", algs="ES256"');
  });
});

describe('keyEnvironmentHandler: bodies', () => {
  it('413 for a declared oversized body: answered at once, connection closed, nothing read', async () => {
    const c = raw(origin);
    c.socket.write('POST /kx HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n');
    expect(await within(c.closed, 5_000)).not.toBe('timeout');
    expect(c.received()).toMatch(/^HTTP\/1\.1 413 /);
    expect(c.received()).toMatch(/connection: close/i);
  });

  it('413 for a streamed oversized body: reading stops and the connection is closed, long before the client is done', async () => {
    const c = raw(origin);
    c.socket.write('POST /kx HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
    let sent = 0;
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
    const pump = (): void => {
      while (!c.socket.destroyed && sent < 200 * 1024 * 1024) {
        sent += chunk.length;
        if (!c.socket.write(frame)) return void c.socket.once('drain', pump);
      }
    };
    pump();
    expect(await within(c.closed, 10_000)).not.toBe('timeout');
    expect(c.received()).toMatch(/^HTTP\/1\.1 413 /);
    expect(sent).toBeLessThan(50 * 1024 * 1024); // the server stopped reading; the client could not go on
  });

  it('a body that does not arrive in time: 408 and the connection closed; not an internal error', async () => {
    const before = internalErrors.length;
    const c = raw(origin);
    c.socket.write('POST /kx/status HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"proto');
    expect(await within(c.closed, 5_000)).not.toBe('timeout');
    expect(c.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(internalErrors.length).toBe(before);
  });

  it('a client that disconnects mid-body is not reported as an internal error', async () => {
    const before = internalErrors.length;
    const c = raw(origin);
    c.socket.write('POST /kx/status HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"proto');
    await new Promise((r) => setTimeout(r, 50));
    c.socket.destroy();
    await new Promise((r) => setTimeout(r, 700)); // past the body deadline too
    expect(internalErrors.length).toBe(before);
    // …while a real internal error still is (the positive control):
    await fetch(`${origin}/kx`, { method: 'POST', headers: { ...JSON_HEADERS, Authorization: 'Bearer boom' }, body: '{}' });
    expect(internalErrors.length).toBe(before + 1);
  });
});

describe('liveness', () => {
  it('GET {path}/live answers 200 while the event loop turns; other methods 405', async () => {
    const res = await fetch(`${origin}/kx/live`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'live' });
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect((await fetch(`${origin}/kx/live`, { method: 'POST' })).status).toBe(405);
  });

  it('a key environment whose event loop is stuck does not answer its liveness probe (and answers again once it turns)', async () => {
    // A separate process (the built package), so this test's own loop keeps turning.
    const script = `
      import { createKeyEnvironment, createKeyEnvironmentServer, keyEnvironmentHandler, localMasterKey, memoryKeyStore } from './dist/server.js';
      const env = createKeyEnvironment({ masterKey: localMasterKey(new Uint8Array(32).fill(1)), store: memoryKeyStore(), authenticate: () => null });
      const server = createKeyEnvironmentServer(keyEnvironmentHandler(env));
      server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
      process.stdin.on('data', (d) => { const until = Date.now() + Number(d); while (Date.now() < until); console.log('unstuck'); });
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      const lines: string[] = [];
      child.stdout.on('data', (d: Buffer) => lines.push(...d.toString().trim().split('\n')));
      const port = await new Promise<string>((resolve) => {
        const t = setInterval(() => {
          const l = lines.find((x) => x.startsWith('port '));
          if (l) resolve(l.slice(5)), clearInterval(t);
        }, 20);
      });
      const probe = (ms: number) => within(fetch(`http://127.0.0.1:${port}/session/live`, { signal: AbortSignal.timeout(ms) }).then((r) => r.status).catch(() => 'no answer'), ms + 500);
      expect(await probe(2_000)).toBe(200); // positive control
      child.stdin.write('3000'); // the loop is stuck for 3 s
      await new Promise((r) => setTimeout(r, 200));
      expect(await probe(1_000)).toBe('no answer');
      await new Promise((r) => setTimeout(r, 3_000));
      expect(await probe(2_000)).toBe(200);
    } finally {
      child.kill();
    }
  });
});

describe('createKeyEnvironmentServer', () => {
  it('closes a connection whose headers do not arrive in time', async () => {
    const server = createKeyEnvironmentServer((_req, res) => res.end('ok'), { headersTimeoutMs: 500 });
    const o = await listen(server);
    const c = raw(o);
    c.socket.write('POST /x HTTP/1.1\r\nHost: x\r\n'); // and nothing more
    const t0 = Date.now();
    expect(await within(c.closed, 5_000)).not.toBe('timeout');
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(c.received()).toMatch(/^HTTP\/1\.1 408 |^$/);
    // A complete request on a fresh connection is served (the positive control).
    expect(await (await fetch(`${o}/x`)).text()).toBe('ok');
  });

  it('caps connections: past maxConnections a new connection is closed at once', async () => {
    const server = createKeyEnvironmentServer((_req, res) => res.end('ok'), { maxConnections: 2 });
    const o = await listen(server);
    const held = [raw(o), raw(o)];
    await new Promise((r) => setTimeout(r, 100));
    const third = raw(o);
    expect(await within(third.closed, 2_000)).not.toBe('timeout');
    for (const h of held) h.socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect(await (await fetch(`${o}/x`)).text()).toBe('ok');
  });

  it('refuses limits out of range', () => {
    expect(() => createKeyEnvironmentServer(() => undefined, { headersTimeoutMs: 10 })).toThrow(RangeError);
    expect(() => createKeyEnvironmentServer(() => undefined, { headersTimeoutMs: 10_000, requestTimeoutMs: 5_000 })).toThrow(RangeError);
    expect(() => createKeyEnvironmentServer(() => undefined, { maxConnections: 0 })).toThrow(RangeError);
  });
});
