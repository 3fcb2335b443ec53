// DPoP proofs (RFC 9449 §4.2) signed in the browser with WebCrypto: ES256 with the app's
// non-extractable P-256 key pair, a fresh `jti` for every request. A few lines on purpose — no
// JOSE library in the browser bundle. WebCrypto's ECDSA signature is already the JWS form
// (r ‖ s, 64 bytes).
import { randomBytes, toBase64url, utf8 } from '../internal/bytes.ts';

const b64json = (value: object): string => toBase64url(utf8(JSON.stringify(value)));

/**
 * Checks that `pair` is an ECDSA P-256 key pair whose private key cannot be exported.
 * @throws TypeError naming `dpopKey`
 */
export function checkDpopKey(pair: unknown): asserts pair is CryptoKeyPair {
  const k = (pair as Partial<CryptoKeyPair>).privateKey;
  if (k?.extractable !== false || k.algorithm.name + (k.algorithm as EcKeyAlgorithm).namedCurve !== 'ECDSAP-256') {
    throw new TypeError('"dpopKey" expected a non-extractable ECDSA P-256 key pair');
  }
}

/**
 * Signs a proof for one POST request.
 * @param htu - the absolute URL, without query or fragment
 * @param accessToken - the token sent with the proof (its hash becomes `ath`)
 */
export async function dpopProof(pair: CryptoKeyPair, htu: string, nonce: string | undefined, accessToken: string | undefined): Promise<string> {
  const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey);
  const claims = {
    jti: toBase64url(randomBytes(16)),
    htm: 'POST',
    htu,
    iat: Math.floor(Date.now() / 1000),
    nonce,
    ath: accessToken && toBase64url(new Uint8Array(await crypto.subtle.digest('SHA-256', utf8(accessToken)))),
  };
  // JSON.stringify leaves out the undefined members.
  const input = `${b64json({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } })}.${b64json(claims)}`;
  return `${input}.${toBase64url(new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, utf8(input))))}`;
}
