// What httpKeyProvider says when it cannot get the keys, against real servers over node:http:
// a member with no key, a wrong path, an SPA fallback's HTML page, a key environment whose
// master key is down (503, retried), one that does not run (retried), and a refusal of the
// request's shape — each ERR_KEY_UNAVAILABLE with its own reason (which the troubleshooting
// table of docs/integration.md maps to a fix), retried only when a retry can help.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diagnoseKeyEnvironment } from '../../src/delivery/diagnose.ts';
import { httpKeyProvider } from '../../src/delivery/http-key-provider.ts';
import { TokumeiError } from '../../src/errors.ts';
import { createKeyEnvironment } from '../../src/server/key-environment.ts';
import { keyEnvironmentHandler } from '../../src/server/http/handler.ts';
import type { MasterKey } from '../../src/server/master-keys/master-key.ts';
import { localMasterKey } from '../../src/server/master-keys/local.ts';
import { KeyEnvironmentOutage } from '../../src/server/outage.ts';
import { memoryKeyStore } from '../../src/server/stores/memory-store.ts';

const SPA_PAGE = '<!doctype html><html><head><title>Portal</title></head><body><div id="root"></div></body></html>';
const servers: Server[] = [];
/** Requests by path, as the servers saw them. */
const hits: string[] = [];
let kms = true;
let keyEnv: string; // the key environment alone: unknown paths answer its own 404
let portal: string; // a portal server: the key environment at /key-env/session, an SPA for every other path
let closedPort: string;

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    handler(req, res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  // A master key over a "KMS" that can go away, as a cloud KMS wrapper would report it.
  const inner = localMasterKey(crypto.getRandomValues(new Uint8Array(32)));
  const guard = <T>(op: () => Promise<T>): Promise<T> => (kms ? op() : Promise.reject(new KeyEnvironmentOutage('the KMS did not answer')));
  const masterKey: MasterKey = { id: inner.id, wrap: (p, c) => guard(() => inner.wrap(p, c)), unwrap: (w, c) => guard(() => inner.unwrap(w, c)) };
  const env = createKeyEnvironment({ masterKey, store: memoryKeyStore(), authenticate: ({ token }) => ({ memberId: token.split('~')[0]! }), dpop: { required: false } });
  await env.createMemberKey('M000001');
  keyEnv = await listen(keyEnvironmentHandler(env, { path: '/key-env/session' }));
  const handler = keyEnvironmentHandler(env, { path: '/key-env/session' });
  portal = await listen((req, res) => handler(req, res, () => res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(SPA_PAGE)));
  // A port that was just free: nothing listens there.
  const gone = createServer();
  await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
  closedPort = `http://127.0.0.1:${(gone.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => gone.close(() => resolve()));
});

afterAll(async () => {
  for (const s of servers) await new Promise<void>((resolve) => s.close(() => resolve()));
});

let tokens = 0;
/** A sign-in of `memberId` at `url` (a fresh token each time); resolves with the error, or 'delivered'. */
async function signIn(url: string, memberId = 'M000001', retries = 2): Promise<TokumeiError | 'delivered'> {
  try {
    const keys = await httpKeyProvider({ url, getToken: () => `${memberId}~${++tokens}`, retries }).fetchKeys({});
    keys.keyring.destroy();
    return 'delivered';
  } catch (err) {
    if (!(err instanceof TokumeiError)) throw err;
    return err;
  }
}

/** How many requests reached `path` while `run` ran. */
async function counted<T>(path: string, run: () => Promise<T>): Promise<{ result: T; requests: number }> {
  const before = hits.length;
  const result = await run();
  return { result, requests: hits.slice(before).filter((h) => h.startsWith(path)).length };
}

describe('httpKeyProvider: what a failed sign-in says', () => {
  it('control: the right URL delivers, on the key environment alone and behind the portal', async () => {
    expect(await signIn(`${keyEnv}/key-env/session`)).toBe('delivered');
    expect(await signIn(`${portal}/key-env/session`)).toBe('delivered');
  });

  it('a member with no key: reason no-key, asked once (a retry cannot create the key)', async () => {
    const { result, requests } = await counted('/key-env/session', () => signIn(`${keyEnv}/key-env/session`, 'M000404'));
    expect(result).toMatchObject({ code: 'ERR_KEY_UNAVAILABLE', reason: 'no-key' });
    expect((result as TokumeiError).message).toBe('key environment: no-key (HTTP 404)');
    expect(requests).toBe(1);
  });

  it('a wrong path on the key environment (its own 404): reason not-key-environment, asked once — not "no key"', async () => {
    const url = `${keyEnv}/key-env/sessions`;
    const { result, requests } = await counted('/key-env/sessions', () => signIn(url));
    expect(result).toMatchObject({ code: 'ERR_KEY_UNAVAILABLE', reason: 'not-key-environment' });
    expect((result as TokumeiError).message).toBe('key environment: not-key-environment (HTTP 404)');
    expect(requests).toBe(1);
  });

  it("a wrong path on the portal, answered by the SPA fallback's HTML page (200): reason not-key-environment — not ERR_DECRYPTION_FAILED", async () => {
    const url = `${portal}/keyenv/session`;
    const { result, requests } = await counted('/keyenv/session', () => signIn(url));
    expect(result).toMatchObject({ code: 'ERR_KEY_UNAVAILABLE', reason: 'not-key-environment' });
    expect((result as TokumeiError).message).toBe('key environment: not-key-environment (HTTP 200)');
    expect(requests).toBe(1);
  });

  it('the master key down (503): retried `retries` times, then reason outage; no detail of the server reaches the browser', async () => {
    kms = false;
    try {
      const { result, requests } = await counted('/key-env/session', () => signIn(`${keyEnv}/key-env/session`, 'M000001', 2));
      expect(result).toMatchObject({ code: 'ERR_KEY_UNAVAILABLE', reason: 'outage' });
      expect((result as TokumeiError).message).toBe('key environment: outage (HTTP 503)');
      expect((result as TokumeiError).message).not.toContain('KMS');
      expect(requests).toBe(3);
    } finally {
      kms = true;
    }
  });

  it('the master key back during the retries: the sign-in succeeds', async () => {
    kms = false;
    const pending = signIn(`${keyEnv}/key-env/session`, 'M000001', 10);
    setTimeout(() => (kms = true), 150);
    expect(await pending).toBe('delivered');
  });

  it('nothing listening: retried, then reason unreachable', async () => {
    const result = await signIn(`${closedPort}/key-env/session`, 'M000001', 1);
    expect(result).toMatchObject({ code: 'ERR_KEY_UNAVAILABLE', reason: 'unreachable' });
    expect((result as TokumeiError).message).toBe('key environment: unreachable (no answer)');
    expect((result as TokumeiError).cause).toBeInstanceOf(TypeError);
  });

  it('a request the key environment refuses as malformed (400 ERR_FORMAT: another protocol version): not-key-environment, asked once', async () => {
    // A page on another version of tokumei: the same request, another protocol.
    const otherVersion: typeof fetch = (input, init) => fetch(input, { ...init, body: String(init?.body).replace('tokumei-key-delivery/1', 'tokumei-key-delivery/2') });
    const { result, requests } = await counted('/key-env/session', () =>
      httpKeyProvider({ url: `${keyEnv}/key-env/session`, getToken: () => `M000001~${++tokens}`, fetch: otherVersion })
        .fetchKeys({})
        .catch((err: unknown) => err),
    );
    expect(result).toMatchObject({ code: 'ERR_KEY_UNAVAILABLE', reason: 'not-key-environment' });
    expect((result as TokumeiError).message).toBe('key environment: not-key-environment (HTTP 400)');
    expect(requests).toBe(1);
  });

  it("diagnoseKeyEnvironment in Node: 'answers' where something answers (even an SPA's page), 'network' where nothing listens (CSP and CORS: test/browser/key-env-blocked.test.ts)", async () => {
    expect(await diagnoseKeyEnvironment(`${keyEnv}/key-env/session`)).toBe('answers');
    expect(await diagnoseKeyEnvironment(`${portal}/keyenv/session`)).toBe('answers');
    expect(await diagnoseKeyEnvironment(`${closedPort}/key-env/session`)).toBe('network');
    await expect(diagnoseKeyEnvironment('')).rejects.toThrow(RangeError);
  });
});
