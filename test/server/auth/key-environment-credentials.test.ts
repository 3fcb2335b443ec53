// The key environment's credential rules, attacked: a token is accepted only with a proof of the
// key it is bound to; a whole captured request replayed with a fresh ephemeral key gets nothing;
// one token opens one session and afterwards resumes only that one; logoff ends it for good;
// status, logoff and refresh answer only to the session's key. Every refusal stands beside the
// legitimate request that works.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { oidcAuthenticator } from '../../../src/server/auth/oidc.ts';
import type { DeliveryRequest, KeyEnvironment } from '../../../src/server/key-environment.ts';
import { boundToken, DATA_ENV_AUDIENCE, ISSUER, KEY_ENV_AUDIENCE, deliveryBody, dpopKey, dpopKeyEnvironment, proof, reasonOf, testIssuer, URL_DELIVER, type DpopKey, type TestIssuer } from './helpers.ts';
import { codeOf } from '../../code-of.ts';

const URL_STATUS = `${URL_DELIVER}/status`;
const URL_LOGOFF = `${URL_DELIVER}/logoff`;
const URL_REFRESH = `${URL_DELIVER}/refresh`;
const PROTOCOL = 'tokumei-key-delivery/1';

/** A delivery (or resume) request as the browser makes it: token, fresh proof with the current nonce. */
async function deliveryRequest(env: KeyEnvironment, key: DpopKey, token: string, sessionId?: string): Promise<DeliveryRequest> {
  return {
    authorization: `DPoP ${token}`,
    dpop: await proof(key, { accessToken: token, nonce: env.dpopNonce()! }),
    method: 'POST',
    url: URL_DELIVER,
    body: await deliveryBody(sessionId),
  };
}

async function sessionRequest(env: KeyEnvironment, key: DpopKey | undefined, url: string, body: Record<string, unknown>, token?: string): Promise<DeliveryRequest> {
  return {
    ...(token === undefined ? {} : { authorization: `DPoP ${token}` }),
    ...(key === undefined ? {} : { dpop: await proof(key, { htu: url, nonce: env.dpopNonce()!, ...(token === undefined ? {} : { accessToken: token }) }) }),
    method: 'POST',
    url,
    body: { protocol: PROTOCOL, ...body },
  };
}

async function world(): Promise<{ env: KeyEnvironment; issuer: TestIssuer; key: DpopKey }> {
  const issuer = await testIssuer();
  return { env: await dpopKeyEnvironment(issuer, { sessionLifetimeMs: 3_600_000 }), issuer, key: await dpopKey() };
}

describe('delivery requires a DPoP-bound token and a proof of its key', () => {
  it('accepts the legitimate request: token bound to the key, fresh proof with nonce and ath', async () => {
    const { env, issuer, key } = await world();
    const res = await env.deliverKeys(await deliveryRequest(env, key, await boundToken(issuer, key)));
    expect(res.memberId).toBe('M000001');
    expect(res.endToken).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(await env.sessionStatus(res.sessionId)).toBe('active');
  });

  it('a stolen token with the thief’s own key and proof: refused (cnf.jkt is not the proof key)', async () => {
    const { env, issuer, key } = await world();
    const token = await boundToken(issuer, key);
    const thief = await dpopKey();
    expect(await reasonOf(env.deliverKeys(await deliveryRequest(env, thief, token)))).toMatch(/ERR_AUTH: .*not bound to the key/);
    expect(await codeOf(env.deliverKeys(await deliveryRequest(env, key, token)))).toBe('resolved');
  });

  it('a token without cnf.jkt, a Bearer scheme, and no proof: refused', async () => {
    const { env, issuer, key } = await world();
    const unbound = await issuer.token();
    expect(await reasonOf(env.deliverKeys(await deliveryRequest(env, key, unbound)))).toMatch(/not DPoP-bound/);
    const token = await boundToken(issuer, key);
    const good = await deliveryRequest(env, key, token);
    expect(await reasonOf(env.deliverKeys({ ...good, authorization: `Bearer ${token}` }))).toMatch(/scheme must be DPoP/);
    expect(await reasonOf(env.deliverKeys({ ...good, dpop: undefined }))).toMatch(/no DPoP proof/);
    expect(await reasonOf(env.deliverKeys({ ...good, authorization: undefined }))).toMatch(/no access token/);
    expect(await codeOf(env.deliverKeys(good))).toBe('resolved');
  });

  it('a token issued for the data environment (another audience): refused', async () => {
    const { env, issuer, key } = await world();
    const dataToken = await boundToken(issuer, key, { aud: DATA_ENV_AUDIENCE });
    expect(await reasonOf(env.deliverKeys(await deliveryRequest(env, key, dataToken)))).toMatch(/does not verify/);
    expect(await codeOf(env.deliverKeys(await deliveryRequest(env, key, await boundToken(issuer, key))))).toBe('resolved');
  });

  it('a proof made for another URL or without the current nonce: refused (use_dpop_nonce for the nonce)', async () => {
    const { env, issuer, key } = await world();
    const token = await boundToken(issuer, key);
    const base = await deliveryRequest(env, key, token);
    const elsewhere = { ...base, dpop: await proof(key, { accessToken: token, nonce: env.dpopNonce()!, htu: 'https://data.example/api/records' }) };
    expect(await reasonOf(env.deliverKeys(elsewhere))).toMatch(/htu/);
    const noNonce = { ...base, dpop: await proof(key, { accessToken: token }) };
    const refusal = await env.deliverKeys(noNonce).catch((e: unknown) => e);
    expect((refusal as { challenge?: unknown }).challenge).toEqual({ error: 'use_dpop_nonce', nonce: env.dpopNonce() });
    expect(await codeOf(env.deliverKeys(base))).toBe('resolved');
  });
});

describe('replay and single use', () => {
  it('a key-environment request captured whole and replayed with a fresh ephemeral key gets no keyring', async () => {
    const { env, issuer, key } = await world();
    const captured = await deliveryRequest(env, key, await boundToken(issuer, key));
    const { sessionId } = await env.deliverKeys(captured); // the member's own request
    const replay = { ...captured, body: { ...(captured.body as object), publicKey: (await deliveryBody()).publicKey } };
    expect(await reasonOf(env.deliverKeys(replay))).toMatch(/ERR_AUTH: .*replayed/);
    // …and as a resume of the session it opened, had the attacker learnt its id elsewhere:
    expect(await reasonOf(env.deliverKeys({ ...replay, body: { ...(replay.body as object), sessionId } }))).toMatch(/ERR_AUTH: .*replayed/);
    expect(await codeOf(env.deliverKeys({ ...replay, body: { ...(replay.body as object), sessionId: 's1.guess' } }))).toBe('ERR_REVOKED');
  });

  it('positive control: against a deliberately weakened key environment (no DPoP, no single use) the same replay gets a keyring', async () => {
    const issuer = await testIssuer();
    const weak = await dpopKeyEnvironment(
      issuer,
      { dpop: { required: false }, authenticate: async (c) => ({ ...(await oidcAuthenticator({ issuer: ISSUER, audience: KEY_ENV_AUDIENCE, jwks: issuer.jwks, requireDpop: false })(c))!, tokenId: randomUUID() }) },
    );
    const token = await issuer.token();
    const captured: DeliveryRequest = { authorization: `Bearer ${token}`, method: 'POST', url: URL_DELIVER, body: await deliveryBody() };
    await weak.deliverKeys(captured);
    const replay = { ...captured, body: { ...(captured.body as object), publicKey: (await deliveryBody()).publicKey } };
    expect((await weak.deliverKeys(replay)).memberId).toBe('M000001');
  });

  it('replayed before its first use (same proof, same token): only one of the two gets keys', async () => {
    const { env, issuer, key } = await world();
    const captured = await deliveryRequest(env, key, await boundToken(issuer, key));
    const results = await Promise.all([env.deliverKeys(captured), env.deliverKeys(captured)].map(codeOf));
    expect(results.sort()).toEqual(['ERR_AUTH', 'resolved']);
  });

  it('one fresh session per token: a second delivery with the same token (fresh proof) is refused; resuming its own session works', async () => {
    const { env, issuer, key } = await world();
    const token = await boundToken(issuer, key);
    const first = await env.deliverKeys(await deliveryRequest(env, key, token));
    expect(await reasonOf(env.deliverKeys(await deliveryRequest(env, key, token)))).toMatch(/already opened another session/);
    const resumed = await env.deliverKeys(await deliveryRequest(env, key, token, first.sessionId));
    expect(resumed.sessionId).toBe(first.sessionId);
    expect(resumed.expiresAt).toBe(first.expiresAt);
    // A new token (the member signed in again) opens a new session.
    const other = await env.deliverKeys(await deliveryRequest(env, key, await boundToken(issuer, key)));
    expect(other.sessionId).not.toBe(first.sessionId);
    // The first token cannot resume that other session.
    expect(await reasonOf(env.deliverKeys(await deliveryRequest(env, key, token, other.sessionId)))).toMatch(/already opened another session/);
  });

  it('logoff, then the same token: no new session and no resume', async () => {
    const { env, issuer, key } = await world();
    const token = await boundToken(issuer, key);
    const s = await env.deliverKeys(await deliveryRequest(env, key, token));
    await env.endSession(await sessionRequest(env, key, URL_LOGOFF, { sessionId: s.sessionId }));
    expect(await env.sessionStatus(s.sessionId)).toBe('revoked');
    expect(await codeOf(env.deliverKeys(await deliveryRequest(env, key, token)))).toBe('ERR_AUTH');
    expect(await codeOf(env.deliverKeys(await deliveryRequest(env, key, token, s.sessionId)))).toBe('ERR_REVOKED');
  });

  it('a session resumes only with a proof of its own key (a new token bound to another key: ERR_REVOKED)', async () => {
    const { env, issuer, key } = await world();
    const s = await env.deliverKeys(await deliveryRequest(env, key, await boundToken(issuer, key)));
    const otherDevice = await dpopKey();
    expect(await codeOf(env.deliverKeys(await deliveryRequest(env, otherDevice, await boundToken(issuer, otherDevice), s.sessionId)))).toBe('ERR_REVOKED');
    expect(await codeOf(env.deliverKeys(await deliveryRequest(env, key, await boundToken(issuer, key), s.sessionId)))).toBe('resolved');
  });
});

describe('status, logoff and refresh answer only to the session’s key', () => {
  it('status: active with a proof of the session key; 401 without one or with another key', async () => {
    const { env, issuer, key } = await world();
    const s = await env.deliverKeys(await deliveryRequest(env, key, await boundToken(issuer, key)));
    expect(await env.checkSession(await sessionRequest(env, key, URL_STATUS, { sessionId: s.sessionId }))).toEqual({ status: 'active' });
    expect(await codeOf(env.checkSession(await sessionRequest(env, undefined, URL_STATUS, { sessionId: s.sessionId })))).toBe('ERR_AUTH');
    expect(await codeOf(env.checkSession(await sessionRequest(env, await dpopKey(), URL_STATUS, { sessionId: s.sessionId })))).toBe('ERR_AUTH');
    expect(await env.checkSession(await sessionRequest(env, undefined, URL_STATUS, { sessionId: 's1.unknown' }))).toEqual({ status: 'revoked' });
  });

  it('logoff: with the end-of-session token (no proof) or a proof of the key; anyone else is refused and changes nothing', async () => {
    const { env, issuer, key } = await world();
    const a = await env.deliverKeys(await deliveryRequest(env, key, await boundToken(issuer, key)));
    expect(await codeOf(env.endSession(await sessionRequest(env, undefined, URL_LOGOFF, { sessionId: a.sessionId })))).toBe('ERR_AUTH');
    expect(await codeOf(env.endSession(await sessionRequest(env, undefined, URL_LOGOFF, { sessionId: a.sessionId, endToken: 'AAAAAAAAAAAAAAAAAAAAAA' })))).toBe('ERR_AUTH');
    expect(await codeOf(env.endSession(await sessionRequest(env, await dpopKey(), URL_LOGOFF, { sessionId: a.sessionId })))).toBe('ERR_AUTH');
    expect(await env.sessionStatus(a.sessionId)).toBe('active');
    await env.endSession(await sessionRequest(env, undefined, URL_LOGOFF, { sessionId: a.sessionId, endToken: a.endToken, reason: 'pagehide' }));
    expect(await env.sessionStatus(a.sessionId)).toBe('revoked');

    const b = await env.deliverKeys(await deliveryRequest(env, key, await boundToken(issuer, key)));
    expect(b.endToken).not.toBe(a.endToken);
    await env.endSession(await sessionRequest(env, key, URL_LOGOFF, { sessionId: b.sessionId, reason: 'idle' }));
    expect(await env.sessionStatus(b.sessionId)).toBe('revoked');
  });

  it('refresh: a renewed token bound to the same key extends the session without a delivery; others are refused', async () => {
    let now = Date.now();
    const issuer = await testIssuer();
    const env = await dpopKeyEnvironment(issuer, { sessionLifetimeMs: 3_600_000, now: () => now });
    const key = await dpopKey();
    const t = Math.floor(now / 1000);
    const first = await boundToken(issuer, key, { exp: t + 600 });
    const s = await env.deliverKeys(await deliveryRequest(env, key, first));
    expect(s.expiresAt).toBe((t + 600) * 1000); // bounded by the token

    const renewed = await boundToken(issuer, key, { exp: t + 1200 });
    const refreshed = await env.refreshSession(await sessionRequest(env, key, URL_REFRESH, { sessionId: s.sessionId }, renewed));
    expect(refreshed).toEqual({ protocol: PROTOCOL, sessionId: s.sessionId, expiresAt: (t + 1200) * 1000 });
    // The renewed token now belongs to this session: it resumes it, and opens no other.
    expect((await env.deliverKeys(await deliveryRequest(env, key, renewed, s.sessionId))).expiresAt).toBe((t + 1200) * 1000);
    expect(await codeOf(env.deliverKeys(await deliveryRequest(env, key, renewed)))).toBe('ERR_AUTH');

    // Never past the session lifetime from its start.
    const long = await boundToken(issuer, key, { exp: t + 7200 });
    expect((await env.refreshSession(await sessionRequest(env, key, URL_REFRESH, { sessionId: s.sessionId }, long))).expiresAt).toBe(now + 3_600_000);

    // Another device's token, another member's, or a session that ended: refused.
    const otherKey = await dpopKey();
    expect(await codeOf(env.refreshSession(await sessionRequest(env, otherKey, URL_REFRESH, { sessionId: s.sessionId }, await boundToken(issuer, otherKey))))).toBe('ERR_REVOKED');
    expect(await codeOf(env.refreshSession(await sessionRequest(env, key, URL_REFRESH, { sessionId: s.sessionId }, await boundToken(issuer, key, { sub: 'M000002' }))))).toBe('ERR_REVOKED');
    await env.logoff(s.sessionId);
    expect(await codeOf(env.refreshSession(await sessionRequest(env, key, URL_REFRESH, { sessionId: s.sessionId }, await boundToken(issuer, key))))).toBe('ERR_REVOKED');
  });

  it('status and logoff need the protocol field and a session id (ERR_FORMAT)', async () => {
    const { env, key } = await world();
    for (const body of [{ sessionId: 's1.x' }, { protocol: 'other', sessionId: 's1.x' }, { protocol: PROTOCOL }, { protocol: PROTOCOL, sessionId: 5 }]) {
      const request = { dpop: await proof(key, { htu: URL_STATUS }), method: 'POST', url: URL_STATUS, body };
      expect(await codeOf(env.checkSession(request))).toBe('ERR_FORMAT');
      expect(await codeOf(env.endSession({ ...request, url: URL_LOGOFF }))).toBe('ERR_FORMAT');
    }
  });
});
