// DPoP proof verification (RFC 9449 §4.3, §8, §11.1): every check refuses the one thing it is
// about, next to an accepted control that differs only in that thing.
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { dpopVerifier, type DpopProofRequest } from '../../../src/server/auth/dpop.ts';
import { ath, dpopKey, proof, reasonOf, URL_DELIVER, type DpopKey } from './helpers.ts';

const secret = new Uint8Array(32).fill(7);

async function setup(nonces = false) {
  const key = await dpopKey();
  const verifier = dpopVerifier({ nonces, nonceSecret: secret });
  const request = (p: string, extra: Partial<DpopProofRequest> = {}): DpopProofRequest => ({ proof: p, method: 'POST', url: URL_DELIVER, ...extra });
  return { key, verifier, request };
}

/** Verifies `bad` (expecting a refusal whose reason matches) and a control (expecting acceptance). */
async function refusedBeside(verify: (p: string) => Promise<unknown>, bad: string, control: string, reason: RegExp): Promise<void> {
  expect(await reasonOf(verify(bad))).toMatch(reason);
  expect(await reasonOf(verify(control))).toBe('resolved');
}

describe('dpopVerifier: the proof itself', () => {
  it('accepts a well-formed ES256 proof and reports its key thumbprint (RFC 7638)', async () => {
    const { key, verifier, request } = await setup();
    const p = await proof(key);
    const result = await verifier.verify(request(p));
    expect(result.thumbprint).toBe(key.thumbprint);
    expect(result.jti).toMatch(/.+/);
  });

  it('refuses no proof, two proofs and a proof that is not one compact JWS', async () => {
    const { key, verifier, request } = await setup();
    const v = (p: string | undefined) => verifier.verify(request(p as string));
    expect(await reasonOf(v(undefined))).toMatch(/no DPoP proof/);
    expect(await reasonOf(v(''))).toMatch(/no DPoP proof/);
    const [a, b] = [await proof(key), await proof(key)];
    await refusedBeside(v, `${a}, ${b}`, a, /not one compact JWS/);
    await refusedBeside(v, `${b.split('.').slice(0, 2).join('.')}.`, b, /not one compact JWS/);
  });

  it('refuses a typ other than dpop+jwt, and none at all', async () => {
    const { key, verifier, request } = await setup();
    const v = (p: string) => verifier.verify(request(p));
    await refusedBeside(v, await proof(key, { typ: 'JWT' }), await proof(key), /typ/);
    await refusedBeside(v, await proof(key, { typ: null }), await proof(key), /typ/);
    await refusedBeside(v, await proof(key, { typ: 'application/dpop+jwt' }), await proof(key), /typ/);
  });

  it('refuses alg none, HMAC, and an asymmetric algorithm not allowed', async () => {
    const { key, verifier, request } = await setup();
    const v = (p: string) => verifier.verify(request(p));
    const good = await proof(key);
    const [, payload] = good.split('.');
    const none = `${Buffer.from(JSON.stringify({ typ: 'dpop+jwt', alg: 'none', jwk: key.jwk })).toString('base64url')}.${payload}.AA`;
    await refusedBeside(v, none, good, /alg not allowed/);
    const hmacKey = crypto.getRandomValues(new Uint8Array(32));
    const hs = await new SignJWT({ htm: 'POST', htu: URL_DELIVER, iat: Math.floor(Date.now() / 1000), jti: 'x1' })
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'HS256', jwk: { kty: 'oct', k: Buffer.from(hmacKey).toString('base64url') } } as never)
      .sign(hmacKey);
    await refusedBeside(v, hs, await proof(key), /alg not allowed/);
    const es384 = await dpopKey('ES384');
    await refusedBeside(v, await proof(es384, { alg: 'ES384' }), await proof(key), /alg not allowed/);
    // …and accepted where allowed.
    const wide = dpopVerifier({ nonces: false, algorithms: ['ES256', 'ES384'] });
    expect(await reasonOf(wide.verify(request(await proof(es384, { alg: 'ES384' }))))).toBe('resolved');
  });

  it('refuses a missing jwk, a private jwk, and a signature by another key than the jwk', async () => {
    const { key, verifier, request } = await setup();
    const v = (p: string) => verifier.verify(request(p));
    await refusedBeside(v, await proof(key, { jwk: null }), await proof(key), /no jwk/);
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    expect(privateJwk.d).toBeDefined();
    await refusedBeside(v, await proof(key, { jwk: privateJwk, signWith: privateKey }), await proof(key), /not a public key/);
    const other = await dpopKey();
    // Signed by `other`, but the header names `key`'s public key.
    await refusedBeside(v, await proof(key, { signWith: other.privateKey }), await proof(key), /signature/);
  });

  it('refuses htm and htu of another request; ignores query and fragment; normalizes scheme, host and port', async () => {
    const { key, verifier, request } = await setup();
    const v = (p: string) => verifier.verify(request(p));
    await refusedBeside(v, await proof(key, { htm: 'GET' }), await proof(key), /htm/);
    await refusedBeside(v, await proof(key, { htm: null }), await proof(key), /htm/);
    for (const htu of ['https://keys.example/session/status', 'https://data.example/session', 'http://keys.example/session', 'https://keys.example:8443/session', 'not a url']) {
      await refusedBeside(v, await proof(key, { htu }), await proof(key), /htu/);
    }
    await refusedBeside(v, await proof(key, { htu: null }), await proof(key), /htu/);
    for (const htu of ['https://keys.example/session?x=1', 'https://keys.example/session#f', 'HTTPS://Keys.Example:443/session']) {
      expect(await reasonOf(v(await proof(key, { htu })))).toBe('resolved');
    }
  });

  it('refuses an iat too old or too far ahead, and none', async () => {
    const { key, verifier, request } = await setup();
    const v = (p: string) => verifier.verify(request(p));
    const now = Math.floor(Date.now() / 1000);
    await refusedBeside(v, await proof(key, { iat: now - 301 }), await proof(key, { iat: now - 290 }), /iat/);
    await refusedBeside(v, await proof(key, { iat: now + 301 }), await proof(key, { iat: now + 290 }), /iat/);
    await refusedBeside(v, await proof(key, { iat: null }), await proof(key), /iat/);
  });

  it('checks ath against the access token, and refuses ath without a token', async () => {
    const { key, verifier, request } = await setup();
    const token = 'access-token-1';
    const withToken = (p: string) => verifier.verify(request(p, { accessToken: token }));
    await refusedBeside(withToken, await proof(key), await proof(key, { accessToken: token }), /ath/);
    await refusedBeside(withToken, await proof(key, { accessToken: 'another-token' }), await proof(key, { accessToken: token }), /ath/);
    expect(ath(token)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await refusedBeside((p) => verifier.verify(request(p)), await proof(key, { accessToken: token }), await proof(key), /ath/);
  });

  it('refuses a proof by another key than the expected thumbprint', async () => {
    const { key, verifier, request } = await setup();
    const other = await dpopKey();
    const v = (p: string) => verifier.verify(request(p, { thumbprint: key.thumbprint }));
    await refusedBeside(v, await proof(other), await proof(key), /bound key/);
  });

  it('uses each jti once per key (a replayed proof is refused; the same jti from another key is not a replay)', async () => {
    const { key, verifier, request } = await setup();
    const p = await proof(key, { jti: 'jti-1' });
    expect(await reasonOf(verifier.verify(request(p)))).toBe('resolved');
    expect(await reasonOf(verifier.verify(request(p)))).toMatch(/replayed/);
    expect(await reasonOf(verifier.verify(request(await proof(key, { jti: 'jti-1' }))))).toMatch(/replayed/);
    const other: DpopKey = await dpopKey();
    expect(await reasonOf(verifier.verify(request(await proof(other, { jti: 'jti-1' }))))).toBe('resolved');
    // A refused proof does not use up its jti: the same proof, sent where it fits, is accepted.
    const later = await proof(key, { jti: 'jti-2' });
    expect(await reasonOf(verifier.verify(request(later, { url: 'https://keys.example/elsewhere' })))).toMatch(/htu/);
    expect(await reasonOf(verifier.verify(request(later)))).toBe('resolved');
  });
});

describe('dpopVerifier: server nonces (RFC 9449 §8)', () => {
  it('without a nonce, or with a made-up one: use_dpop_nonce and the current nonce; with it: accepted', async () => {
    const { key, verifier, request } = await setup(true);
    const n = verifier.nonce()!;
    expect(n).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const refusal = await verifier.verify(request(await proof(key))).catch((e: unknown) => e);
    expect((refusal as { code: string }).code).toBe('ERR_AUTH');
    expect((refusal as { challenge: unknown }).challenge).toEqual({ error: 'use_dpop_nonce', nonce: n });
    expect(await reasonOf(verifier.verify(request(await proof(key, { nonce: 'AAAAAAAAAAAAAAAAAAAAAA' }))))).toMatch(/nonce/);
    expect(await reasonOf(verifier.verify(request(await proof(key, { nonce: n }))))).toBe('resolved');
  });

  it('instances that share the secret accept each other’s nonces; another secret does not', async () => {
    const key = await dpopKey();
    const a = dpopVerifier({ nonceSecret: secret });
    const b = dpopVerifier({ nonceSecret: secret });
    const c = dpopVerifier({ nonceSecret: new Uint8Array(32).fill(8) });
    const req = async (n: string) => ({ proof: await proof(key, { nonce: n }), method: 'POST', url: URL_DELIVER });
    expect(a.nonce()).toBe(b.nonce());
    expect(await reasonOf(b.verify(await req(a.nonce()!)))).toBe('resolved');
    expect(await reasonOf(c.verify(await req(a.nonce()!)))).toMatch(/nonce/);
  });

  it('a nonce stays valid through the next window and no longer', async () => {
    const key = await dpopKey();
    let now = 1_767_225_600_000;
    const v = dpopVerifier({ nonceSecret: secret, nonceWindowSeconds: 60, now: () => now });
    const n = v.nonce()!;
    const at = async (t: number) => {
      now = t;
      return reasonOf(v.verify({ proof: await proof(key, { nonce: n, iat: Math.floor(t / 1000) }), method: 'POST', url: URL_DELIVER }));
    };
    const start = 1_767_225_600_000; // a window boundary
    expect(await at(start + 119_999)).toBe('resolved');
    expect(v.nonce()).not.toBe(n); // a new one is issued in the next window
    expect(await at(start + 120_000)).toMatch(/nonce/);
  });

  it('options: symmetric or empty algorithm lists and short secrets are programming errors', () => {
    expect(() => dpopVerifier({ algorithms: ['HS256' as never] })).toThrow(RangeError);
    expect(() => dpopVerifier({ algorithms: [] })).toThrow(RangeError);
    expect(() => dpopVerifier({ nonceSecret: new Uint8Array(16) })).toThrow(RangeError);
  });
});
