// @ts-check
// DEVELOPMENT SIGN-IN — REPLACE WITH YOUR SSO. A stand-in for your OpenID Provider's token
// endpoint, so that the example runs without one, but with the same rules the key environment
// holds a real SSO's tokens to: the browser proves possession of its DPoP key (RFC 9449) and gets
// a short-lived access token bound to that key (`cnf.jkt`), good for one session. No password, no
// member choice: anyone who can reach this endpoint is the example's one member. In a portal the
// token comes from your SSO (authorization code + PKCE, DPoP-bound), and the key environment's
// `authenticate` is `oidcAuthenticator({ issuer, audience })` (docs/integration.md §2).
//
// "Anyone who can reach this endpoint" must not include other web sites: through DNS rebinding
// (an attacker's host name re-pointed at 127.0.0.1) a page elsewhere reaches a local server from
// the developer's browser as if it were same-origin. Its requests still name the attacker's host
// (`Host`, `Origin`), so the endpoint answers only requests addressed to this server itself.
import { randomBytes } from 'node:crypto';
import { dpopVerifier } from 'tokumei/server';

const TOKEN_PATH = '/dev-sso/token';
const TOKEN_LIFETIME_MS = 2 * 60_000;
/** This machine's own names for itself. */
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
/** A `Host` value: a name, an IPv4 address or a bracketed IPv6 address, then an optional port. */
const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/;

/**
 * Whether `host` (a `Host` header's value, or an origin's host) names this server: localhost,
 * 127.0.0.1 or [::1] at `port`, or a host name `allowedHosts` lists at any port (Vite's
 * `server.allowedHosts` syntax: a leading dot also allows its subdomains).
 * @param {string | undefined} host
 * @param {number} port - the port the server listens on (the request's local port)
 * @param {number} defaultPort - the port a host without one means (80, or 443 for an https origin)
 * @param {readonly string[]} allowedHosts
 */
function isOwnHost(host, port, defaultPort, allowedHosts) {
  const m = HOST.exec((host ?? '').toLowerCase());
  if (m === null) return false;
  const name = /** @type {string} */ (m[1]);
  if (LOOPBACK.has(name)) return Number(m[2] ?? defaultPort) === port;
  return allowedHosts.some((a) => {
    const allowed = a.toLowerCase();
    return allowed === name || (allowed.startsWith('.') && (name === allowed.slice(1) || name.endsWith(allowed)));
  });
}

/**
 * Whether a request is addressed to this development server: its `Host` is one of the server's
 * own (see `isOwnHost`), and its `Origin`, when it has one, is an http(s) origin at such a host.
 * A page on another site that reaches the server through DNS rebinding fails both.
 * @param {import('node:http').IncomingMessage} req
 * @param {readonly string[]} [allowedHosts] - host names the dev server is also reached by (Vite's `server.allowedHosts`)
 * @returns {boolean}
 */
export function addressedToThisServer(req, allowedHosts = []) {
  const port = req.socket.localPort ?? -1;
  if (!isOwnHost(req.headers.host, port, 80, allowedHosts)) return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  let url;
  try {
    url = new URL(origin);
  } catch {
    return false; // `null` (an opaque origin) included
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== origin) return false;
  return isOwnHost(url.host, port, url.protocol === 'https:' ? 443 : 80, allowedHosts);
}

/**
 * The development token endpoint (`POST /dev-sso/token` with a `DPoP` proof, answered only when
 * addressed to this server: `addressedToThisServer`) and the key environment's `authenticate`
 * for its tokens.
 * @param {string} memberId - whom every token signs in
 * @param {{ allowedHosts?: readonly string[] }} [options] - `allowedHosts`: host names the dev
 *   server is also reached by (pass Vite's `server.allowedHosts` when it is a list)
 * @returns {{
 *   authenticate: import('tokumei/server').Authenticate,
 *   handler: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, next: () => void) => void,
 * }}
 */
export function devSso(memberId, { allowedHosts = [] } = {}) {
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
      if (!addressedToThisServer(req, allowedHosts)) {
        // Another site's page (DNS rebinding) or a host name this server was not told about.
        res.writeHead(403, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end('{"error":"host_not_allowed"}');
        return;
      }
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
