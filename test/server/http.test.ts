// keyEnvironmentHandler: routing, CORS, methods, body limits, error bodies without detail.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyEnvironment } from '../../src/server/key-environment.ts';
import { keyEnvironmentHandler } from '../../src/server/http/handler.ts';
import { memoryKeyStore } from '../../src/server/stores/memory-store.ts';
import { localMasterKey } from '../../src/server/master-keys/local.ts';

let server: Server;
let origin: string;
const internalErrors: unknown[] = [];

beforeAll(async () => {
  const env = createKeyEnvironment({
    masterKey: localMasterKey(new Uint8Array(32).fill(1)),
    store: memoryKeyStore(),
    authenticate: (token) => {
      if (token === 'boom') throw new Error('sso unreachable');
      return token === 'ok' ? { memberId: 'M1' } : null;
    },
  });
  await env.createMemberKey('M1');
  const handler = keyEnvironmentHandler(env, { path: '/kx', allowOrigins: ['https://portal.example'], maxBodyBytes: 1024, onError: (e) => internalErrors.push(e) });
  server = createServer((req, res) => handler(req, res, () => res.writeHead(418).end()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('keyEnvironmentHandler', () => {
  it('passes requests for other paths to next', async () => {
    expect((await fetch(`${origin}/elsewhere`)).status).toBe(418);
  });

  it('answers CORS preflights for allowed origins only', async () => {
    const ok = await fetch(`${origin}/kx`, { method: 'OPTIONS', headers: { Origin: 'https://portal.example' } });
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://portal.example');
    expect(ok.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    const other = await fetch(`${origin}/kx`, { method: 'OPTIONS', headers: { Origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('refuses other methods (405), oversized bodies (413) and non-JSON (400)', async () => {
    expect((await fetch(`${origin}/kx`)).status).toBe(405);
    const big = await fetch(`${origin}/kx`, { method: 'POST', headers: { Authorization: 'Bearer ok' }, body: 'x'.repeat(5000) });
    expect(big.status).toBe(413);
    const bad = await fetch(`${origin}/kx/status`, { method: 'POST', body: '{' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: 'ERR_FORMAT' });
    expect((await fetch(`${origin}/kx/status`, { method: 'POST', body: '{"sessionId":5}' })).status).toBe(400);
  });

  it('status of an unknown session is revoked; logoff answers 204', async () => {
    const st = await fetch(`${origin}/kx/status`, { method: 'POST', body: JSON.stringify({ sessionId: 's1.nope' }) });
    expect(await st.json()).toEqual({ status: 'revoked' });
    expect((await fetch(`${origin}/kx/logoff`, { method: 'POST', body: JSON.stringify({ sessionId: 's1.nope' }) })).status).toBe(204);
  });

  it('a failing authenticate is a 500 with no detail, reported to onError', async () => {
    const res = await fetch(`${origin}/kx`, { method: 'POST', headers: { Authorization: 'Bearer boom' }, body: '{}' });
    expect(res.status).toBe(500);
    expect(await res.text()).toBe('{"error":"internal"}');
    expect(String(internalErrors.at(-1))).toContain('sso unreachable');
  });

  it('no bearer token or a refused one is 401 with WWW-Authenticate', async () => {
    for (const headers of [{}, { Authorization: 'Basic abc' }, { Authorization: 'Bearer nope' }] as Record<string, string>[]) {
      const res = await fetch(`${origin}/kx`, { method: 'POST', headers, body: '{}' });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(await res.json()).toEqual({ error: 'ERR_AUTH' });
    }
  });
});
