// The browser side of the credential rules, in Node against a real key environment over HTTP
// that requires DPoP with nonces: httpKeyProvider signs a proof for every request and answers a
// nonce challenge once; a delivery for another member than the one signed in is refused; a
// session is extended with a renewed token; and every wipe ends the key-environment session —
// except pagehide in IndexedDB mode.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { IDBFactory } from 'fake-indexeddb';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { httpKeyProvider, openSession, TokumeiError, type HttpKeyProviderOptions, type SessionOptions } from '../../src/index.ts';
import { keyEnvironmentHandler, memorySessionRegistry, type DeliveryEvent, type KeyEnvironment, type SessionRegistry } from '../../src/server.ts';
import { dpopKeyEnvironment, testIssuer, type TestIssuer } from '../server/auth/helpers.ts';

let issuer: TestIssuer;
let env: KeyEnvironment;
let sessions: SessionRegistry;
let server: Server;
let url: string;
const delivered: DeliveryEvent[] = [];
/** Every request the browser made: path, status, and the headers and body it sent. */
const wire: { path: string; status: number; dpop: string | null; authorization: string | null; body: string }[] = [];

beforeAll(async () => {
  issuer = await testIssuer();
  sessions = memorySessionRegistry();
  env = await dpopKeyEnvironment(issuer, { sessions, sessionLifetimeMs: 3_600_000, onDeliver: (e) => delivered.push(e) });
  server = createServer((req, res) => keyEnvironmentHandler(env, { path: '/key-env/session' })(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/key-env/session`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
afterEach(() => {
  wire.length = 0;
});

const spy: typeof fetch = async (input, init) => {
  const res = await fetch(input, init);
  const h = new Headers(init?.headers);
  wire.push({ path: new URL(String(input)).pathname, status: res.status, dpop: h.get('dpop'), authorization: h.get('authorization'), body: String(init?.body) });
  return res;
};

/** The app's side: a non-extractable DPoP key pair, and its OIDC client's tokens bound to it. */
async function device(claims: Record<string, unknown> = {}) {
  const dpopKey = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const jkt = await calculateJwkThumbprint(await exportJWK(dpopKey.publicKey));
  const state = { claims };
  const sso = { token: '', renew: async (more: Record<string, unknown> = {}) => (sso.token = await issuer.token({ cnf: { jkt }, ...state.claims, ...more })) };
  await sso.renew();
  const provider = (extra: Partial<HttpKeyProviderOptions> = {}) => httpKeyProvider({ url, getToken: () => sso.token, dpopKey, fetch: spy, retries: 0, ...extra });
  return { dpopKey, jkt, sso, provider };
}

const base: Partial<SessionOptions> = { wipeOnPagehide: false, crossTab: false };
const reasonAtKeyEnvironment = async (id: string) => (await sessions.get(id))?.revoked?.reason;

describe('httpKeyProvider with a DPoP key', () => {
  it('signs in: one nonce challenge answered, then every request carries a fresh proof with the nonce', async () => {
    const d = await device();
    const session = await openSession({ keyProvider: d.provider(), ...base, revocationCheckMs: 50 });
    await vi.waitFor(() => expect(wire.filter((w) => w.path.endsWith('/status')).length).toBeGreaterThanOrEqual(2), { timeout: 5_000 });
    expect(wire.map((w) => w.status).slice(0, 2)).toEqual([401, 200]); // the challenge, then the delivery
    expect(wire.slice(2).every((w) => w.status === 200)).toBe(true); // the nonce is kept from every answer
    expect(new Set(wire.map((w) => w.dpop)).size).toBe(wire.length); // a fresh proof each time
    expect(wire[1]!.authorization).toBe(`DPoP ${d.sso.token}`);
    expect(wire.filter((w) => w.path.endsWith('/status')).every((w) => w.authorization === null)).toBe(true); // no token where none is needed
    expect((await sessions.get(session.sessionId))?.keyThumbprint).toBe(d.jkt);
    await session.logoff();
  });

  it('without the DPoP key the key environment refuses the token (ERR_AUTH)', async () => {
    const d = await device();
    const err = await openSession({ keyProvider: d.provider({ dpopKey: undefined }), ...base }).catch((e: unknown) => e);
    expect((err as TokumeiError).code).toBe('ERR_AUTH');
  });

  it('the same token a second time (a reload in memory mode) opens no second session: ERR_AUTH', async () => {
    const d = await device();
    const first = await openSession({ keyProvider: d.provider(), ...base });
    const err = await openSession({ keyProvider: d.provider(), ...base }).catch((e: unknown) => e);
    expect((err as TokumeiError).code).toBe('ERR_AUTH');
    await d.sso.renew(); // the OIDC client signs in again: a new token opens a new session
    const second = await openSession({ keyProvider: d.provider(), ...base });
    expect(second.sessionId).not.toBe(first.sessionId);
    await Promise.all([first.logoff(), second.logoff()]);
  });

  it('a captured request replayed with a fresh ephemeral key gets no keyring', async () => {
    const d = await device();
    const session = await openSession({ keyProvider: d.provider(), ...base });
    const captured = wire.find((w) => w.status === 200 && w.path === '/key-env/session')!;
    const pair = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
    const body = { ...JSON.parse(captured.body), publicKey: Buffer.from(await crypto.subtle.exportKey('raw', pair.publicKey)).toString('base64url') };
    const replay = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: captured.authorization!, DPoP: captured.dpop! }, body: JSON.stringify(body) });
    expect(replay.status).toBe(401);
    expect(await replay.text()).toBe('{"error":"ERR_AUTH"}');
    await session.logoff();
  });

  it('memberId: a delivery of another member’s keys is refused before anything is opened, and that session is ended', async () => {
    const d = await device(); // the token names M000001
    const before = delivered.length;
    const err = await openSession({ keyProvider: d.provider({ memberId: 'M000002' }), ...base }).catch((e: unknown) => e);
    expect((err as TokumeiError).code).toBe('ERR_AUTH');
    const opened = delivered.slice(before);
    expect(opened).toHaveLength(1);
    await vi.waitFor(async () => expect(await reasonAtKeyEnvironment(opened[0]!.sessionId)).toBe('revoked'), { timeout: 5_000 });
    // The member the app signed in: accepted (the positive control).
    await d.sso.renew();
    const ok = await openSession({ keyProvider: d.provider({ memberId: 'M000001' }), ...base });
    await ok.logoff();
    // A memberId that is not a string is the app's mistake: a TypeError at once.
    expect(() => d.provider({ memberId: 7 as unknown as string })).toThrow(TypeError);
  });

  it('refresh: a renewed token extends the session without a new delivery, up to maxLifetimeMs', async () => {
    const now = Math.floor(Date.now() / 1000);
    const d = await device({ exp: now + 120 });
    const session = await openSession({ keyProvider: d.provider(), ...base, maxLifetimeMs: 600_000 });
    expect(Math.abs(session.expiresAt - (now + 120) * 1000)).toBeLessThan(1_000);
    const deliveries = delivered.length;
    await d.sso.renew({ exp: now + 300 });
    expect(await session.refresh()).toBe((now + 300) * 1000);
    expect(session.expiresAt).toBe((now + 300) * 1000);
    await d.sso.renew({ exp: now + 3_000 });
    const capped = await session.refresh();
    expect(capped).toBeLessThanOrEqual(Date.now() + 600_000);
    expect(capped).toBeGreaterThan(Date.now() + 590_000);
    expect(delivered.length).toBe(deliveries); // no key delivery
    expect(session.state).toBe('open');
    // A token of another member cannot extend it: ERR_REVOKED, and the session is wiped.
    await d.sso.renew({ sub: 'M000002', exp: now + 3_000 });
    expect(await session.refresh().catch((e: TokumeiError) => e.code)).toBe('ERR_REVOKED');
    expect(session.wipeReason).toBe('revoked');
    await expect(session.refresh()).rejects.toMatchObject({ code: 'ERR_SESSION_CLOSED' });
  });
});

describe('every wipe ends the key-environment session', () => {
  const ended = (id: string, reason: string) => vi.waitFor(async () => expect(await reasonAtKeyEnvironment(id)).toBe(reason), { timeout: 5_000, interval: 20 });

  it('logoff', async () => {
    const d = await device();
    const s = await openSession({ keyProvider: d.provider(), ...base });
    await s.logoff();
    await ended(s.sessionId, 'logoff');
    // …by its end-of-session token, with no proof (what pagehide can send):
    const end = await vi.waitFor(() => wire.find((w) => w.path.endsWith('/logoff') && JSON.parse(w.body).sessionId === s.sessionId)!, { timeout: 5_000 });
    expect(end.dpop).toBeNull();
    expect(JSON.parse(end.body)).toMatchObject({ sessionId: s.sessionId, endToken: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/), reason: 'logoff' });
  });

  it('idle', async () => {
    const d = await device();
    const s = await openSession({ keyProvider: d.provider(), ...base, idleTimeoutMs: 150 });
    await ended(s.sessionId, 'idle');
    expect(s.wipeReason).toBe('idle');
  });

  it('expired (the absolute lifetime passed)', async () => {
    const d = await device();
    // The deadline starts once the keys are in hand, so a slow delivery cannot expire it early.
    const s = await openSession({ keyProvider: d.provider(), ...base, maxLifetimeMs: 300 });
    await vi.waitFor(() => expect(s.wipeReason).toBe('expired'), { timeout: 5_000 });
    await ended(s.sessionId, 'expired');
  });

  it('remote-logoff (the member logged off in another tab)', async () => {
    const [a, b] = [await device(), await device()];
    const tabA = await openSession({ keyProvider: a.provider(), wipeOnPagehide: false });
    const tabB = await openSession({ keyProvider: b.provider(), wipeOnPagehide: false });
    await tabA.logoff();
    await vi.waitFor(() => expect(tabB.wipeReason).toBe('remote-logoff'), { timeout: 5_000 });
    await ended(tabB.sessionId, 'remote-logoff');
  });

  it('revoked (the key environment revoked it: the end request is still sent, the first reason stays)', async () => {
    const d = await device();
    const s = await openSession({ keyProvider: d.provider(), ...base, revocationCheckMs: 30 });
    await env.revokeSession(s.sessionId, 'admin');
    await vi.waitFor(() => expect(s.wipeReason).toBe('revoked'), { timeout: 5_000 });
    await vi.waitFor(() => expect(wire.some((w) => w.path.endsWith('/logoff') && JSON.parse(w.body).reason === 'revoked')).toBe(true), { timeout: 5_000 });
    expect(await reasonAtKeyEnvironment(s.sessionId)).toBe('admin');
  });

  describe('pagehide', () => {
    const g = globalThis as unknown as Record<string, unknown>;
    let target: EventTarget;
    afterEach(() => {
      delete g.addEventListener;
      delete g.removeEventListener;
      delete g.indexedDB;
    });
    const page = () => {
      target = new EventTarget();
      g.addEventListener = target.addEventListener.bind(target);
      g.removeEventListener = target.removeEventListener.bind(target);
    };

    it('memory mode: pagehide ends it — the request leaves synchronously, inside the event', async () => {
      page();
      const d = await device();
      const s = await openSession({ keyProvider: d.provider(), crossTab: false });
      const requests: string[] = [];
      const before = globalThis.fetch;
      globalThis.fetch = ((...args: Parameters<typeof fetch>) => (requests.push(String(args[0])), before(...args))) as typeof fetch;
      try {
        target.dispatchEvent(new Event('pagehide'));
        // The fetch was started during dispatch, before any await (spy → global fetch).
        expect(requests.some((r) => r.endsWith('/logoff'))).toBe(true);
      } finally {
        globalThis.fetch = before;
      }
      await ended(s.sessionId, 'pagehide');
    });

    it('IndexedDB mode: pagehide leaves the session resumable (that is what the mode is for)', async () => {
      page();
      g.indexedDB = new IDBFactory();
      const d = await device();
      const s = await openSession({ keyProvider: d.provider(), crossTab: false, persistence: 'indexeddb' });
      target.dispatchEvent(new Event('pagehide'));
      expect(s.wipeReason).toBe('pagehide');
      await new Promise((r) => setTimeout(r, 200));
      expect(wire.some((w) => w.path.endsWith('/logoff') && JSON.parse(w.body).sessionId === s.sessionId)).toBe(false);
      expect(await env.sessionStatus(s.sessionId)).toBe('active');
      // The reload: the same device key, the same token (bound to that session) — resumed.
      page();
      const again = await openSession({ keyProvider: d.provider(), crossTab: false, persistence: 'indexeddb' });
      expect(again.resumed).toBe(true);
      expect(again.sessionId).toBe(s.sessionId);
      await again.logoff();
      await ended(s.sessionId, 'logoff');
    });
  });
});
