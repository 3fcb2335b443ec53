// Signing in to the demo's SSO from Node, as a member (or an attacker who knows a member's
// password) would from a script: the real authorization code flow with PKCE against the real
// OpenID Provider — the SSO's login form posted with its cookies — then DPoP-bound tokens for
// each environment. Used by the API-level tests and as the attack tests' positive controls.
import * as oauth from 'oauth4webapi';
import type { Page } from 'playwright-core';
import { httpKeyProvider } from '../../src/index.ts';
import type { SessionKeys } from '../../src/session/key-provider.ts';

/** What the portal's page tells the browser about the SSO (its `<meta name="sso-…">` tags). */
export interface DemoSso {
  portal: string;
  issuer: string;
  clientId: string;
  keyEnvironment: string;
  dataEnvironment: string;
}

/** A member signed in from Node: tokens, the DPoP key pair they are bound to, and helpers. */
export interface NodeMember {
  memberId: string;
  dpopKey: CryptoKeyPair;
  keyToken: string;
  dataToken: string;
  refreshToken: string;
  idToken: string;
  as: oauth.AuthorizationServer;
  client: oauth.Client;
  dpop: oauth.DPoPHandle;
  /** `Authorization: DPoP` and a proof for a request to `url` (a resource server). */
  fetch(token: string, method: string, url: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  /** A key delivery with the key environment's token, as the portal's page makes it. */
  deliver(options?: { resume?: string }): Promise<SessionKeys>;
  /** Ends a session this member's deliveries opened, as the page does at a wipe. */
  endSession(sessionId: string): Promise<void>;
}

const insecure = { [oauth.allowInsecureRequests]: true } as const;

/** Reads the SSO configuration from the portal's page. */
export async function demoSso(portalUrl: string): Promise<DemoSso> {
  const html = await (await fetch(portalUrl)).text();
  const meta = (name: string): string => {
    const m = new RegExp(`<meta name="sso-${name}" content="([^"]*)">`).exec(html);
    if (m === null) throw new Error(`no sso-${name} in the portal's page`);
    return m[1]!.replace(/&#(\d+);/g, (_x, c: string) => String.fromCharCode(Number(c)));
  };
  return { portal: portalUrl.replace(/\/$/, ''), issuer: meta('issuer'), clientId: meta('client-id'), keyEnvironment: meta('key-environment'), dataEnvironment: meta('data-environment') };
}

/** A tiny cookie jar: name → value, sent back on every request to the SSO. */
class Jar {
  readonly #cookies = new Map<string, string>();
  take(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      this.#cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
  }
  header(): string {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/** A fresh non-extractable ECDSA P-256 key pair, as the portal makes. */
export function newDpopKey(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

/** Runs a token request, answering one DPoP nonce challenge. */
async function nonceRetry<T>(request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err;
    return request();
  }
}

/**
 * Signs `memberId` in at the SSO with `password` and returns DPoP-bound tokens for both
 * environments. Throws when the SSO refuses.
 */
export async function signInFromNode(sso: DemoSso, memberId: string, password = 'demo'): Promise<NodeMember> {
  const issuer = new URL(sso.issuer);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  const client: oauth.Client = { client_id: sso.clientId };
  const redirectUri = `${sso.portal}/`;
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const auth = new URL(as.authorization_endpoint!);
  for (const [k, v] of Object.entries({ client_id: sso.clientId, redirect_uri: redirectUri, response_type: 'code', scope: 'openid keys records', code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, nonce })) auth.searchParams.set(k, v);
  auth.searchParams.append('resource', sso.keyEnvironment);
  auth.searchParams.append('resource', sso.dataEnvironment);

  // Follow the browser's path: /auth → the login form → /auth/<uid> → back to the portal.
  const jar = new Jar();
  const get = async (url: string): Promise<Response> => {
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header() } });
    jar.take(res);
    return res;
  };
  let res = await get(auth.href);
  const login = new URL(res.headers.get('location') ?? '', sso.issuer);
  res = await get(login.href);
  if (res.status !== 200) throw new Error(`the SSO's login page answered ${res.status}`);
  res = await fetch(`${login.href}/login`, { method: 'POST', redirect: 'manual', headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ id: memberId, password }) });
  jar.take(res);
  if (res.status === 401) throw new Error('the SSO refused the password');
  let location = res.headers.get('location');
  while (location !== null && !location.startsWith(redirectUri)) {
    res = await get(new URL(location, sso.issuer).href);
    location = res.headers.get('location');
  }
  if (location === null) throw new Error(`the SSO did not redirect back to the portal (${res.status})`);
  const params = oauth.validateAuthResponse(as, client, new URL(location), state);

  const dpopKey = await newDpopKey();
  const dpop = oauth.DPoP(client, dpopKey);
  const tokens = await nonceRetry(async () =>
    oauth.processAuthorizationCodeResponse(as, client, await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, redirectUri, verifier, { DPoP: dpop, additionalParameters: { resource: sso.keyEnvironment }, ...insecure }), { expectedNonce: nonce, requireIdToken: true }),
  );
  const data = await nonceRetry(async () =>
    oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token!, { DPoP: dpop, additionalParameters: { resource: sso.dataEnvironment }, ...insecure })),
  );
  // One provider, as the page has: it keeps each session's end-of-session token.
  const keyProvider = httpKeyProvider({ url: `${sso.portal}/key-env/session`, getToken: () => member.keyToken, dpopKey, memberId: oauth.getValidatedIdTokenClaims(tokens)!.sub });
  const member: NodeMember = {
    memberId: oauth.getValidatedIdTokenClaims(tokens)!.sub,
    dpopKey,
    keyToken: tokens.access_token,
    dataToken: data.access_token,
    refreshToken: data.refresh_token!,
    idToken: tokens.id_token!,
    as,
    client,
    dpop,
    async fetch(token, method, url, body, headers = {}) {
      const h = new Headers(headers);
      if (body !== undefined) h.set('content-type', 'application/json');
      return nonceRetry(() => oauth.protectedResourceRequest(token, method, new URL(url), h, body === undefined ? null : JSON.stringify(body), { DPoP: dpop, ...insecure }));
    },
    deliver({ resume } = {}) {
      return keyProvider.fetchKeys(resume === undefined ? {} : { resume });
    },
    endSession(sessionId) {
      return keyProvider.notifyLogoff!(sessionId);
    },
  };
  return member;
}

/** Signs in in the browser as a member would: the portal's button, the SSO's form, back to the portal. */
export async function signInInBrowser(page: Page, portalUrl: string, memberId: string, query = ''): Promise<void> {
  await page.goto(`${portalUrl}${query}`);
  await page.getByTestId('sign-in').click();
  await page.getByTestId('login-id').fill(memberId);
  await page.getByTestId('login-password').fill('demo');
  await page.getByTestId('login-submit').click();
  await page.getByTestId('member-name').waitFor();
}
