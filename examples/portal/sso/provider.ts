// The configuration of the demo's OpenID Provider (panva's oidc-provider): one public client —
// the portal — with the authorization code flow and PKCE, DPoP-bound tokens (RFC 9449), and two
// resource servers (RFC 8707) whose access tokens carry different audiences: the key
// environment and the data environment. A token minted for one is refused by the other.
import { generateKeyPair, exportJWK } from 'jose';
import { randomBytes } from 'node:crypto';
import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { PORTAL_CLIENT_ID, resourcesOf } from '../shared/deployment.ts';
import { logoutPage, plainPage } from './pages.ts';

/** What the provider needs to know about the deployment. */
export interface SsoDeployment {
  /** The issuer identifier: this service's own origin (never the portal's). */
  issuer: string;
  /** The portal's origin, e.g. `http://127.0.0.1:8080`. */
  portal: string;
  /** How many seeded members can sign in (M000001…). */
  members: number;
}

// Short-lived access tokens: the portal renews them with its refresh token while the member
// stays signed in; the key environment extends the session with each renewed token.
const ACCESS_TOKEN_TTL_S = 10 * 60;
// The SSO's own session policy: eight hours, and a browser-session cookie (closing the browser
// ends it). A live SSO session can sign the member in again without a password: the portal
// ends it at logoff (RP-initiated logout).
const SESSION_TTL_S = 8 * 60 * 60;

/** Whether `id` names a seeded member. */
export function isMember(id: unknown, members: number): id is string {
  if (typeof id !== 'string' || !/^M\d{6}$/.test(id)) return false;
  const n = Number(id.slice(1));
  return n >= 1 && n <= members;
}

/** Builds the provider. Its signing keys and cookie keys are made here, kept in memory only. */
export async function createProvider(d: SsoDeployment): Promise<Provider> {
  const { keyEnvironment, dataEnvironment } = resourcesOf(d.portal);
  const signing = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(signing.privateKey)), kid: randomBytes(8).toString('base64url'), alg: 'ES256', use: 'sig' };
  const resourceServers: Record<string, { scope: string }> = {
    [keyEnvironment]: { scope: 'keys' },
    [dataEnvironment]: { scope: 'records' },
  };

  const configuration: Configuration = {
    clients: [
      {
        client_id: PORTAL_CLIENT_ID,
        client_name: 'けんぽ会員ポータル',
        application_type: 'web',
        token_endpoint_auth_method: 'none', // a public client: the browser holds no secret
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [`${d.portal}/`],
        post_logout_redirect_uris: [`${d.portal}/`],
        dpop_bound_access_tokens: true, // every token of this client is sender-constrained
        id_token_signed_response_alg: 'ES256',
      },
    ],
    async findAccount(_ctx, id) {
      if (!isMember(id, d.members)) return undefined;
      return { accountId: id, claims: () => ({ sub: id }) };
    },
    claims: { openid: ['sub'] },
    scopes: ['openid'], // keys and records are the resource servers' scopes (below)
    jwks: { keys: [jwk] },
    enabledJWA: { dPoPSigningAlgValues: ['ES256'] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: false },
      revocation: { enabled: true },
      dPoP: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: logoutPage(PORTAL_CLIENT_ID),
        postLogoutSuccessSource: async (ctx: KoaContextWithOIDC) => {
          ctx.body = plainPage('サインアウトしました', '<p>SSO からサインアウトしました。</p>');
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf,
        useGrantedResource: async () => false,
        async getResourceServerInfo(_ctx, indicator) {
          const rs = resourceServers[indicator];
          if (rs === undefined) throw new errors.InvalidTarget();
          // JWT access tokens (RFC 9068) signed with ES256: each environment verifies them with
          // the issuer's published keys, and accepts only its own audience.
          return { scope: rs.scope, audience: indicator, accessTokenTTL: ACCESS_TOKEN_TTL_S, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } };
        },
      },
    },
    // The portal is the society's own (first-party) app: signing in grants it the member's
    // sign-in (openid) and both resources without a consent screen.
    async loadExistingGrant(ctx) {
      const { client, session } = ctx.oidc;
      if (client === undefined || session?.accountId === undefined) return undefined;
      const existing = ctx.oidc.result?.consent?.grantId ?? session.grantIdFor(client.clientId);
      const found = existing === undefined ? undefined : await ctx.oidc.provider.Grant.find(existing);
      if (found !== undefined || client.clientId !== PORTAL_CLIENT_ID) return found;
      const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope('openid');
      grant.addResourceScope(keyEnvironment, 'keys');
      grant.addResourceScope(dataEnvironment, 'records');
      await grant.save();
      return grant;
    },
    // Refresh tokens without `offline_access`: they die with the SSO session (logoff) and are
    // rotated at every use (a replayed old one revokes the whole grant).
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => true,
    // Revoking one tab's refresh token (at its logoff or tab close) ends that token only, not the
    // grant the member's other tabs use; logout at the SSO and a replayed old refresh token still
    // revoke the whole grant.
    revokeGrantPolicy: (ctx) => ctx.oidc.route !== 'revocation',
    // Only the portal's own pages may call the token and revocation endpoints from a browser.
    clientBasedCORS: (_ctx, origin) => origin === d.portal,
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: {
      AccessToken: ACCESS_TOKEN_TTL_S,
      AuthorizationCode: 60,
      IdToken: ACCESS_TOKEN_TTL_S,
      RefreshToken: SESSION_TTL_S,
      Interaction: 10 * 60,
      Session: SESSION_TTL_S,
      Grant: SESSION_TTL_S,
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = plainPage('サインインできませんでした', `<p>${escapeHtml(String(out.error))}: ${escapeHtml(String(out.error_description ?? ''))}</p>`);
    },
  };
  const provider = new Provider(d.issuer, configuration);
  provider.on('server_error', (_ctx: KoaContextWithOIDC, err: Error) => console.error('SSO error:', err));
  return provider;
}

/** Escapes text for HTML. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
