// The browser's DPoP signer (a few lines of WebCrypto) against the key environment's verifier
// (jose): every proof it makes verifies, carries what RFC 9449 §4.2 asks, and a fresh jti; a key
// pair that is extractable, of another curve or algorithm is refused up front.
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { checkDpopKey, dpopProof } from '../../src/delivery/dpop.ts';
import { dpopVerifier } from '../../src/server/auth/dpop.ts';

const HTU = 'https://keys.example/session';
const ecdsa = (extractable = false) => crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, extractable, ['sign', 'verify']);

describe('dpopProof (WebCrypto ES256)', () => {
  it('makes proofs the server verifies: typ, alg, public jwk, htm, htu, iat, jti, nonce, ath', async () => {
    const key = await ecdsa();
    const verifier = dpopVerifier({ nonces: false });
    const token = 'eyJhbGciOiJFUzI1NiJ9.e30.sig';
    const p = await dpopProof(key, HTU, 'nonce-1', token);
    const header = decodeProtectedHeader(p);
    expect(header).toEqual({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256', x: expect.any(String), y: expect.any(String) } });
    const claims = decodeJwt(p);
    expect(Object.keys(claims).sort()).toEqual(['ath', 'htm', 'htu', 'iat', 'jti', 'nonce']);
    expect(claims).toMatchObject({ htm: 'POST', htu: HTU, nonce: 'nonce-1' });
    expect(Math.abs((claims.iat as number) - Date.now() / 1000)).toBeLessThan(5);
    expect(claims.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(Buffer.from(p.split('.')[2]!, 'base64url')).toHaveLength(64); // r ‖ s, the JWS form
    const verified = await verifier.verify({ proof: p, method: 'POST', url: HTU, accessToken: token });
    expect(verified.jti).toBe(claims.jti);
    // Without a token or nonce those claims are left out, and it still verifies.
    const bare = await dpopProof(key, HTU, undefined, undefined);
    expect(Object.keys(decodeJwt(bare)).sort()).toEqual(['htm', 'htu', 'iat', 'jti']);
    expect((await verifier.verify({ proof: bare, method: 'POST', url: HTU })).thumbprint).toBe(verified.thumbprint);
  });

  it('a fresh jti every time; the same key gives the same thumbprint', async () => {
    const key = await ecdsa();
    const verifier = dpopVerifier({ nonces: false });
    const jtis = new Set<string>();
    const thumbprints = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const p = await dpopProof(key, HTU, undefined, undefined);
      jtis.add(decodeJwt(p).jti as string);
      thumbprints.add((await verifier.verify({ proof: p, method: 'POST', url: HTU })).thumbprint);
    }
    expect(jtis.size).toBe(20);
    expect(thumbprints.size).toBe(1);
  });

  it('checkDpopKey: refuses an extractable private key, another curve, another algorithm, not a key pair', async () => {
    expect(() => checkDpopKey(undefined)).toThrow(TypeError);
    expect(() => checkDpopKey({})).toThrow(TypeError);
    const good = await ecdsa();
    expect(() => checkDpopKey(good)).not.toThrow();
    const extractable = await ecdsa(true);
    expect(() => checkDpopKey(extractable)).toThrow(/non-extractable/);
    const p384 = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, false, ['sign', 'verify']);
    expect(() => checkDpopKey(p384)).toThrow(TypeError);
    const ecdh = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
    expect(() => checkDpopKey(ecdh)).toThrow(TypeError);
  });
});
