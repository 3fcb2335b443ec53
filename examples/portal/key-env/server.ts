// The key environment: its own process, port and storage (key-env/ in the data folder), built
// on tokumei/server. It accepts only access tokens the SSO issued for it (audience: the key
// environment), seals the member's keyring (own key and their dependants' keys) to the
// browser's ephemeral public key (HPKE), keeps the session table (status checks, logoff,
// revocation), and signs the tickets that let a session read its attribute records — the
// pseudonyms are computed with the link key, which never leaves this process.
import { appendFileSync } from 'node:fs';
import { createRemoteJWKSet, jwtVerify } from 'jose';
// In a key environment of your own this is `from 'tokumei/server'`.
import { keyEnvironmentHandler, pseudonym } from '../../../src/server.ts';
import { deploymentFromEnv } from '../shared/deployment.ts';
import { PORTAL_PURPOSE } from '../shared/schemas.ts';
import type { TicketResponse } from '../shared/ticket.ts';
import { announce, HttpError, readJson, sendJson, serve } from '../shared/http.ts';
import { openKeyEnvironmentStorage } from './storage.ts';
import { ticketIssuer } from './tickets.ts';

const dataDir = process.env.DEMO_DATA_DIR ?? '.demo-data';
const deployment = deploymentFromEnv();
const keylog = process.env.TOKUMEI_DEMO_KEYLOG;
if (keylog !== undefined && keylog !== '') {
  const banner = '!'.repeat(78);
  console.warn(`${banner}\n!! TOKUMEI_DEMO_KEYLOG is set: every member key this key environment delivers\n!! is appended IN THE CLEAR to ${keylog}\n!! For tests only. Never set it anywhere real.\n${banner}`);
}

// The SSO's signing keys, from its discovery document's jwks_uri.
const issuerKeys = createRemoteJWKSet(new URL('/jwks', deployment.issuer));
async function verifyAccessToken(token: string): Promise<{ memberId: string; expiresAt: number }> {
  const { payload } = await jwtVerify(token, issuerKeys, { issuer: deployment.issuer, audience: deployment.keyEnvironment, typ: 'at+jwt', algorithms: ['ES256'], requiredClaims: ['sub', 'exp'] });
  return { memberId: payload.sub!, expiresAt: payload.exp! * 1000 };
}

// Sessions live in the key environment's database (storage.db.sessions): a restart signs nobody out.
const storage = await openKeyEnvironmentStorage(dataDir, {
  async authenticate({ token }) {
    try {
      const { memberId, expiresAt } = await verifyAccessToken(token);
      return { memberId, expiresAt, dependants: storage.dependants[memberId] ?? [] };
    } catch {
      return null; // HTTP 401
    }
  },
  dpop: { required: false },
  ...(keylog === undefined || keylog === '' ? {} : { unsafeKeyLog: (line: string) => appendFileSync(keylog, `${line}\n`) }),
});
const { env } = storage;
const linkKey = await storage.linkKey(); // off-heap; wiped at exit
const tickets = await ticketIssuer(deployment);
const delivery = keyEnvironmentHandler(env, { path: '/session', onError: (err) => console.error(err) });
const DELIVERY_PATHS = new Set(['/session', '/session/status', '/session/logoff']);

/** A ticket for a live session: the member's own pseudonym and their dependants'. */
async function ticketFor(token: string | undefined, sessionId: unknown): Promise<TicketResponse> {
  if (token === undefined) throw new HttpError(401, 'access token required');
  let memberId: string;
  try {
    ({ memberId } = await verifyAccessToken(token));
  } catch {
    throw new HttpError(401, 'invalid access token');
  }
  const session = typeof sessionId === 'string' ? await storage.db.sessions.get(sessionId) : undefined;
  if (session === undefined || session.revoked !== undefined || session.expiresAt <= Date.now() || session.memberId !== memberId) throw new HttpError(410, 'no live session');
  const dependants: Record<string, string> = {};
  for (const id of storage.dependants[memberId] ?? []) dependants[id] = pseudonym(linkKey, id, { purpose: PORTAL_PURPOSE });
  const self = pseudonym(linkKey, memberId, { purpose: PORTAL_PURPOSE });
  return { ...(await tickets.issue([self, ...Object.values(dependants)])), self, dependants };
}

const { server, port } = await serve(async (req, res, url) => {
  if (DELIVERY_PATHS.has(url.pathname)) return delivery(req, res);
  if (req.method === 'POST' && url.pathname === '/ticket') {
    const { sessionId } = (await readJson(req)) as { sessionId?: unknown };
    const auth = /^(?:DPoP|Bearer) (\S+)$/.exec(req.headers.authorization ?? '');
    return sendJson(res, 200, await ticketFor(auth?.[1], sessionId));
  }
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
