// oidcAuthenticator: each claim check refuses the token that breaks it, beside the token that
// keeps it; the JWKS is fetched, cached, refetched on an unknown kid at most once per cooldown;
// an issuer that cannot be reached is an internal error, not a refusal.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { oidcAuthenticator, type OidcAuthenticatorOptions } from '../../../src/server/auth/oidc.ts';
import type { Credential } from '../../../src/server/auth/credential.ts';
import { ISSUER, KEY_ENV_AUDIENCE, DATA_ENV_AUDIENCE, reasonOf, testIssuer, type TestIssuer } from './helpers.ts';

const cred = (token: string): Credential => ({ token, scheme: 'DPoP', method: 'POST', url: 'https://keys.example/session' });
const JKT = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';

function auth(issuer: TestIssuer, extra: Partial<OidcAuthenticatorOptions> = {}) {
  return oidcAuthenticator({ issuer: ISSUER, audience: KEY_ENV_AUDIENCE, jwks: issuer.jwks, ...extra });
}

async function refusedBeside(a: ReturnType<typeof auth>, bad: string, good: string, reason = /does not verify/): Promise<void> {
  expect(await reasonOf(a(cred(bad)))).toMatch(reason);
  expect(await reasonOf(a(cred(good)))).toBe('resolved');
}

describe('oidcAuthenticator: claims', () => {
  it('returns the member, the token expiry, its jti and its cnf.jkt', async () => {
    const issuer = await testIssuer();
    const token = await issuer.token({ cnf: { jkt: JKT }, jti: 'tok-1' });
    const who = await auth(issuer)(cred(token));
    expect(who).toMatchObject({ memberId: 'M000001', tokenId: 'tok-1', keyThumbprint: JKT });
    expect(who.expiresAt).toBeGreaterThan(Date.now());
  });

  it('refuses another issuer, another audience (the data environment’s), and a token with no audience', async () => {
    const issuer = await testIssuer();
    const a = auth(issuer);
    const good = await issuer.token({ cnf: { jkt: JKT } });
    await refusedBeside(a, await issuer.token({ cnf: { jkt: JKT }, iss: 'https://evil.example' }), good);
    await refusedBeside(a, await issuer.token({ cnf: { jkt: JKT }, aud: DATA_ENV_AUDIENCE }), good);
    await refusedBeside(a, await issuer.token({ cnf: { jkt: JKT }, aud: null }), good);
    // One of several audiences is enough.
    expect(await reasonOf(a(cred(await issuer.token({ cnf: { jkt: JKT }, aud: [DATA_ENV_AUDIENCE, KEY_ENV_AUDIENCE] }))))).toBe('resolved');
  });

  it('refuses an expired token and one not yet valid, beyond the clock tolerance only', async () => {
    const issuer = await testIssuer();
    const a = auth(issuer, { clockToleranceSeconds: 10 });
    const now = Math.floor(Date.now() / 1000);
    await refusedBeside(a, await issuer.token({ cnf: { jkt: JKT }, exp: now - 11 }), await issuer.token({ cnf: { jkt: JKT }, exp: now - 5 }));
    await refusedBeside(a, await issuer.token({ cnf: { jkt: JKT }, nbf: now + 15 }), await issuer.token({ cnf: { jkt: JKT }, nbf: now + 5 }));
    await refusedBeside(a, await issuer.token({ cnf: { jkt: JKT }, exp: null }), await issuer.token({ cnf: { jkt: JKT } }));
  });

  it('refuses an ID token (typ JWT) or an untyped token as an access token, unless the issuer sets no typ (typ: null)', async () => {
    const issuer = await testIssuer();
    const good = await issuer.token({ cnf: { jkt: JKT } });
    await refusedBeside(auth(issuer), await issuer.token({ cnf: { jkt: JKT }, typ: 'JWT' }), good);
    await refusedBeside(auth(issuer), await issuer.token({ cnf: { jkt: JKT }, typ: null }), good);
    expect(await reasonOf(auth(issuer)(cred(await issuer.token({ cnf: { jkt: JKT }, typ: 'application/at+jwt' }))))).toBe('resolved');
    expect(await reasonOf(auth(issuer, { typ: null })(cred(await issuer.token({ cnf: { jkt: JKT }, typ: null }))))).toBe('resolved');
  });

  it('refuses a signature by another key, an unknown kid, and alg none / HS256 made with the public key', async () => {
    const issuer = await testIssuer();
    const a = auth(issuer);
    const good = await issuer.token({ cnf: { jkt: JKT } });
    const impostor = await testIssuer(issuer.kid); // same kid, another key
    await refusedBeside(a, await impostor.token({ cnf: { jkt: JKT } }), good);
    await refusedBeside(a, await issuer.token({ cnf: { jkt: JKT }, kid: 'k-unknown' }), good);
    const [, payload] = good.split('.');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url')}.${payload}.`;
    await refusedBeside(a, none, good);
    const confused = await new SignJWT({ iss: ISSUER, aud: KEY_ENV_AUDIENCE, sub: 'M000001', exp: Math.floor(Date.now() / 1000) + 60, cnf: { jkt: JKT } })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: issuer.kid })
      .sign(new TextEncoder().encode(JSON.stringify(issuer.jwks.keys[0])));
    await refusedBeside(a, confused, good);
  });

  it('refuses a token that is not DPoP-bound (requireDpop, the default), a missing member claim, another client', async () => {
    const issuer = await testIssuer();
    const good = await issuer.token({ cnf: { jkt: JKT } });
    await refusedBeside(auth(issuer), await issuer.token(), good, /not DPoP-bound/);
    expect(await reasonOf(auth(issuer, { requireDpop: false })(cred(await issuer.token())))).toBe('resolved');
    await refusedBeside(auth(issuer), await issuer.token({ cnf: { jkt: JKT }, sub: null }), good);
    await refusedBeside(auth(issuer, { memberClaim: 'member_id' }), await issuer.token({ cnf: { jkt: JKT } }), await issuer.token({ cnf: { jkt: JKT }, member_id: 'M000001' }));
    await refusedBeside(auth(issuer, { clientIds: ['portal'] }), await issuer.token({ cnf: { jkt: JKT }, client_id: 'other' }), good, /another client/);
  });

  it('dependants come from the claims', async () => {
    const issuer = await testIssuer();
    const a = auth(issuer, { dependants: (claims) => (claims.dependants as string[] | undefined) ?? [] });
    expect((await a(cred(await issuer.token({ cnf: { jkt: JKT }, dependants: ['M000002'] })))).dependants).toEqual(['M000002']);
  });

  it('options: symmetric algorithms, an empty audience, a bad typ are programming errors', () => {
    expect(() => oidcAuthenticator({ issuer: ISSUER, audience: KEY_ENV_AUDIENCE, algorithms: ['HS256'] })).toThrow(RangeError);
    expect(() => oidcAuthenticator({ issuer: ISSUER, audience: [] })).toThrow(TypeError);
    expect(() => oidcAuthenticator({ issuer: '', audience: KEY_ENV_AUDIENCE })).toThrow(RangeError);
  });
});

describe('oidcAuthenticator: the issuer’s JWKS over HTTP', () => {
  const servers: Server[] = [];
  afterAll(async () => {
    for (const s of servers) await new Promise<void>((resolve) => s.close(() => resolve()));
  });

  /** An issuer's endpoints: discovery and JWKS, counting JWKS fetches; keys can be rotated. */
  async function serveIssuer(issuerId: (origin: string) => string = (o) => o) {
    let keys = (await testIssuer('k1')).jwks.keys;
    const state = { fetches: 0, keys, origin: '', down: false };
    const server = createServer((req, res) => {
      if (state.down) return void res.writeHead(503).end();
      if (req.url === '/.well-known/openid-configuration') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: issuerId(state.origin), jwks_uri: `${state.origin}/jwks` }));
      } else if (req.url === '/jwks') {
        state.fetches++;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: state.keys }));
      } else res.writeHead(404).end();
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    state.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { state, setKeys: (k: typeof keys) => ((keys = k), (state.keys = k)) };
  }

  it('discovers the jwks_uri, caches the keys, refetches on an unknown kid at most once per cooldown', async () => {
    // The clock jose reads for the cache and the cooldown is faked (Date only), so the test does
    // not depend on how fast a loaded machine runs; the requests are real.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const { state } = await serveIssuer();
      const k1 = await testIssuer('k1');
      state.keys = k1.jwks.keys;
      const a = oidcAuthenticator({ issuer: state.origin, audience: KEY_ENV_AUDIENCE, jwksCooldownMs: 30_000 });
      const tok = (i: TestIssuer) => i.token({ iss: state.origin, cnf: { jkt: JKT } });
      expect(await reasonOf(a(cred(await tok(k1))))).toBe('resolved');
      expect(await reasonOf(a(cred(await tok(k1))))).toBe('resolved');
      expect(state.fetches).toBe(1);
      // The issuer rotates to k2. Within the cooldown after a fetch an unknown kid is refused
      // without a refetch (a burst of made-up kids cannot hammer the issuer)…
      const k2 = await testIssuer('k2');
      state.keys = [...k1.jwks.keys, ...k2.jwks.keys];
      for (let i = 0; i < 5; i++) expect(await reasonOf(a(cred(await tok(k2))))).toMatch(/does not verify/);
      expect(state.fetches).toBe(1);
      // …after it, the first token under k2 makes one refetch, and then k2 is known.
      vi.advanceTimersByTime(30_001);
      expect(await reasonOf(a(cred(await tok(k2))))).toBe('resolved');
      expect(await reasonOf(a(cred(await tok(k2))))).toBe('resolved');
      expect(state.fetches).toBe(2);
      // A kid the issuer does not have: one refetch per cooldown at most, each refused.
      vi.advanceTimersByTime(30_001);
      const k3 = await testIssuer('k3');
      for (let i = 0; i < 5; i++) expect(await reasonOf(a(cred(await tok(k3))))).toMatch(/does not verify/);
      expect(state.fetches).toBe(3);
    } finally {
      vi.useRealTimers();
    }
  });

  it('an issuer whose discovery names another issuer, or that is down: internal error (not ERR_AUTH), retried later', async () => {
    const wrong = await serveIssuer(() => 'https://other.example');
    const a = oidcAuthenticator({ issuer: wrong.state.origin, audience: KEY_ENV_AUDIENCE });
    const k1 = await testIssuer('k1');
    const err = await a(cred(await k1.token({ iss: wrong.state.origin, cnf: { jkt: JKT } }))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as { code?: string }).code).toBeUndefined();
    expect(String(err)).toMatch(/another issuer/);

    const { state } = await serveIssuer();
    state.keys = k1.jwks.keys;
    state.down = true;
    const b = oidcAuthenticator({ issuer: state.origin, audience: KEY_ENV_AUDIENCE });
    const token = await k1.token({ iss: state.origin, cnf: { jkt: JKT } });
    expect((await b(cred(token)).catch((e: unknown) => e)) as { code?: string }).not.toHaveProperty('code', 'ERR_AUTH');
    state.down = false; // discovery is tried again on the next request
    expect(await reasonOf(b(cred(token)))).toBe('resolved');
  });
});
