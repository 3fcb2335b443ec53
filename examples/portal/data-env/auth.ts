// Who may ask the data environment for what.
//
// - Identity records: the data environment's own access token from the SSO (a JWT whose `aud`
//   is the data environment, never the key environment), bound to the browser's DPoP key and
//   sent with a fresh proof for every request. Verified with panva's oauth4webapi as any
//   resource server would (RFC 9068, RFC 9449), plus a replay cache of proof ids. The token
//   names the member (`sub`).
// - Attribute records: a ticket the key environment signed (ES256, a few minutes) naming the
//   pseudonyms one key-environment session may use — and nothing else: no member id, no
//   identity token. A pseudonym the ticket does not name is refused.
import type { IncomingMessage } from 'node:http';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import type { Deployment } from '../shared/deployment.ts';
import { HttpError } from '../shared/http.ts';
import { TICKET_TYPE } from '../shared/ticket.ts';

/** How long a DPoP proof is accepted after its `iat`, and so how long its `jti` is remembered. */
const PROOF_WINDOW_S = 60;

/** The data environment's two credential checks. */
export interface DataEnvironmentAuth {
  /** The member a request's access token and DPoP proof name; HTTP 401 when they do not verify. */
  member(req: IncomingMessage, path: string): Promise<string>;
  /** The pseudonyms a request's ticket names; HTTP 401 when it does not verify. */
  pseudonyms(req: IncomingMessage): Promise<ReadonlySet<string>>;
}

/** Builds the checks for `deployment`; `ticketKeysUrl` is where the key environment publishes the ticket keys. */
export function dataEnvironmentAuth(deployment: Deployment, ticketKeysUrl: string): DataEnvironmentAuth {
  const insecure = new URL(deployment.issuer).protocol === 'http:' ? { [oauth.allowInsecureRequests]: true } : {};
  let server: Promise<oauth.AuthorizationServer> | undefined;
  const authorizationServer = (): Promise<oauth.AuthorizationServer> =>
    (server ??= (async () => {
      const issuer = new URL(deployment.issuer);
      return oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
    })().catch((err: unknown) => {
      server = undefined; // retried on the next request
      throw err;
    }));
  const usedProofs = new Map<string, number>(); // jti → until (ms)
  const ticketKeys = createRemoteJWKSet(new URL(ticketKeysUrl));

  return {
    async member(req, path) {
      const authorization = req.headers.authorization;
      const dpop = req.headers.dpop;
      if (authorization === undefined || typeof dpop !== 'string') throw new HttpError(401, 'a DPoP-bound access token and proof are required');
      // The request as the browser made it: the proof's `htu` names the gateway's URL.
      const request = new Request(`${deployment.dataEnvironment}${path}`, { method: req.method ?? 'GET', headers: { authorization, dpop } });
      const as = await authorizationServer();
      let claims: oauth.JWTAccessTokenClaims;
      try {
        claims = await oauth.validateJwtAccessToken(as, request, deployment.dataEnvironment, { requireDPoP: true, signingAlgorithms: ['ES256'], ...insecure });
      } catch (err) {
        if (err instanceof oauth.OperationProcessingError || err instanceof oauth.UnsupportedOperationError || err instanceof oauth.WWWAuthenticateChallengeError) throw new HttpError(401, 'invalid access token or DPoP proof');
        throw err;
      }
      // RFC 9449 §11.1: a proof is used once.
      const { jti, iat } = JSON.parse(Buffer.from(dpop.split('.')[1]!, 'base64url').toString('utf8')) as { jti: string; iat: number };
      const now = Date.now();
      if (usedProofs.size > 10_000) for (const [k, until] of usedProofs) if (until < now) usedProofs.delete(k);
      if ((usedProofs.get(jti) ?? 0) > now || Math.abs(now / 1000 - iat) > PROOF_WINDOW_S) throw new HttpError(401, 'DPoP proof replayed or out of its time window');
      usedProofs.set(jti, (iat + PROOF_WINDOW_S) * 1000);
      return claims.sub;
    },

    async pseudonyms(req) {
      const m = /^Ticket ([A-Za-z0-9_.-]+)$/.exec(req.headers.authorization ?? '');
      if (m === null) throw new HttpError(401, 'a ticket from the key environment is required');
      try {
        const { payload } = await jwtVerify(m[1]!, ticketKeys, { issuer: deployment.keyEnvironment, audience: deployment.dataEnvironment, typ: TICKET_TYPE, algorithms: ['ES256'], requiredClaims: ['exp', 'psn'] });
        const names = payload.psn;
        if (!Array.isArray(names) || !names.every((p) => typeof p === 'string')) throw new Error('malformed psn');
        return new Set(names as string[]);
      } catch {
        throw new HttpError(401, 'invalid or expired ticket');
      }
    },
  };
}
