// @ts-check
// DEVELOPMENT SIGN-IN — REPLACE WITH YOUR SSO. A stand-in for your OpenID Provider's token
// endpoint, so that the example runs without one, but with the same rules the key environment
// holds a real SSO's tokens to: the browser proves possession of its DPoP key (RFC 9449) and gets
// a short-lived access token bound to that key (`cnf.jkt`), good for one session. No password, no
// member choice: anyone who can reach this endpoint is the example's one member. In a portal the
// token comes from your SSO (authorization code + PKCE, DPoP-bound), and the key environment's
// `authenticate` is `oidcAuthenticator({ issuer, audience })` (docs/integration.md §2).
import { randomBytes } from 'node:crypto';
import { dpopVerifier } from 'tokumei/server';

const TOKEN_PATH = '/dev-sso/token';
const TOKEN_LIFETIME_MS = 2 * 60_000;

/**
 * The development token endpoint (`POST /dev-sso/token` with a `DPoP` proof) and the key
 * environment's `authenticate` for its tokens.
 * @param {string} memberId - whom every token signs in
 * @returns {{
 *   authenticate: import('tokumei/server').Authenticate,
 *   handler: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, next: () => void) => void,
 * }}
 */
export function devSso(memberId) {
  // Proofs for this endpoint: signature, htm/htu, iat, jti used once. (A real authorization
  // server also sends DPoP nonces; the key environment does.)
  const dpop = dpopVerifier({ nonces: false });
  /** @type {Map<string, { jkt: string, expiresAt: number }>} access token → the key it is bound to */
  const tokens = new Map();

  return {
    // Only tokens this endpoint issued, unexpired, and only with a proof signed by the key each
    // is bound to: `keyThumbprint` makes the key environment compare it with the proof's key.
    authenticate: ({ token }) => {
      const t = tokens.get(token);
      if (t === undefined || t.expiresAt <= Date.now()) return null;
      return { memberId, keyThumbprint: t.jkt, expiresAt: t.expiresAt };
    },

    handler(req, res, next) {
      if ((req.url ?? '').split('?')[0] !== TOKEN_PATH || req.method !== 'POST') return next();
      const proof = req.headers.dpop;
      dpop.verify({ proof: typeof proof === 'string' ? proof : undefined, method: 'POST', url: `http://${req.headers.host}${TOKEN_PATH}` }).then(
        ({ thumbprint }) => {
          const now = Date.now();
          for (const [t, { expiresAt }] of tokens) if (expiresAt <= now) tokens.delete(t);
          const token = randomBytes(32).toString('base64url');
          tokens.set(token, { jkt: thumbprint, expiresAt: now + TOKEN_LIFETIME_MS });
          res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
          res.end(JSON.stringify({ access_token: token, token_type: 'DPoP', expires_in: TOKEN_LIFETIME_MS / 1000 }));
        },
        () => {
          // No token without a valid proof: never a plain bearer token (RFC 9449 §5).
          res.writeHead(400, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end('{"error":"invalid_dpop_proof"}');
        },
      );
    },
  };
}
