// The key environment: its own process, port and storage (key-env/ in the data folder), built
// on tokumei/server. It authenticates the member's SSO bearer token, seals their keyring (own
// key and their dependants' keys) to the browser's ephemeral public key (HPKE), keeps the
// session table (status checks, logoff, revocation), and computes pseudonyms with the link
// key, which never leaves this process.
import { appendFileSync } from 'node:fs';
// In a key environment of your own this is `from 'tokumei/server'`.
import { keyEnvironmentHandler, pseudonym } from '../../../src/server.ts';
import { PORTAL_PURPOSE } from '../shared/schemas.ts';
import { announce, bearerToken, HttpError, readJson, sendJson, serve, ssoVerifier } from '../shared/http.ts';
import { openKeyEnvironmentStorage } from './storage.ts';

const dataDir = process.env.DEMO_DATA_DIR ?? '.demo-data';
const verify = ssoVerifier(process.env.DEMO_SSO_URL ?? 'http://127.0.0.1:0/');
const keylog = process.env.TOKUMEI_DEMO_KEYLOG;
if (keylog !== undefined && keylog !== '') {
  const banner = '!'.repeat(78);
  console.warn(`${banner}\n!! TOKUMEI_DEMO_KEYLOG is set: every member key this key environment delivers\n!! is appended IN THE CLEAR to ${keylog}\n!! For tests only. Never set it anywhere real.\n${banner}`);
}

const storage = await openKeyEnvironmentStorage(dataDir, {
  async authenticate(token) {
    let memberId: string;
    try {
      memberId = await verify(token);
    } catch {
      return null; // HTTP 401
    }
    return { memberId, dependants: storage.dependants[memberId] ?? [] };
  },
  ...(keylog === undefined || keylog === '' ? {} : { unsafeKeyLog: (line: string) => appendFileSync(keylog, `${line}\n`) }),
});
const { env } = storage;
const linkKey = await storage.linkKey(); // off-heap; wiped at exit
const delivery = keyEnvironmentHandler(env, { path: '/session', onError: (err) => console.error(err) });
const DELIVERY_PATHS = new Set(['/session', '/session/status', '/session/logoff']);

const { server, port } = await serve(async (req, res, url) => {
  if (DELIVERY_PATHS.has(url.pathname)) return delivery(req, res);
  if (req.method === 'GET' && url.pathname === '/pseudonyms') {
    const memberId = await verify(bearerToken(req));
    const dependants: Record<string, string> = {};
    for (const id of storage.dependants[memberId] ?? []) dependants[id] = pseudonym(linkKey, id, { purpose: PORTAL_PURPOSE });
    return sendJson(res, 200, { self: pseudonym(linkKey, memberId, { purpose: PORTAL_PURPOSE }), dependants });
  }
  // Administration (the portal's gateway does not route it): revoke every session of a member.
  if (req.method === 'POST' && url.pathname === '/admin/revoke') {
    const { memberId } = (await readJson(req)) as { memberId?: unknown };
    if (typeof memberId !== 'string' || memberId === '') throw new HttpError(400, '"memberId" expected string');
    return sendJson(res, 200, { revoked: await env.revokeMemberSessions(memberId, 'admin') });
  }
  throw new HttpError(404, 'not found');
}, Number(process.env.DEMO_SERVICE_PORT ?? '0'));

process.on('exit', () => linkKey.fill(0));
announce('key-env', server, port);
