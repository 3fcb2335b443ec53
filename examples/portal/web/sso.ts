// The portal's OpenID Connect client (panva's oauth4webapi): the authorization code flow with
// PKCE from the browser, DPoP-bound tokens, and one token per resource (RFC 8707) — an access
// token for the key environment and another for the data environment, which the key
// environment refuses. Tokens live only in this module's memory: never in localStorage,
// sessionStorage or a cookie. Only the sign-in round trip's PKCE verifier, state and nonce
// cross the redirect, in sessionStorage, and are removed when the member comes back.
import * as oauth from 'oauth4webapi';

/** Where the SSO is and what the portal asks it for; the portal's server puts it in the page. */
export interface SsoConfig {
  issuer: string;
  clientId: string;
  /** RFC 8707 resource indicators. */
  keyEnvironment: string;
  dataEnvironment: string;
}

/** Reads the SSO configuration from the page's `<meta name="sso-…">` tags. */
export function ssoConfig(): SsoConfig {
  const meta = (name: string): string => {
    const v = document.querySelector<HTMLMetaElement>(`meta[name="sso-${name}"]`)?.content;
    if (v === undefined || v === '') throw new Error(`the page has no sso-${name}`);
    return v;
  };
  return { issuer: meta('issuer'), clientId: meta('client-id'), keyEnvironment: meta('key-environment'), dataEnvironment: meta('data-environment') };
}

const PENDING = 'tokumei-demo.sign-in';
const SCOPE = 'openid keys records';
/** Renew the access tokens when this much of their lifetime is left. */
const RENEW_BEFORE_S = 120;

/** What crosses the sign-in redirect (sessionStorage, removed on return). */
interface Pending {
  verifier: string;
  state: string;
  nonce: string;
  /** The portal's own query (`?persistence=…`), restored after the redirect. */
  search: string;
}

/** The outcome of coming back from the SSO. */
export type SignInResult =
  | { kind: 'signed-in'; sso: SsoSession; search: string }
  | { kind: 'refused'; error: string; search: string }
  | { kind: 'signed-out'; reason: string; search: string };

const redirectUri = (): string => `${location.origin}/`;

function options(issuer: string): { [oauth.allowInsecureRequests]?: boolean } {
  // The demo runs on loopback without TLS; a deployment's issuer is https and never needs this.
  return new URL(issuer).protocol === 'http:' ? { [oauth.allowInsecureRequests]: true } : {};
}

async function discover(config: SsoConfig): Promise<oauth.AuthorizationServer> {
  const issuer = new URL(config.issuer);
  return oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, options(config.issuer)));
}

/** Runs a token request, answering one `use_dpop_nonce` challenge (RFC 9449 §8). */
async function withNonceRetry<T>(request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err;
    return request();
  }
}

/**
 * Sends the browser to the SSO's authorization endpoint. `silent` asks for `prompt=none`: the
 * SSO answers at once, with a code when its session is still live, else with `login_required`.
 */
export async function beginSignIn(config: SsoConfig, { silent = false }: { silent?: boolean } = {}): Promise<void> {
  const as = await discover(config);
  const pending: Pending = { verifier: oauth.generateRandomCodeVerifier(), state: oauth.generateRandomState(), nonce: oauth.generateRandomNonce(), search: location.search };
  const url = new URL(as.authorization_endpoint!);
  url.searchParams.set('client_id', config.clientId);
  url.searchParams.set('redirect_uri', redirectUri());
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('scope', SCOPE);
  url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(pending.verifier));
  url.searchParams.set('code_challenge_method', 'S256');
  url.searchParams.set('state', pending.state);
  url.searchParams.set('nonce', pending.nonce);
  // One grant for both environments; each access token is then asked for one of them.
  url.searchParams.append('resource', config.keyEnvironment);
  url.searchParams.append('resource', config.dataEnvironment);
  if (silent) url.searchParams.set('prompt', 'none');
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  location.assign(url.href);
}

/**
 * Finishes a sign-in when the page is the SSO's redirect back (`?code` or `?error`, and
 * `state`), or recognizes the return from a sign-out (`?state=<reason>` alone); `undefined` for
 * an ordinary page load. The URL is put back to the portal's own query either way. Every token
 * is bound to the key pair `dpopKeyPair` gives.
 */
export async function completeSignIn(config: SsoConfig, dpopKeyPair: () => Promise<CryptoKeyPair>): Promise<SignInResult | undefined> {
  const url = new URL(location.href);
  const state = url.searchParams.get('state');
  if (state === null) return undefined;
  const saved = sessionStorage.getItem(PENDING);
  sessionStorage.removeItem(PENDING);
  const pending = saved === null ? undefined : (JSON.parse(saved) as Pending);
  if (pending === undefined || pending.state !== state) {
    // Not our sign-in: the return from an RP-initiated logout carries the wipe reason as state.
    const search = sessionStorage.getItem(SIGNED_OUT_SEARCH) ?? '';
    sessionStorage.removeItem(SIGNED_OUT_SEARCH);
    history.replaceState(null, '', `/${search}`);
    return { kind: 'signed-out', reason: /^[a-z-]{1,20}$/.test(state) ? state : 'logoff', search };
  }
  history.replaceState(null, '', `/${pending.search}`); // no code left in the address bar or history
  const as = await discover(config);
  const client: oauth.Client = { client_id: config.clientId };
  let params: URLSearchParams;
  try {
    params = oauth.validateAuthResponse(as, client, url, pending.state);
  } catch (err) {
    if (err instanceof oauth.AuthorizationResponseError) return { kind: 'refused', error: err.error, search: pending.search };
    throw err;
  }
  // The DPoP key pair (dpop-key.ts): non-extractable, so no script can read the private key.
  const dpopKey = await dpopKeyPair();
  const dpop = oauth.DPoP(client, dpopKey);
  const response = await withNonceRetry(async () =>
    oauth.processAuthorizationCodeResponse(
      as,
      client,
      await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, redirectUri(), pending.verifier, { DPoP: dpop, additionalParameters: { resource: config.keyEnvironment }, ...options(config.issuer) }),
      { expectedNonce: pending.nonce, requireIdToken: true },
    ),
  );
  const sso = new SsoSession(config, as, client, dpopKey, dpop, response);
  await sso.renewDataEnvironmentToken();
  return { kind: 'signed-in', sso, search: pending.search };
}

const SIGNED_OUT_SEARCH = 'tokumei-demo.signed-out-search';

/**
 * A signed-in member's tokens, in memory: the key environment's access token (handed to
 * tokumei's `httpKeyProvider`), the data environment's, and the refresh token that renews both.
 */
export class SsoSession {
  readonly memberId: string;
  /** The DPoP key pair every token of this session is bound to (also tokumei's `dpopKey`). */
  readonly dpopKey: CryptoKeyPair;
  readonly #config: SsoConfig;
  readonly #as: oauth.AuthorizationServer;
  readonly #client: oauth.Client;
  readonly #dpop: oauth.DPoPHandle;
  #keyToken: string;
  #keyTokenExpiresAt: number;
  #dataToken = '';
  #dataTokenExpiresAt = 0;
  #refreshToken: string | undefined;
  #renewing: Promise<void> | undefined;
  #ended = false;

  constructor(config: SsoConfig, as: oauth.AuthorizationServer, client: oauth.Client, dpopKey: CryptoKeyPair, dpop: oauth.DPoPHandle, tokens: oauth.TokenEndpointResponse) {
    this.#config = config;
    this.#as = as;
    this.#client = client;
    this.dpopKey = dpopKey;
    this.#dpop = dpop;
    // The ID token says who signed in; the page keeps only that, not the token.
    this.memberId = oauth.getValidatedIdTokenClaims(tokens)!.sub;
    this.#keyToken = tokens.access_token;
    this.#keyTokenExpiresAt = Date.now() + (tokens.expires_in ?? 0) * 1000;
    this.#refreshToken = tokens.refresh_token;
  }

  /** The key environment's current access token. */
  keyEnvironmentToken(): string {
    if (this.#ended) throw new Error('signed out');
    return this.#keyToken;
  }

  /** Whether the key environment's token is close to its expiry. */
  keyEnvironmentTokenExpiring(): boolean {
    return this.#keyTokenExpiresAt - Date.now() < RENEW_BEFORE_S * 1000;
  }

  /** A request to the data environment with its own access token and a DPoP proof. */
  async dataEnvironmentFetch(method: string, path: string, body?: unknown): Promise<Response> {
    if (this.#dataTokenExpiresAt - Date.now() < RENEW_BEFORE_S * 1000) await this.renewDataEnvironmentToken();
    return this.#resourceFetch(() => this.#dataToken, method, path, body);
  }

  /** A request to the key environment (beyond key delivery) with its access token and a DPoP proof. */
  async keyEnvironmentFetch(method: string, path: string, body?: unknown): Promise<Response> {
    if (this.keyEnvironmentTokenExpiring()) await this.renewKeyEnvironmentToken();
    return this.#resourceFetch(() => this.#keyToken, method, path, body);
  }

  /** RFC 9449 §7: `Authorization: DPoP <token>` and a fresh proof; one nonce challenge answered. */
  #resourceFetch(token: () => string, method: string, path: string, body: unknown): Promise<Response> {
    if (this.#ended) return Promise.reject(new Error('signed out'));
    const headers = new Headers();
    if (body !== undefined) headers.set('content-type', 'application/json');
    const url = new URL(path, location.origin);
    return withNonceRetry(() => oauth.protectedResourceRequest(token(), method, url, headers, body === undefined ? null : JSON.stringify(body), { DPoP: this.#dpop, ...options(this.#config.issuer) }));
  }

  /** Renews the key environment's access token (the refresh token rotates). */
  renewKeyEnvironmentToken(): Promise<void> {
    return this.#renew(this.#config.keyEnvironment, (t) => {
      this.#keyToken = t.access_token;
      this.#keyTokenExpiresAt = Date.now() + (t.expires_in ?? 0) * 1000;
    });
  }

  /** Renews (or first obtains) the data environment's access token. */
  renewDataEnvironmentToken(): Promise<void> {
    return this.#renew(this.#config.dataEnvironment, (t) => {
      this.#dataToken = t.access_token;
      this.#dataTokenExpiresAt = Date.now() + (t.expires_in ?? 0) * 1000;
    });
  }

  /** One refresh at a time: each use rotates the refresh token. */
  #renew(resource: string, apply: (tokens: oauth.TokenEndpointResponse) => void): Promise<void> {
    const previous = this.#renewing ?? Promise.resolve();
    const next = previous.then(async () => {
      if (this.#ended || this.#refreshToken === undefined) throw new Error('signed out');
      const tokens = await withNonceRetry(async () =>
        oauth.processRefreshTokenResponse(
          this.#as,
          this.#client,
          await oauth.refreshTokenGrantRequest(this.#as, this.#client, oauth.None(), this.#refreshToken!, { DPoP: this.#dpop, additionalParameters: { resource }, ...options(this.#config.issuer) }),
        ),
      );
      if (tokens.refresh_token !== undefined) this.#refreshToken = tokens.refresh_token;
      apply(tokens);
    });
    this.#renewing = next.catch(() => undefined);
    return next;
  }

  /**
   * Ends this sign-in on the device: revokes this tab's refresh token at the SSO (other tabs of
   * the member keep theirs), and forgets every token. The request is
   * `keepalive`, so it completes from `pagehide` or a navigation away. Never rejects.
   */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    const token = this.#refreshToken;
    this.#refreshToken = undefined;
    this.#keyToken = '';
    this.#dataToken = '';
    if (token === undefined || this.#as.revocation_endpoint === undefined) return;
    // A form POST with no custom header: a "simple" CORS request, so `keepalive` needs no
    // preflight and survives the page going away (RFC 7009; a public client sends its id).
    void fetch(this.#as.revocation_endpoint, {
      method: 'POST',
      body: new URLSearchParams({ token, token_type_hint: 'refresh_token', client_id: this.#client.client_id }),
      keepalive: true,
      credentials: 'omit',
      cache: 'no-store',
    }).catch(() => undefined);
  }

  /**
   * Ends the SSO's own session too (RP-initiated logout): the browser goes to the SSO, which
   * signs the member out and comes back to the portal with `reason` as `state`. The request
   * names the portal's client id, not the ID token (`id_token_hint`): a URL is written to the
   * browser's history and session files on disk, and an ID token names the member.
   */
  signOutOfSso(reason: string, search: string): void {
    this.end();
    const url = new URL(this.#as.end_session_endpoint!);
    url.searchParams.set('client_id', this.#client.client_id);
    url.searchParams.set('post_logout_redirect_uri', redirectUri());
    url.searchParams.set('state', reason);
    sessionStorage.setItem(SIGNED_OUT_SEARCH, search);
    location.assign(url.href);
  }
}
