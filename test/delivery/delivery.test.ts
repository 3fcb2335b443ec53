// httpKeyProvider against the real key environment (tokumei/server) over node:http on port 0:
// the happy path, every error mapping, retries, time-outs, binding of info, revocation, logoff.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { httpKeyProvider } from '../../src/delivery/http-key-provider.ts';
import { TokumeiError } from '../../src/errors.ts';
import { fromBase64url, toBase64url } from '../../src/internal/bytes.ts';
import { defineSchema } from '../../src/records/schema.ts';
import { openRecord, sealRecord } from '../../src/records/record.ts';
import { createKeyEnvironment, type DeliveryEvent, type KeyEnvironment } from '../../src/server/key-environment.ts';
import { keyEnvironmentHandler } from '../../src/server/http/handler.ts';
import { memoryKeyStore } from '../../src/server/stores/memory-store.ts';
import { localMasterKey } from '../../src/server/master-keys/local.ts';
import { codeOf } from '../code-of.ts';

const schema = defineSchema({ name: 'member', version: 1, fields: { id: 'attribute', fullName: 'identity' } });
const TOKENS: Record<string, { memberId: string; dependants?: string[] }> = {
  'tok-alice': { memberId: 'alice', dependants: ['bob'] },
  'tok-carol': { memberId: 'carol' },
};

let env: KeyEnvironment;
let server: Server;
let base: string;
const events: DeliveryEvent[] = [];
const keyLog: string[] = [];
/** Per-path overrides: answer with this status (or drop the connection) instead of the handler. */
const faults = new Map<string, { status?: number; drop?: boolean; delayMs?: number; body?: (real: string) => string; times: number }>();
const hits = new Map<string, number>();

beforeAll(async () => {
  env = createKeyEnvironment({
    masterKey: localMasterKey(crypto.getRandomValues(new Uint8Array(32))),
    store: memoryKeyStore(),
    // One fresh token per sign-in (`tok-alice~1`, `tok-alice~2`, …): each opens one session.
    authenticate: ({ token }) => TOKENS[token.split('~')[0]!] ?? null,
    dpop: { required: false },
    sessionLifetimeMs: 60_000,
    onDeliver: (e) => events.push(e),
    unsafeKeyLog: (line) => keyLog.push(line),
  });
  await env.createMemberKey('alice');
  await env.createMemberKey('bob');
  const handler = keyEnvironmentHandler(env, { path: '/key-env/session' });
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const fault = faults.get(path);
    if (fault !== undefined && fault.times > 0) {
      fault.times--;
      if (fault.drop) {
        req.socket.destroy();
        return;
      }
      if (fault.delayMs !== undefined) {
        setTimeout(() => handler(req, res), fault.delayMs);
        return;
      }
      if (fault.body !== undefined) {
        // A tampering proxy: the real key environment answers, then the body is rewritten.
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const request = { authorization: req.headers.authorization, method: 'POST', url: `http://${req.headers.host}${path}`, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
          void env.deliverKeys(request).then((answer) => {
            res.writeHead(200, { 'Content-Type': 'application/json' }).end(fault.body!(JSON.stringify(answer)));
          });
        });
        return;
      }
      res.writeHead(fault.status!).end('{"error":"x"}');
      return;
    }
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/key-env/session`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  faults.clear();
  hits.clear();
});

let tokens = 0;
const provider = (token = 'tok-alice', extra: Partial<Parameters<typeof httpKeyProvider>[0]> = {}) =>
  httpKeyProvider({ url: base, getToken: () => `${token}~${++tokens}`, timeoutMs: 5_000, retries: 2, ...extra });

describe('delivery: happy path', () => {
  for (const kem of ['P-256', 'X25519'] as const) {
    it(`${kem}: delivers the member's keyring (own + dependant) that opens records sealed in the key environment`, async () => {
      const ring = await env.openKeyring('alice', { dependants: ['bob'] });
      const bobRing = await env.openKeyring('bob');
      const sealedA = sealRecord(ring, schema, { id: 'A', fullName: '山田 花子' }, { recordId: 'A' });
      const sealedB = sealRecord(bobRing, schema, { id: 'B', fullName: '山田 一郎' }, { recordId: 'B' });
      ring.destroy();
      bobRing.destroy();

      const keys = await provider('tok-alice', { kem }).fetchKeys({});
      expect(keys.sessionId).toMatch(/^s1\./);
      expect(keys.expiresAt).toBeGreaterThan(Date.now());
      expect(keys.keyring.keyIds).toHaveLength(2);
      const [aliceV] = await env.keyVersions('alice');
      expect(keys.keyring.primary.keyId).toBe(aliceV!.keyId);
      expect(openRecord(keys.keyring, schema, sealedA, { recordId: 'A' }).fullName).toBe('山田 花子');
      expect(openRecord(keys.keyring, schema, sealedB, { recordId: 'B' }).fullName).toBe('山田 一郎');
      expect(await env.sessionStatus(keys.sessionId)).toBe('active');
      keys.keyring.destroy();
    });
  }

  it('the request carries only the public key and the token; the response only ciphertext', async () => {
    const seen: { request?: string; response?: string } = {};
    const spyFetch: typeof fetch = async (input, init) => {
      seen.request = String(init?.body);
      const res = await fetch(input, init);
      const text = await res.text();
      seen.response = text;
      return new Response(text, { status: res.status, headers: res.headers });
    };
    keyLog.length = 0;
    const keys = await provider('tok-alice', { fetch: spyFetch }).fetchKeys({});
    const request = JSON.parse(seen.request!) as Record<string, unknown>;
    expect(Object.keys(request).sort()).toEqual(['kem', 'protocol', 'publicKey']);
    expect(fromBase64url(request.publicKey as string)).toHaveLength(65);
    const response = JSON.parse(seen.response!) as Record<string, unknown>;
    expect(Object.keys(response).sort()).toEqual(['ciphertext', 'enc', 'endToken', 'expiresAt', 'kem', 'memberId', 'protocol', 'sessionId']);
    // The key log (tests only) names every delivered key; none of those bytes is in the clear on the wire.
    expect(keyLog).toHaveLength(2);
    for (const line of keyLog) {
      const [, keyId, hexKey] = line.split(' ');
      expect(line).toMatch(/^MEMBER_KEY \S+ [0-9a-f]{64}$/);
      expect(keys.keyring.has(keyId!)).toBe(true);
      const raw = Buffer.from(hexKey!, 'hex');
      for (const wire of [seen.request!, seen.response!]) {
        expect(wire).not.toContain(hexKey);
        expect(wire).not.toContain(toBase64url(raw));
        expect(Buffer.from(wire).includes(raw)).toBe(false);
        expect(Buffer.from(fromBase64url(String(response.ciphertext))!).includes(raw)).toBe(false);
      }
    }
    expect(events.at(-1)).toEqual({ sessionId: keys.sessionId, memberId: 'alice', keyIds: keys.keyring.keyIds, expiresAt: keys.expiresAt });
    keys.keyring.destroy();
  });

  it('answers with Cache-Control: no-store', async () => {
    const res = await fetch(base, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.status).toBe(401);
  });
});

describe('delivery: errors', () => {
  it('401 and 403 are ERR_AUTH and are not retried', async () => {
    expect(await codeOf(provider('tok-nobody').fetchKeys({}))).toBe('ERR_AUTH');
    expect(hits.get('/key-env/session')).toBe(1);
    faults.set('/key-env/session', { status: 403, times: 5 });
    expect(await codeOf(provider().fetchKeys({}))).toBe('ERR_AUTH');
    expect(hits.get('/key-env/session')).toBe(2);
  });

  it('a getToken that throws is ERR_AUTH, without a request', async () => {
    const p = httpKeyProvider({ url: base, getToken: () => Promise.reject(new Error('sso down')) });
    expect(await codeOf(p.fetchKeys({}))).toBe('ERR_AUTH');
    expect(hits.size).toBe(0);
  });

  it('a member without a key is ERR_KEY_UNAVAILABLE (404, not retried)', async () => {
    expect(await codeOf(provider('tok-carol').fetchKeys({}))).toBe('ERR_KEY_UNAVAILABLE');
    expect(hits.get('/key-env/session')).toBe(1);
  });

  it('5xx is retried with back-off and succeeds when the key environment recovers', async () => {
    faults.set('/key-env/session', { status: 503, times: 2 });
    const keys = await provider().fetchKeys({});
    expect(hits.get('/key-env/session')).toBe(3);
    keys.keyring.destroy();
  });

  it('5xx on every attempt is ERR_KEY_UNAVAILABLE after 1 + retries attempts', async () => {
    faults.set('/key-env/session', { status: 500, times: 10 });
    expect(await codeOf(provider('tok-alice', { retries: 3 }).fetchKeys({}))).toBe('ERR_KEY_UNAVAILABLE');
    expect(hits.get('/key-env/session')).toBe(4);
  });

  it('network errors are retried, then ERR_KEY_UNAVAILABLE', async () => {
    faults.set('/key-env/session', { drop: true, times: 10 });
    expect(await codeOf(provider('tok-alice', { retries: 1 }).fetchKeys({}))).toBe('ERR_KEY_UNAVAILABLE');
    expect(hits.get('/key-env/session')).toBe(2);
    // Nothing listening at all.
    const dead = httpKeyProvider({ url: 'http://127.0.0.1:1/none', getToken: () => 't', retries: 0 });
    expect(await codeOf(dead.fetchKeys({}))).toBe('ERR_KEY_UNAVAILABLE');
  });

  it('the deadline covers every attempt: ERR_TIMEOUT', async () => {
    faults.set('/key-env/session', { delayMs: 2_000, times: 10 });
    expect(await codeOf(provider('tok-alice', { timeoutMs: 150 }).fetchKeys({}))).toBe('ERR_TIMEOUT');
  });

  it("the caller's abort rejects with the signal's reason", async () => {
    faults.set('/key-env/session', { delayMs: 2_000, times: 10 });
    const ac = new AbortController();
    const p = provider().fetchKeys({ signal: ac.signal });
    setTimeout(() => ac.abort(new Error('user left')), 50);
    await expect(p).rejects.toThrow('user left');
  });

  const tamper = (mutate: (body: Record<string, unknown>) => void) => (text: string) => {
    const body = JSON.parse(text) as Record<string, unknown>;
    mutate(body);
    return JSON.stringify(body);
  };
  const flip = (b64: unknown, at = 5) => {
    const bytes = fromBase64url(String(b64))!;
    bytes[at]! ^= 1;
    return toBase64url(bytes);
  };
  const cases: [string, (text: string) => string][] = [
    ['a flipped ciphertext bit', tamper((b) => (b.ciphertext = flip(b.ciphertext)))],
    ['a flipped tag bit', tamper((b) => (b.ciphertext = flip(b.ciphertext, fromBase64url(String(b.ciphertext))!.length - 1)))],
    ['a truncated ciphertext', tamper((b) => (b.ciphertext = String(b.ciphertext).slice(0, -8)))],
    ['a changed enc', tamper((b) => (b.enc = flip(b.enc, 20)))],
    ['another session id (info binding)', tamper((b) => (b.sessionId = 's1.AAAAAAAAAAAAAAAAAAAAAA'))],
    ['another member id (info binding)', tamper((b) => (b.memberId = 'mallory'))],
    ['a later expiry (info binding)', tamper((b) => (b.expiresAt = Number(b.expiresAt) + 86_400_000))],
    ['another protocol', tamper((b) => (b.protocol = 'tokumei-key-delivery/2'))],
    ['another KEM', tamper((b) => (b.kem = 'X25519'))],
    ['a missing field', tamper((b) => delete b.enc)],
    ['enc that is not base64url', tamper((b) => (b.enc = '!!!'))],
    // A body that is not a JSON object (an HTML page, `null`) is not the key environment at
    // all: ERR_KEY_UNAVAILABLE, reason not-key-environment (test/delivery/key-env-errors.test.ts).
  ];
  for (const [i, [name, body]] of cases.entries()) {
    it(`${name} is ERR_DECRYPTION_FAILED with the one fixed message`, async () => {
      // A path of its own (the handler ignores the query): a late retry from an earlier test
      // cannot take this fault and leave this request untampered.
      faults.set(`/key-env/session?tamper=${i}`, { body, times: 1 });
      const err = await provider('tok-alice', { url: `${base}?tamper=${i}` }).fetchKeys({}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TokumeiError);
      expect((err as TokumeiError).code).toBe('ERR_DECRYPTION_FAILED');
      expect((err as TokumeiError).message).toBe('decryption failed');
    });
  }

  it('a replayed response (another sign-in) does not open: the ephemeral key is fresh each time', async () => {
    let first: string | undefined;
    faults.set('/key-env/session', { body: (t) => (first = t), times: 1 });
    (await provider().fetchKeys({})).keyring.destroy();
    faults.set('/key-env/session', { body: () => first!, times: 1 });
    expect(await codeOf(provider().fetchKeys({}))).toBe('ERR_DECRYPTION_FAILED');
  });

  it('the key environment refuses a malformed public key with 400 (ERR_FORMAT)', async () => {
    const post = (body: unknown) =>
      fetch(base, { method: 'POST', headers: { Authorization: `Bearer tok-alice~${++tokens}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const offCurve = new Uint8Array(65);
    offCurve[0] = 4;
    for (const body of [
      { protocol: 'tokumei-key-delivery/1', kem: 'P-256', publicKey: toBase64url(offCurve) },
      { protocol: 'tokumei-key-delivery/1', kem: 'P-256', publicKey: toBase64url(new Uint8Array(32)) },
      { protocol: 'tokumei-key-delivery/1', kem: 'P-384', publicKey: toBase64url(new Uint8Array(97)) },
      { protocol: 'tokumei-key-delivery/0', kem: 'P-256', publicKey: '' },
    ]) {
      const res = await post(body);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error: 'ERR_FORMAT' });
    }
  });

  it('malformed options are TypeError / RangeError', () => {
    expect(() => httpKeyProvider({ url: '', getToken: () => 't' })).toThrow(RangeError);
    expect(() => httpKeyProvider({ url: base } as never)).toThrow(TypeError);
    expect(() => httpKeyProvider({ url: base, getToken: () => 't', retries: -1 })).toThrow(RangeError);
    expect(() => httpKeyProvider({ url: base, getToken: () => 't', kem: 'P-384' as never })).toThrow(RangeError);
  });
});

describe('revocation and logoff', () => {
  it('checkSession reports active, then revoked after the key environment revokes it', async () => {
    const p = provider();
    const keys = await p.fetchKeys({});
    expect(await p.checkSession!(keys.sessionId, {})).toBe('active');
    expect(await env.revokeSession(keys.sessionId, 'admin')).toBe(true);
    expect(await p.checkSession!(keys.sessionId, {})).toBe('revoked');
    expect(await p.checkSession!('s1.unknown', {})).toBe('revoked');
    keys.keyring.destroy();
  });

  it('revokeMemberSessions revokes every live session of the member', async () => {
    const p = provider();
    const a = await p.fetchKeys({});
    const b = await p.fetchKeys({});
    expect(await env.revokeMemberSessions('alice')).toBeGreaterThanOrEqual(2);
    expect(await p.checkSession!(a.sessionId, {})).toBe('revoked');
    expect(await p.checkSession!(b.sessionId, {})).toBe('revoked');
    a.keyring.destroy();
    b.keyring.destroy();
  });

  it('notifyLogoff revokes the session in the key environment', async () => {
    const p = provider();
    const keys = await p.fetchKeys({});
    await p.notifyLogoff!(keys.sessionId);
    expect(await env.sessionStatus(keys.sessionId)).toBe('revoked');
    keys.keyring.destroy();
  });

  it('notifyLogoff never rejects, even when the key environment is down', async () => {
    faults.set('/key-env/session/logoff', { status: 500, times: 1 });
    await expect(provider().notifyLogoff!('s1.x')).resolves.toBeUndefined();
    const dead = httpKeyProvider({ url: 'http://127.0.0.1:1/none', getToken: () => 't', timeoutMs: 500 });
    await expect(dead.notifyLogoff!('s1.x')).resolves.toBeUndefined();
  });

  it('checkSession errors: 5xx is ERR_KEY_UNAVAILABLE, a slow answer ERR_TIMEOUT', async () => {
    faults.set('/key-env/session/status', { status: 502, times: 1 });
    expect(await codeOf(provider().checkSession!('s1.x', {}))).toBe('ERR_KEY_UNAVAILABLE');
    faults.set('/key-env/session/status', { delayMs: 1_000, times: 1 });
    expect(await codeOf(provider('tok-alice', { timeoutMs: 100 }).checkSession!('s1.x', {}))).toBe('ERR_TIMEOUT');
  });

  it('sessions expire: a session past its expiry reports revoked', async () => {
    let now = Date.now();
    const local = createKeyEnvironment({
      masterKey: localMasterKey(new Uint8Array(32).fill(7)),
      store: memoryKeyStore(),
      authenticate: () => ({ memberId: 'm', expiresAt: now + 1_000 }),
      dpop: { required: false },
      now: () => now,
    });
    await local.createMemberKey('m');
    const pair = (await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits'])) as CryptoKeyPair;
    const publicKey = toBase64url(new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey)));
    const res = await local.deliverKeys({ authorization: 'Bearer t', method: 'POST', url: 'https://keys.example/session', body: { protocol: 'tokumei-key-delivery/1', kem: 'P-256', publicKey } });
    expect(res.expiresAt).toBe(now + 1_000); // capped by the token's expiry
    expect(await local.sessionStatus(res.sessionId)).toBe('active');
    now += 1_001;
    expect(await local.sessionStatus(res.sessionId)).toBe('revoked');
  });
});

describe('no key in errors or logs', () => {
  it('errors carry fixed messages; console is never written to', async () => {
    const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((m) => vi.spyOn(console, m));
    // Change the first ciphertext character to another one (never to itself: that would not tamper).
    faults.set('/key-env/session', { body: (t) => t.replace(/"ciphertext":"(.)/, (_, c: string) => `"ciphertext":"${c === 'A' ? 'B' : 'A'}`), times: 1 });
    const err = await provider().fetchKeys({}).catch((e: unknown) => e as TokumeiError);
    expect((err as TokumeiError).code).toBe('ERR_DECRYPTION_FAILED');
    expect((err as TokumeiError).cause).toBeUndefined();
    const keys = await provider().fetchKeys({});
    keys.keyring.destroy();
    for (const s of spies) {
      expect(s).not.toHaveBeenCalled();
      s.mockRestore();
    }
  });
});
