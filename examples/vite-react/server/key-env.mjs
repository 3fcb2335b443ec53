// @ts-check
// The key environment: member keys wrapped under a master key, delivered to a signed-in
// member's browser tab sealed with HPKE. In production a separate service with separate
// operators, its master key in an HSM and its keys in PostgreSQL (docs/integration.md §2, §9);
// here everything lives in memory for one run.
import { randomUUID } from 'node:crypto';
import { createKeyEnvironment, keyEnvironmentHandler, localMasterKey, memoryKeyStore } from 'tokumei/server';

/** The one member of this example. */
export const MEMBER_ID = 'M000001';

/**
 * Starts the key environment and a development stand-in for the SSO.
 * @returns {Promise<{ env: import('tokumei/server').KeyEnvironment, handler: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, next: () => void) => void }>}
 */
export async function startKeyEnvironment() {
  // Development stand-in for your SSO: a fresh random token per sign-in, for the one member (a
  // token opens one session: a spent one is refused). In a portal, `authenticate` is
  // `oidcAuthenticator({ issuer, audience })`, which verifies the SSO's DPoP-bound access token.
  /** @type {Map<string, string>} */
  const tokens = new Map();
  const env = createKeyEnvironment({
    // Development only: a master key made at start-up, so nothing outlives the process.
    masterKey: localMasterKey(crypto.getRandomValues(new Uint8Array(32))),
    store: memoryKeyStore(),
    authenticate: ({ token }) => {
      const memberId = tokens.get(token);
      return memberId === undefined ? null : { memberId };
    },
    // The development tokens are plain bearer tokens, not bound to a DPoP key.
    dpop: { required: false },
    // An audit line per delivery: public facts only, never a key.
    onDeliver: ({ sessionId, memberId }) => console.log(`key-env: delivered session ${sessionId} to ${memberId}`),
  });
  await env.createMemberKey(MEMBER_ID);
  const keyEnvironment = keyEnvironmentHandler(env, { path: '/key-env/session' });

  return {
    env,
    handler(req, res, next) {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/dev-sso/token' && req.method === 'POST') {
        const token = randomUUID();
        tokens.set(token, MEMBER_ID);
        res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end(token);
        return;
      }
      if (path === '/key-env/session/logoff') console.log('key-env: logoff');
      keyEnvironment(req, res, next);
    },
  };
}
