// Ceilings on delivery: one token looping deliveries, one member piling up sessions. Each attack
// is run against a key environment with the ceiling and, as the positive control, against one
// whose ceiling is out of reach, where the same loop goes through.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { keyEnvironmentHandler } from '../../../src/server/http/handler.ts';
import { createKeyEnvironment, type KeyEnvironmentOptions } from '../../../src/server/key-environment.ts';
import { checkLimits } from '../../../src/server/limits/delivery-limits.ts';
import { localMasterKey } from '../../../src/server/master-keys/local.ts';
import { memorySessionRegistry } from '../../../src/server/sessions/memory-registry.ts';
import type { SessionRegistry } from '../../../src/server/sessions/registry.ts';
import { memoryKeyStore } from '../../../src/server/stores/memory-store.ts';
import { codeOf } from '../../code-of.ts';

const PUBLIC_KEY = await (async () => {
  const pair = (await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits'])) as CryptoKeyPair;
  return Buffer.from(await crypto.subtle.exportKey('raw', pair.publicKey)).toString('base64url');
})();
const body = { protocol: 'tokumei-key-delivery/1', kem: 'P-256', publicKey: PUBLIC_KEY };

async function setup(options: Partial<KeyEnvironmentOptions> = {}) {
  let clock = 1_700_000_000_000;
  const sessions = options.sessions ?? memorySessionRegistry();
  const env = createKeyEnvironment({
    masterKey: localMasterKey(new Uint8Array(32).fill(7)),
    store: memoryKeyStore(),
    authenticate: ({ token }) => (token.startsWith('tok-') ? { memberId: token.split('-')[1]! } : null),
    dpop: { required: false },
    now: () => clock,
    ...options,
    sessions,
  });
  await env.createMemberKey('A');
  await env.createMemberKey('B');
  return { env, sessions, tick: (ms: number) => (clock += ms), now: () => clock };
}

/** A delivery request with a bearer token (DPoP is not what these tests are about). */
const req = (token: string, b: object = body) => ({ authorization: `Bearer ${token}`, method: 'POST', url: 'https://keys.example/session', body: b });

describe('per-token delivery rate', () => {
  // A token opens one session; looping it means resuming that session again and again.
  it('one token looping deliveries is refused past the rate (ERR_RATE_LIMITED), until the next window; other tokens are unaffected', async () => {
    const { env, tick } = await setup({ limits: { tokenRate: { max: 5, windowMs: 60_000 } } });
    const { sessionId } = await env.deliverKeys(req('tok-A-1'));
    const codes: string[] = [];
    for (let i = 0; i < 7; i++) codes.push(await codeOf(env.deliverKeys(req('tok-A-1', { ...body, sessionId }))));
    expect(codes).toEqual([...Array(4).fill('resolved'), ...Array(3).fill('ERR_RATE_LIMITED')]);
    expect(await codeOf(env.deliverKeys(req('tok-A-2')))).toBe('resolved');
    tick(60_000);
    expect(await codeOf(env.deliverKeys(req('tok-A-1', { ...body, sessionId })))).toBe('resolved');
  });

  it('control: with a rate out of reach the same loop goes through', async () => {
    const { env } = await setup({ limits: { tokenRate: { max: 1000, windowMs: 60_000 } } });
    const { sessionId } = await env.deliverKeys(req('tok-A-1'));
    for (let i = 0; i < 7; i++) expect(await codeOf(env.deliverKeys(req('tok-A-1', { ...body, sessionId })))).toBe('resolved');
  });

  it('counts resumes too, counts only authenticated tokens, and never gives the registry the token itself', async () => {
    const keys: string[] = [];
    const inner = memorySessionRegistry();
    const spy = new Proxy(inner, {
      get: (target, name: keyof SessionRegistry) =>
        name === 'countDelivery' ? (key: string, w: number, at: number) => (keys.push(key), target.countDelivery(key, w, at)) : target[name].bind(target),
    });
    const { env } = await setup({ sessions: spy, limits: { tokenRate: { max: 2, windowMs: 60_000 } } });
    const first = await env.deliverKeys(req('tok-A-secret'));
    expect(await codeOf(env.deliverKeys(req('tok-A-secret', { ...body, sessionId: first.sessionId })))).toBe('resolved');
    expect(await codeOf(env.deliverKeys(req('tok-A-secret', { ...body, sessionId: first.sessionId })))).toBe('ERR_RATE_LIMITED');
    expect(await codeOf(env.deliverKeys(req('refused')))).toBe('ERR_AUTH');
    expect(keys.length).toBe(3);
    expect(new Set(keys).size).toBe(1);
    expect(keys[0]).toMatch(/^tok1\.[A-Za-z0-9_-]{43}$/);
    expect(keys[0]).not.toContain('secret');
  });

  it('over HTTP a refusal is 429 with { error: ERR_RATE_LIMITED }', async () => {
    const { env } = await setup({ limits: { tokenRate: { max: 1, windowMs: 60_000 } } });
    const server = createServer(keyEnvironmentHandler(env, { path: '/kx' }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/kx`;
      const post = () => fetch(url, { method: 'POST', headers: { Authorization: 'Bearer tok-A-1', 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      expect((await post()).status).toBe(200);
      const refused = await post();
      expect(refused.status).toBe(429);
      expect(await refused.json()).toEqual({ error: 'ERR_RATE_LIMITED' });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('per-member session cap', () => {
  const rate = { max: 1_000_000, windowMs: 1000 };

  it("deliveries beyond the cap revoke the member's oldest sessions: live sessions never exceed it", async () => {
    const { env, sessions, now, tick } = await setup({ limits: { maxSessionsPerMember: 4, tokenRate: rate } });
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      ids.push((await env.deliverKeys(req(`tok-A-${i}`))).sessionId);
      tick(1);
    }
    await env.deliverKeys(req('tok-B-1'));
    const live = (await sessions.memberSessions('A', now())).filter((s) => s.revoked === undefined);
    expect(live.map((s) => s.sessionId).sort()).toEqual(ids.slice(-4).sort());
    expect(await env.sessionStatus(ids[0]!)).toBe('revoked');
    expect((await sessions.get(ids[0]!))!.revoked!.reason).toBe('session-limit');
    expect(await env.sessionStatus(ids[49]!)).toBe('active');
    expect((await sessions.memberSessions('B', now())).length).toBe(1);
  });

  it("control: with a cap out of reach, the same loop leaves all 50 live", async () => {
    const { env, sessions, now } = await setup({ limits: { maxSessionsPerMember: 1000, tokenRate: rate } });
    for (let i = 0; i < 50; i++) await env.deliverKeys(req(`tok-A-${i}`));
    expect((await sessions.memberSessions('A', now())).filter((s) => s.revoked === undefined).length).toBe(50);
  });

  it("with whenSessionLimit 'refuse' a delivery over the cap is ERR_RATE_LIMITED and registers nothing", async () => {
    const { env, sessions, now } = await setup({ limits: { maxSessionsPerMember: 2, whenSessionLimit: 'refuse', tokenRate: rate } });
    await env.deliverKeys(req('tok-A-1'));
    await env.deliverKeys(req('tok-A-2'));
    expect(await codeOf(env.deliverKeys(req('tok-A-3')))).toBe('ERR_RATE_LIMITED');
    expect((await sessions.memberSessions('A', now())).length).toBe(2);
  });
});

describe('limits option', () => {
  it('malformed limits are a TypeError or RangeError at creation', () => {
    for (const bad of [
      { maxSessionsPerMember: 0 },
      { maxSessionsPerMember: 1.5 },
      { whenSessionLimit: 'drop' },
      { tokenRate: { max: 0, windowMs: 1000 } },
      { tokenRate: { max: 5, windowMs: -1 } },
      { tokenRate: null },
    ]) {
      expect(() => checkLimits(bad as never)).toThrow(/expected/);
    }
    expect(() => checkLimits('x' as never)).toThrow(TypeError);
    expect(checkLimits(undefined)).toEqual({ cap: { maxLive: 16, whenFull: 'revoke-oldest' }, tokenRate: { max: 60, windowMs: 60_000 } });
  });
});
