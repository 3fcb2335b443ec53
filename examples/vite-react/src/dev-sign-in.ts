// DEVELOPMENT SIGN-IN — REPLACE WITH YOUR SSO CLIENT. Gets an access token for the key
// environment from the example's stand-in (server/dev-sso.mjs), bound to this tab's DPoP key.
// Your OIDC client does this for real (authorization code + PKCE, DPoP-bound tokens): give
// httpKeyProvider its access token (`getToken`) and the DPoP key pair it binds it to (`dpopKey`).

/**
 * The tab's DPoP key pair (RFC 9449): ECDSA P-256, the private key non-extractable, so that a
 * script can sign with it but never read it. httpKeyProvider signs every key-environment request
 * with it; the access token is bound to it.
 */
export const dpopKey: CryptoKeyPair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);

const b64url = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const b64json = (value: object): string => b64url(new TextEncoder().encode(JSON.stringify(value)));

/** A DPoP proof (RFC 9449 §4.2) for `POST url`, signed with `dpopKey`. */
async function proof(url: string): Promise<string> {
  const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', dpopKey.publicKey);
  const claims = { jti: crypto.randomUUID(), htm: 'POST', htu: url, iat: Math.floor(Date.now() / 1000) };
  const input = `${b64json({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } })}.${b64json(claims)}`;
  const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, dpopKey.privateKey, new TextEncoder().encode(input));
  return `${input}.${b64url(new Uint8Array(signature))}`;
}

/** A fresh access token for the key environment, bound to `dpopKey` (one opens one session). */
export async function getToken(): Promise<string> {
  const url = new URL('/dev-sso/token', location.href).href;
  const res = await fetch(url, { method: 'POST', headers: { DPoP: await proof(url) }, cache: 'no-store' });
  if (!res.ok) throw new Error(`development sign-in: HTTP ${res.status}`);
  return ((await res.json()) as { access_token: string }).access_token;
}
