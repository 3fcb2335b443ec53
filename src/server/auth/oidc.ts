// `oidcAuthenticator`: verifies the OpenID Provider's JWT access tokens (RFC 9068) with `jose`:
// the signature under the issuer's JWKS (cached; refetched on an unknown `kid`, at most once per
// cooldown), `iss`, `aud`, `exp`/`nbf` with a small clock tolerance, `typ`, the member claim,
// and the DPoP binding `cnf.jkt` (RFC 9449 §6) that the key environment checks against the proof.
import { createLocalJWKSet, createRemoteJWKSet, customFetch, errors, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { ainteger, astring } from '../../internal/bytes.ts';
import type { Authenticated, Credential } from './credential.ts';
import { tokenRefused } from './refusal.ts';

/** Options of {@link oidcAuthenticator}. */
export interface OidcAuthenticatorOptions {
  /** The issuer identifier, exactly as in the tokens' `iss` (and the discovery document). */
  issuer: string;
  /**
   * The key environment's own resource identifier(s): a token is accepted only when its `aud`
   * names one. Give the data environment another (RFC 8707 resource indicators), so no token the
   * data environment sees is ever accepted here.
   */
  audience: string | readonly string[];
  /**
   * Where the issuer's signing keys are: the `jwks_uri` (a URL), or a JWK Set object (keys
   * pinned in configuration). Default: the `jwks_uri` of the issuer's discovery document
   * (`{issuer}/.well-known/openid-configuration`, fetched once, its `issuer` checked).
   */
  jwks?: string | URL | JSONWebKeySet;
  /** Accepted signature algorithms. Default `['RS256', 'PS256', 'ES256', 'EdDSA']`; never `none` or HMAC. */
  algorithms?: readonly string[];
  /**
   * The token's required `typ` header. Default `'at+jwt'` (RFC 9068 access tokens; this keeps an
   * ID token from passing as an access token). `null` when the issuer sets no `typ`.
   */
  typ?: string | null;
  /** The claim that holds the member id. Default `'sub'`. */
  memberClaim?: string;
  /** The `client_id` values accepted (RFC 9068 §2.2). Default: any. */
  clientIds?: readonly string[];
  /** The members whose keys this member also gets (dependants), from the claims. Default none. */
  dependants?: (claims: JWTPayload, memberId: string) => readonly string[] | Promise<readonly string[]>;
  /** Accept only DPoP-bound tokens (`cnf.jkt`). Default `true`. */
  requireDpop?: boolean;
  /** Clock tolerance for `exp`, `nbf` and `iat`, in seconds. Default 10. */
  clockToleranceSeconds?: number;
  /** At most one JWKS refetch per this many ms when a token names an unknown `kid`. Default 30,000. */
  jwksCooldownMs?: number;
  /** Refetch the JWKS after this many ms in any case. Default 600,000. */
  jwksMaxAgeMs?: number;
  /** Deadline of each discovery or JWKS request in ms. Default 5,000. */
  timeoutMs?: number;
  /** The `fetch` for discovery and JWKS requests (tests, proxies). Default `globalThis.fetch`. */
  fetch?: typeof globalThis.fetch;
}

const DEFAULT_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'];
const SYMMETRIC = /^(HS\d+|none)$/i;
const MAX_ID_CHARS = 256;
type KeySource = Parameters<typeof jwtVerify>[1];

// jose errors that say the token is bad (a refusal, HTTP 401); anything else — the JWKS could
// not be fetched, or was malformed — is the key environment's problem (HTTP 500, retried).
const REFUSALS = [
  errors.JWTClaimValidationFailed,
  errors.JWTExpired,
  errors.JWTInvalid,
  errors.JWSInvalid,
  errors.JWSSignatureVerificationFailed,
  errors.JOSEAlgNotAllowed,
  errors.JOSENotSupported,
  errors.JWKSNoMatchingKey,
  errors.JWKSMultipleMatchingKeys,
];

async function discoverJwksUri(issuer: string, doFetch: typeof globalThis.fetch, timeoutMs: number): Promise<URL> {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  const res = await doFetch(url, { headers: { Accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
  if (!res.ok) throw new Error(`OpenID discovery: HTTP ${res.status} from ${url}`);
  const meta = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown } | null;
  // OpenID Connect Discovery §4.3: the document's issuer must be exactly the one configured.
  if (meta?.issuer !== issuer) throw new Error('OpenID discovery: the document names another issuer');
  if (typeof meta.jwks_uri !== 'string') throw new Error('OpenID discovery: no jwks_uri');
  return new URL(meta.jwks_uri);
}

/**
 * Verifies JWT access tokens from an OpenID Provider for the key environment, built on `jose`:
 * the signature with the issuer's keys (its JWKS, cached, refetched when a token names an
 * unknown `kid` — at most once per `jwksCooldownMs`), `iss`, `aud` (only tokens issued for the
 * key environment), `exp` and `nbf` with `clockToleranceSeconds`, `typ` (`at+jwt` by default),
 * `client_id` when configured, the member claim, and — by default required — the token's DPoP
 * binding `cnf.jkt`, which the key environment compares with the key of the request's DPoP
 * proof. The token's `jti` (when present) identifies it for single use.
 *
 * A bad token is a refusal (HTTP 401); an issuer or JWKS that cannot be reached is an internal
 * error (HTTP 500, so the browser retries).
 *
 * @param options - see {@link OidcAuthenticatorOptions}
 * @returns an `authenticate` for `createKeyEnvironment`
 * @throws TypeError / RangeError for malformed options
 * @example
 * ```ts
 * import { createKeyEnvironment, oidcAuthenticator } from 'tokumei/server';
 * const env = createKeyEnvironment({
 *   masterKey, store,
 *   authenticate: oidcAuthenticator({ issuer: 'https://sso.example', audience: 'https://keys.example' }),
 * });
 * ```
 */
export function oidcAuthenticator(options: OidcAuthenticatorOptions): (credential: Credential) => Promise<Authenticated> {
  if (typeof options !== 'object' || options === null) throw new TypeError(`"options" expected object, got ${options === null ? 'null' : typeof options}`);
  const { issuer, memberClaim = 'sub', requireDpop = true, typ = 'at+jwt' } = options;
  astring('issuer', issuer, true);
  const audience = typeof options.audience === 'string' ? [options.audience] : [...(options.audience ?? [])];
  if (audience.length === 0 || audience.some((a) => typeof a !== 'string' || a.length === 0)) throw new TypeError('"audience" expected a non-empty string or string[]');
  const algorithms = [...(options.algorithms ?? DEFAULT_ALGORITHMS)];
  if (algorithms.length === 0 || algorithms.some((a) => typeof a !== 'string' || SYMMETRIC.test(a))) throw new RangeError('"algorithms" expected asymmetric JWS algorithms');
  astring('memberClaim', memberClaim, true);
  if (typ !== null) astring('typ', typ, true);
  if (typeof requireDpop !== 'boolean') throw new TypeError(`"requireDpop" expected boolean, got ${typeof requireDpop}`);
  const tolerance = options.clockToleranceSeconds ?? 10;
  ainteger('clockToleranceSeconds', tolerance, 0, 300);
  const timeoutMs = options.timeoutMs ?? 5_000;
  ainteger('timeoutMs', timeoutMs, 1, 120_000);
  const clientIds = options.clientIds === undefined ? undefined : new Set(options.clientIds);
  const { dependants } = options;
  if (dependants !== undefined && typeof dependants !== 'function') throw new TypeError(`"dependants" expected function, got ${typeof dependants}`);
  const doFetch: typeof globalThis.fetch = (input, init) => (options.fetch ?? globalThis.fetch)(input, init);
  const remoteOptions = {
    cooldownDuration: options.jwksCooldownMs ?? 30_000,
    cacheMaxAge: options.jwksMaxAgeMs ?? 600_000,
    timeoutDuration: timeoutMs,
    [customFetch]: (url: string, init: RequestInit) => doFetch(url, init),
  };

  const { jwks } = options;
  let keys: Promise<KeySource> | undefined;
  if (typeof jwks === 'string' || jwks instanceof URL) keys = Promise.resolve(createRemoteJWKSet(new URL(jwks), remoteOptions));
  else if (typeof jwks === 'object' && jwks !== null) keys = Promise.resolve(createLocalJWKSet(jwks));
  else if (jwks !== undefined) throw new TypeError('"jwks" expected a URL or a JWK Set');
  // Discovered lazily (nothing happens at creation), once; a failed discovery is retried next time.
  const keySource = (): Promise<KeySource> =>
    (keys ??= discoverJwksUri(issuer, doFetch, timeoutMs).then(
      (uri) => createRemoteJWKSet(uri, remoteOptions),
      (err: unknown) => {
        keys = undefined;
        throw err;
      },
    ));

  return async ({ token }): Promise<Authenticated> => {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, await keySource(), {
        issuer,
        audience,
        algorithms,
        clockTolerance: tolerance,
        requiredClaims: ['exp', memberClaim],
        ...(typ === null ? {} : { typ }),
      }));
    } catch (err) {
      if (REFUSALS.some((E) => err instanceof E)) throw tokenRefused('the access token does not verify', err);
      throw err; // discovery or JWKS unreachable or malformed: internal
    }
    const memberId = payload[memberClaim];
    if (typeof memberId !== 'string' || memberId.length === 0 || memberId.length > MAX_ID_CHARS) throw tokenRefused('the member claim is missing or malformed');
    if (clientIds !== undefined && !clientIds.has(payload.client_id as string)) throw tokenRefused('the token was issued to another client');
    const cnf = payload.cnf as { jkt?: unknown } | undefined;
    const jkt = typeof cnf?.jkt === 'string' && cnf.jkt.length > 0 ? cnf.jkt : undefined;
    if (requireDpop && jkt === undefined) throw tokenRefused('the token is not DPoP-bound (no cnf.jkt)');
    const jti = typeof payload.jti === 'string' && payload.jti.length > 0 && payload.jti.length <= MAX_ID_CHARS ? payload.jti : undefined;
    return {
      memberId,
      expiresAt: payload.exp! * 1000,
      ...(jti === undefined ? {} : { tokenId: jti }),
      ...(jkt === undefined ? {} : { keyThumbprint: jkt }),
      ...(dependants === undefined ? {} : { dependants: await dependants(payload, memberId) }),
    };
  };
}
