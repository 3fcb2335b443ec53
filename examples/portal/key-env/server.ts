// The key environment: its own process, port and storage (key-env/ in the data folder), built
// on tokumei/server. It accepts only DPoP-bound access tokens the SSO issued for it (audience:
// the key environment), each with a fresh proof of the browser's key; it seals the member's
// keyring (own key and their dependants' keys) to the browser's ephemeral public key (HPKE),
// keeps the session table (status checks, end of session, revocation), and signs the tickets
// that let a session read its attribute records — the pseudonyms are computed with the link
// key, which never leaves this process.
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
// In a key environment of your own this is `from 'tokumei/server'`.
import { dpopVerifier, keyEnvironmentHandler, oidcAuthenticator, pseudonym } from '../../../src/server.ts';
import { deploymentFromEnv, PORTAL_CLIENT_ID } from '../shared/deployment.ts';
import { PORTAL_PURPOSE } from '../shared/schemas.ts';
import { announce, HttpError, readJson, sendJson, serve } from '../shared/http.ts';
import { ticketEndpoint } from './ticket-endpoint.ts';
import { openKeyEnvironmentStorage } from './storage.ts';
import { ticketIssuer } from './tickets.ts';

const dataDir = process.env.DEMO_DATA_DIR ?? '.demo-data';
const deployment = deploymentFromEnv();
const keylog = process.env.TOKUMEI_DEMO_KEYLOG;
if (keylog !== undefined && keylog !== '') {
  const banner = '!'.repeat(78);
  console.warn(`${banner}\n!! TOKUMEI_DEMO_KEYLOG is set: every member key this key environment delivers\n!! is appended IN THE CLEAR to ${keylog}\n!! For tests only. Never set it anywhere real.\n${banner}`);
}

// The SSO's JWT access tokens (RFC 9068): signed with its keys (discovery → jwks_uri), for this
// audience only (RFC 8707: the data environment's tokens name another), issued to the portal,
// and bound to the browser's DPoP key (`cnf.jkt`). Each token opens at most one session.
const authenticate = oidcAuthenticator({
  issuer: deployment.issuer,
  audience: deployment.keyEnvironment,
  algorithms: ['ES256'],
  clientIds: [PORTAL_CLIENT_ID],
  dependants: (_claims, memberId) => storage.dependants[memberId] ?? [],
});
// Keys the DPoP nonces: the delivery endpoints and the ticket endpoint accept each other's.
const sharedSecret = randomBytes(32);
// Sessions, single-use token records and used proof ids live in the key environment's
// database (storage.db.sessions): a restart signs nobody out.
const storage = await openKeyEnvironmentStorage(dataDir, {
  authenticate,
  sharedSecret,
  // DPoP (RFC 9449) is required: a proof with the server's nonce on every request.
  ...(keylog === undefined || keylog === '' ? {} : { unsafeKeyLog: (line: string) => appendFileSync(keylog, `${line}\n`) }),
});
const { env } = storage;
const linkKey = await storage.linkKey(); // off-heap; wiped at exit
const tickets = await ticketIssuer(deployment);
const delivery = keyEnvironmentHandler(env, {
  path: '/session',
  // Behind the portal's gateway (/key-env/* → here): DPoP proofs sign the URL the browser called.
  publicUrl: `${deployment.keyEnvironment}/session`,
  onError: (err) => console.error(err),
  // Why a credential was refused (never a token), for the demo's console; not the nonce
  // challenge every browser meets once.
  onRefused: (err) => {
    if (err.challenge?.error !== 'use_dpop_nonce') console.warn(`key-env: refused a credential (${(err.cause as Error | undefined)?.message ?? 'ERR_AUTH'})`);
  },
});
const DELIVERY_PATHS = new Set(['/session', '/session/status', '/session/logoff']);

const { sessions } = storage.db;
const ticket = ticketEndpoint({
  authenticate,
  proofs: dpopVerifier({ nonceSecret: sharedSecret, replay: sessions }),
  sessions,
  url: `${deployment.keyEnvironment}/ticket`,
  // The member's own pseudonym and their dependants', computed with the link key.
  async issue(memberId) {
    const dependants: Record<string, string> = {};
    for (const id of storage.dependants[memberId] ?? []) dependants[id] = pseudonym(linkKey, id, { purpose: PORTAL_PURPOSE });
    const self = pseudonym(linkKey, memberId, { purpose: PORTAL_PURPOSE });
    return { ...(await tickets.issue([self, ...Object.values(dependants)])), self, dependants };
  },
});

const { server, port } = await serve(async (req, res, url) => {
  if (DELIVERY_PATHS.has(url.pathname)) return delivery(req, res);
  if (req.method === 'POST' && url.pathname === '/ticket') return ticket(req, res);
  // The public key of the tickets, for the data environment.
  if (req.method === 'GET' && url.pathname === '/ticket-keys') return sendJson(res, 200, tickets.jwks);
  // Administration (the portal's gateway does not route it): revoke every session of a member.
  if (req.method === 'POST' && url.pathname === '/admin/revoke') {
    const { memberId } = (await readJson(req)) as { memberId?: unknown };
    if (typeof memberId !== 'string' || memberId === '') throw new HttpError(400, '"memberId" expected string');
    return sendJson(res, 200, { revoked: await env.revokeMemberSessions(memberId, 'admin') });
  }
  throw new HttpError(404, 'not found');
}, Number(process.env.DEMO_SERVICE_PORT ?? '0'));

process.on('exit', () => linkKey.fill(0));
console.log(`key-env master key: ${storage.masterKeyDescription}`);
announce('key-env', server, port, () => storage.close());
