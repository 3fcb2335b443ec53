// Test helpers for credentials: DPoP key pairs and proofs signed with jose (so tests can also
// make every malformed variant), an issuer that signs access tokens with its own key (served as
// a JWK Set), and a key environment that requires DPoP and verifies tokens with
// oidcAuthenticator. Nothing here is a mock of what is under test: proofs and tokens are real
// JWS, checked by the real verifier.
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import { createHash, randomUUID } from 'node:crypto';
import { createKeyEnvironment, type KeyEnvironment, type KeyEnvironmentOptions } from '../../../src/server/key-environment.ts';
import { oidcAuthenticator, type OidcAuthenticatorOptions } from '../../../src/server/auth/oidc.ts';
import { localMasterKey } from '../../../src/server/master-keys/local.ts';
import { memoryKeyStore } from '../../../src/server/stores/memory-store.ts';

export const ISSUER = 'https://sso.example';
export const KEY_ENV_AUDIENCE = 'https://keys.example';
export const DATA_ENV_AUDIENCE = 'https://data.example';
export const URL_DELIVER = 'https://keys.example/session';

/** A DPoP key pair: the private key (jose signs with it), its public JWK and thumbprint. */
export interface DpopKey {
  privateKey: CryptoKey;
  jwk: JWK;
  thumbprint: string;
}

export async function dpopKey(alg: 'ES256' | 'ES384' | 'EdDSA' = 'ES256'): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwk, thumbprint: await calculateJwkThumbprint(jwk) };
}

export const ath = (token: string): string => createHash('sha256').update(token).digest('base64url');

/** What a proof says; every field can be changed or removed (`null`) to make a bad proof. */
export interface ProofSpec {
  htm?: string | null;
  htu?: string | null;
  iat?: number | null;
  jti?: string | null;
  nonce?: string | null;
  accessToken?: string;
  ath?: string | null;
  typ?: string | null;
  alg?: string;
  jwk?: JWK | null;
  /** Sign with this key instead of the pair's own (the header still carries the pair's jwk). */
  signWith?: CryptoKey;
}

export async function proof(key: DpopKey, spec: ProofSpec = {}): Promise<string> {
  const payload: JWTPayload = {};
  const set = (name: string, value: unknown, fallback: unknown): void => {
    const v = value === undefined ? fallback : value;
    if (v !== null && v !== undefined) payload[name] = v;
  };
  set('htm', spec.htm, 'POST');
  set('htu', spec.htu, URL_DELIVER);
  set('iat', spec.iat, Math.floor(Date.now() / 1000));
  set('jti', spec.jti, randomUUID());
  set('nonce', spec.nonce, undefined);
  set('ath', spec.ath, spec.accessToken === undefined ? undefined : ath(spec.accessToken));
  const header: Record<string, unknown> = { alg: spec.alg ?? 'ES256' };
  if (spec.typ !== null) header.typ = spec.typ ?? 'dpop+jwt';
  if (spec.jwk !== null) header.jwk = spec.jwk ?? key.jwk;
  return new SignJWT(payload).setProtectedHeader(header as never).sign(spec.signWith ?? key.privateKey);
}

/** An OpenID Provider's signing key and the tokens it issues (RFC 9068 JWT access tokens). */
export interface TestIssuer {
  jwks: { keys: JWK[] };
  kid: string;
  token(claims?: Record<string, unknown> & { typ?: string | null; kid?: string }): Promise<string>;
}

export async function testIssuer(kid = 'k1'): Promise<TestIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  return {
    jwks: { keys: [jwk] },
    kid,
    async token(claims = {}) {
      const { typ = 'at+jwt', kid: k = kid, ...rest } = claims;
      const now = Math.floor(Date.now() / 1000);
      const payload: Record<string, unknown> = { iss: ISSUER, aud: KEY_ENV_AUDIENCE, sub: 'M000001', iat: now, exp: now + 300, jti: randomUUID(), client_id: 'portal', ...rest };
      for (const [name, value] of Object.entries(payload)) if (value === null) delete payload[name];
      return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: k, ...(typ === null ? {} : { typ }) }).sign(privateKey);
    },
  };
}

/** A token bound to `key` (cnf.jkt), for the key environment, for M000001 unless told otherwise. */
export function boundToken(issuer: TestIssuer, key: DpopKey, claims: Record<string, unknown> = {}): Promise<string> {
  return issuer.token({ cnf: { jkt: key.thumbprint }, ...claims });
}

/** A key environment that requires DPoP (nonces on) and verifies tokens from `issuer`. */
export async function dpopKeyEnvironment(
  issuer: TestIssuer,
  extra: Partial<KeyEnvironmentOptions> = {},
  oidc: Partial<OidcAuthenticatorOptions> = {},
): Promise<KeyEnvironment> {
  const env = createKeyEnvironment({
    masterKey: localMasterKey(crypto.getRandomValues(new Uint8Array(32))),
    store: memoryKeyStore(),
    authenticate: oidcAuthenticator({ issuer: ISSUER, audience: KEY_ENV_AUDIENCE, jwks: issuer.jwks, ...oidc }),
    ...extra,
  });
  for (const m of ['M000001', 'M000002']) await env.createMemberKey(m);
  return env;
}

/** A fresh recipient public key for a delivery body (what the browser would send). */
export async function publicKey(): Promise<string> {
  const pair = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
  return Buffer.from(await crypto.subtle.exportKey('raw', pair.publicKey)).toString('base64url');
}

/** The body of a delivery (or, with `sessionId`, a resume). */
export async function deliveryBody(sessionId?: string): Promise<Record<string, unknown>> {
  return { protocol: 'tokumei-key-delivery/1', kem: 'P-256', publicKey: await publicKey(), ...(sessionId === undefined ? {} : { sessionId }) };
}

/** The reason a refusal gives to the server's logs (its cause's message). */
export async function reasonOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause;
    return `${(err as { code?: string }).code}: ${cause?.message ?? ''}`;
  }
  return 'resolved';
}
