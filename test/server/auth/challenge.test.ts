// A resource server answering refused credentials through the public API (authRefusal and the
// refusal's `challenge`): each refusal gets RFC 9449's answer (§7.1, §9) — status 401, the
// `WWW-Authenticate` error, and `DPoP-Nonce` for the nonce challenge — in one round trip, with
// no token or proof in any header. Against a real node:http server, real proofs, real tokens.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authRefusal, dpopVerifier, oidcAuthenticator, TokumeiError, type DpopVerifier } from '../../../src/server.ts';
import { boundToken, dpopKey, ISSUER, KEY_ENV_AUDIENCE, proof, testIssuer, type DpopKey, type TestIssuer } from './helpers.ts';

const WINDOW_S = 10;
let clock = Date.now();
let issuer: TestIssuer;
let key: DpopKey;
let proofs: DpopVerifier;
let server: Server;
let origin: string;
let requests = 0;
const URL_API = 'https://data.example/api/records';

beforeAll(async () => {
  issuer = await testIssuer();
  key = await dpopKey();
  proofs = dpopVerifier({ nonceSecret: new Uint8Array(32).fill(3), nonceWindowSeconds: WINDOW_S, now: () => clock });
  const authenticate = oidcAuthenticator({ issuer: ISSUER, audience: KEY_ENV_AUDIENCE, jwks: issuer.jwks });
  // A resource server as docs/integration.md shows it: the token, then the proof bound to it.
  server = createServer((req, res) => {
    requests++;
    void (async () => {
      const nonce = proofs.nonce();
      if (nonce !== undefined) res.setHeader('DPoP-Nonce', nonce);
      try {
        const token = /^DPoP (\S+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
        const who = await authenticate({ token, scheme: 'DPoP', method: 'POST', url: URL_API });
        if (who?.keyThumbprint === undefined) throw new TokumeiError('ERR_AUTH', 'not DPoP-bound');
        const p = typeof req.headers.dpop === 'string' ? req.headers.dpop : undefined;
        await proofs.verify({ proof: p, method: 'POST', url: URL_API, accessToken: token, thumbprint: who.keyThumbprint });
        res.writeHead(200).end(who.memberId);
      } catch (err) {
        const refusal = authRefusal(err, { algorithms: proofs.algorithms });
        if (refusal === undefined) return void res.writeHead(500).end();
        res.writeHead(refusal.status, refusal.headers).end();
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function post(token: string | undefined, dpop: string | undefined): Promise<Response> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `DPoP ${token}`;
  if (dpop !== undefined) headers.dpop = dpop;
  return fetch(origin, { method: 'POST', headers });
}

/** The client of RFC 9449 §8: answers one nonce challenge with a new proof; counts requests. */
async function client(token: string, signer: DpopKey, nonce?: string): Promise<{ status: number; requests: number; answers: Response[] }> {
  const before = requests;
  const answers = [await post(token, await proof(signer, { htu: URL_API, accessToken: token, ...(nonce === undefined ? {} : { nonce }) }))];
  const first = answers[0]!;
  if (first.status === 401 && /error="use_dpop_nonce"/.test(first.headers.get('www-authenticate') ?? '')) {
    answers.push(await post(token, await proof(signer, { htu: URL_API, accessToken: token, nonce: first.headers.get('dpop-nonce')! })));
  }
  return { status: answers.at(-1)!.status, requests: requests - before, answers };
}

const challengeOf = (res: Response): string | null => res.headers.get('www-authenticate');

describe('authRefusal: a resource server answers each refusal as RFC 9449 asks', () => {
  it('a good proof without the nonce: 401 use_dpop_nonce with DPoP-Nonce, then accepted with it (2 round trips)', async () => {
    const token = await boundToken(issuer, key);
    const r = await client(token, key);
    const [challenged, ok] = r.answers;
    expect(challenged!.status).toBe(401);
    expect(challengeOf(challenged!)).toBe('DPoP error="use_dpop_nonce", algs="ES256"');
    expect(challenged!.headers.get('dpop-nonce')).toBe(proofs.nonce());
    expect(ok!.status).toBe(200);
    expect(await ok!.text()).toBe('M000001');
    expect(r.requests).toBe(2);
  });

  it('a bad proof is invalid_dpop_proof at once, without or with a nonce: no retry (1 round trip)', async () => {
    const token = await boundToken(issuer, key);
    // A proof made for another URL, without a nonce: the nonce is checked last, so this is not a nonce challenge.
    const elsewhere = (nonce?: string) => proof(key, { htu: 'https://data.example/api/other', accessToken: token, ...(nonce === undefined ? {} : { nonce }) });
    const r = await post(token, await elsewhere());
    expect([r.status, challengeOf(r), r.headers.get('dpop-nonce')]).toEqual([401, 'DPoP error="invalid_dpop_proof", algs="ES256"', proofs.nonce()]);
    // The same with the previous window's nonce (still valid, no longer the current one).
    const previous = proofs.nonce()!;
    clock += WINDOW_S * 1000;
    try {
      expect(proofs.nonce()).not.toBe(previous);
      const stale = await post(token, await elsewhere(previous));
      expect([stale.status, challengeOf(stale)]).toEqual([401, 'DPoP error="invalid_dpop_proof", algs="ES256"']);
      // Control: the previous nonce is still accepted in a good proof, in one round trip.
      const own = await client(token, key, previous);
      expect([own.status, own.requests]).toEqual([200, 1]);
    } finally {
      clock -= WINDOW_S * 1000;
    }
    // A proof for another token (ath), a missing proof, a replayed one.
    const otherToken = await proof(key, { htu: URL_API, accessToken: await boundToken(issuer, key), nonce: proofs.nonce()! });
    const wrongAth = await post(token, otherToken);
    expect([wrongAth.status, challengeOf(wrongAth)]).toEqual([401, 'DPoP error="invalid_dpop_proof", algs="ES256"']);
    const noProof = await post(token, undefined);
    expect([noProof.status, challengeOf(noProof)]).toEqual([401, 'DPoP error="invalid_dpop_proof", algs="ES256"']);
    const once = await proof(key, { htu: URL_API, accessToken: token, nonce: proofs.nonce()! });
    expect((await post(token, once)).status).toBe(200);
    const replayed = await post(token, once);
    expect([replayed.status, challengeOf(replayed)]).toEqual([401, 'DPoP error="invalid_dpop_proof", algs="ES256"']);
  });

  it('a token bound to another key than the proof\'s: invalid_token (RFC 9449 §7.1 "Invalid DPoP key binding"), without a retry', async () => {
    const token = await boundToken(issuer, key);
    const other = await dpopKey();
    const r = await client(token, other);
    expect([r.status, r.requests, challengeOf(r.answers[0]!)]).toEqual([401, 1, 'DPoP error="invalid_token", algs="ES256"']);
    // Control: the same token with its own key's proof (and the nonce challenge first).
    expect(await client(token, key).then((c) => [c.status, c.requests])).toEqual([200, 2]);
  });

  it('no token, a refused token, an unbound token: invalid_token (1 round trip)', async () => {
    const good = await proof(key, { htu: URL_API, nonce: proofs.nonce()! });
    const none = await post(undefined, good);
    expect([none.status, challengeOf(none)]).toEqual([401, 'DPoP error="invalid_token", algs="ES256"']);
    const expired = await boundToken(issuer, key, { exp: Math.floor(Date.now() / 1000) - 3600 });
    const r = await client(expired, key, proofs.nonce());
    expect([r.status, r.requests, challengeOf(r.answers[0]!)]).toEqual([401, 1, 'DPoP error="invalid_token", algs="ES256"']);
    const unbound = await issuer.token();
    const u = await client(unbound, key, proofs.nonce());
    expect([u.status, u.requests, challengeOf(u.answers[0]!)]).toEqual([401, 1, 'DPoP error="invalid_token", algs="ES256"']);
  });

  it('no answer carries the token, the proof or the reason', async () => {
    const token = await boundToken(issuer, key);
    const other = await dpopKey();
    const p = await proof(other, { htu: URL_API, accessToken: token });
    const res = await post(token, p);
    const headers = [...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n');
    expect(res.status).toBe(401);
    for (const part of [...token.split('.'), ...p.split('.')]) expect(headers).not.toContain(part);
    expect(headers).not.toMatch(/bound key|thumbprint|cnf/i);
    expect(await res.text()).toBe('');
  });
});

describe('authRefusal: the refusal it reads', () => {
  it('the refusal itself says which one it is (challenge), and the nonce to send', async () => {
    const refused = await proofs.verify({ proof: await proof(key, { htu: URL_API }), method: 'POST', url: URL_API }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TokumeiError);
    expect((refused as TokumeiError).challenge).toEqual({ error: 'use_dpop_nonce', nonce: proofs.nonce() });
    expect(authRefusal(refused)).toEqual({ status: 401, challenge: { error: 'use_dpop_nonce', nonce: proofs.nonce() }, headers: { 'WWW-Authenticate': 'DPoP error="use_dpop_nonce", algs="ES256"', 'DPoP-Nonce': proofs.nonce() } });
    const bad = await proofs.verify({ proof: 'a.b.c', method: 'POST', url: URL_API }).catch((e: unknown) => e);
    expect((bad as TokumeiError).challenge).toEqual({ error: 'invalid_dpop_proof' });
  });

  it('bearer: both schemes, the token error on Bearer\'s (RFC 9449 §7.2); algorithms named', () => {
    const tokenError = new TokumeiError('ERR_AUTH', 'refused'); // an authenticate of one's own
    expect(authRefusal(tokenError, { bearer: true })?.headers).toEqual({ 'WWW-Authenticate': 'Bearer error="invalid_token", DPoP algs="ES256"' });
    expect(authRefusal(tokenError, { algorithms: ['ES256', 'EdDSA'] })?.headers).toEqual({ 'WWW-Authenticate': 'DPoP error="invalid_token", algs="ES256 EdDSA"' });
  });

  it('anything but a refused credential is not a 401: undefined (rethrow it)', () => {
    for (const err of [new Error('db down'), new TokumeiError('ERR_FORMAT', 'x'), new TypeError('bug'), undefined, 'ERR_AUTH']) expect(authRefusal(err)).toBeUndefined();
  });

  it('a challenge that is not one of the three, or a nonce that cannot be a header, is invalid_token', () => {
    const forged = (challenge: unknown) => Object.assign(new TokumeiError('ERR_AUTH', 'x'), { challenge });
    expect(authRefusal(forged({ error: 'use_dpop_nonce', nonce: 'a\r\nSet-Cookie: x=1' }))?.challenge).toEqual({ error: 'invalid_token' });
    expect(authRefusal(forged({ error: 'insufficient_scope' }))?.challenge).toEqual({ error: 'invalid_token' });
    expect(authRefusal(forged({ error: 'use_dpop_nonce', nonce: 'abc' }))?.headers['DPoP-Nonce']).toBe('abc'); // control
  });

  it('malformed options: TypeError', () => {
    const err = new TokumeiError('ERR_AUTH', 'x');
    expect(() => authRefusal(err, null as never)).toThrow(TypeError);
    expect(() => authRefusal(err, { algorithms: [] })).toThrow(TypeError);
    expect(() => authRefusal(err, { algorithms: ['ES256", x="'] })).toThrow(TypeError);
    expect(() => authRefusal(err, { bearer: 'yes' as never })).toThrow(TypeError);
  });
});
