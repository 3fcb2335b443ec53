// @ts-check
// The key environment: member keys wrapped under a master key, delivered to a signed-in
// member's browser tab sealed with HPKE. In production a separate service with separate
// operators, its master key in an HSM and its keys in PostgreSQL (docs/integration.md §2, §9);
// here everything lives in memory for one run.
import { createKeyEnvironment, keyEnvironmentHandler, localMasterKey, memoryKeyStore } from 'tokumei/server';

/** The one member of this example. */
export const MEMBER_ID = 'M000001';

/**
 * Starts the key environment.
 * @param {import('tokumei/server').Authenticate} authenticate - verifies an access token and says whose keys it unlocks
 * @returns {Promise<{ env: import('tokumei/server').KeyEnvironment, handler: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, next: () => void) => void }>}
 */
export async function startKeyEnvironment(authenticate) {
  const env = createKeyEnvironment({
    // Development only: a master key made at start-up, so nothing outlives the process.
    masterKey: localMasterKey(crypto.getRandomValues(new Uint8Array(32))),
    store: memoryKeyStore(),
    // In a portal: `oidcAuthenticator({ issuer, audience })`, for your SSO's access tokens.
    authenticate,
    // DPoP required (the default, written out so that nobody turns it off): every request
    // carries a proof signed with the browser's key, the token must be bound to that key, and a
    // token alone — a plain bearer token, or one copied out of the page — is refused.
    dpop: { required: true },
    // An audit line per delivery: public facts only, never a key.
    onDeliver: ({ sessionId, memberId }) => console.log(`key-env: delivered session ${sessionId} to ${memberId}`),
  });
  await env.createMemberKey(MEMBER_ID);
  const keyEnvironment = keyEnvironmentHandler(env, { path: '/key-env/session' });

  return {
    env,
    handler(req, res, next) {
      if ((req.url ?? '/').split('?')[0] === '/key-env/session/logoff') console.log('key-env: logoff');
      keyEnvironment(req, res, next);
    },
  };
}
