// The key environment: its own process, port and storage (key-env/ in the data folder). It
// authenticates the member's SSO bearer token, unwraps their keys from the vault and seals the
// keyring to the browser's ephemeral public key (HPKE, through tokumei/server). It also keeps
// the session table (status checks, logoff, revocation) and computes pseudonyms with the link
// key, which never leaves this process.
import { randomBytes } from 'node:crypto';
import { pseudonym } from '../../../src/server.ts';
import { wipe } from '../../../src/internal/bytes.ts';
import { announce, bearerToken, HttpError, readJson, sendJson, serve, ssoVerifier } from '../shared/http.ts';
import { deliverKeyring } from './deliver.ts';
import { openVault } from './vault.ts';

const PORTAL_PURPOSE = 'portal';
const SESSION_LIFETIME_MS = 8 * 60 * 60_000;
const dataDir = process.env.DEMO_DATA_DIR ?? '.demo-data';
const verify = ssoVerifier(process.env.DEMO_SSO_URL ?? 'http://127.0.0.1:0/');
const vault = openVault(dataDir);
const linkKey = await vault.linkKey(); // off-heap, wiped at exit
const keylog = process.env.TOKUMEI_DEMO_KEYLOG;
if (keylog !== undefined && keylog !== '') {
  const banner = '!'.repeat(78);
  console.warn(`${banner}\n!! TOKUMEI_DEMO_KEYLOG is set: every member key this key environment delivers\n!! is appended IN THE CLEAR to ${keylog}\n!! For tests only. Never set it anywhere real.\n${banner}`);
}

interface SessionEntry {
  memberId: string;
  expiresAt: number;
  revoked: boolean;
}
const sessions = new Map<string, SessionEntry>();

function recordIdOf(keyId: string): string {
  return keyId.replace(/\.v\d+$/, '');
}

async function sessionRequest(req: Parameters<Parameters<typeof serve>[0]>[0]): Promise<{ sessionId: string; entry: SessionEntry | undefined }> {
  const body = (await readJson(req)) as { sessionId?: unknown };
  if (typeof body.sessionId !== 'string') throw new HttpError(400, '"sessionId" expected string');
  return { sessionId: body.sessionId, entry: sessions.get(body.sessionId) };
}

const { server, port } = await serve(async (req, res, url) => {
  if (req.method === 'POST' && url.pathname === '/session') {
    const memberId = await verify(bearerToken(req));
    const keyIds = vault.access(memberId);
    if (keyIds === undefined) throw new HttpError(403, 'no keys for this member');
    const sessionId = `s1.${randomBytes(12).toString('base64url')}`;
    const expiresAt = Date.now() + SESSION_LIFETIME_MS;
    const response = await deliverKeyring(vault, (await readJson(req)) as Record<string, unknown>, { memberId, keyIds, sessionId, expiresAt, keylog });
    sessions.set(sessionId, { memberId, expiresAt, revoked: false });
    return sendJson(res, 200, response);
  }
  if (req.method === 'POST' && url.pathname === '/session/status') {
    const { entry } = await sessionRequest(req);
    return sendJson(res, 200, { status: entry === undefined || entry.revoked || entry.expiresAt < Date.now() ? 'revoked' : 'active' });
  }
  if (req.method === 'POST' && url.pathname === '/session/logoff') {
    const { entry } = await sessionRequest(req);
    if (entry !== undefined) entry.revoked = true;
    return sendJson(res, 200, { ok: true });
  }
  if (req.method === 'GET' && url.pathname === '/pseudonyms') {
    const memberId = await verify(bearerToken(req));
    const keyIds = vault.access(memberId);
    if (keyIds === undefined) throw new HttpError(403, 'unknown member');
    const dependants: Record<string, string> = {};
    for (const id of keyIds.map(recordIdOf).filter((r) => r !== memberId)) dependants[id] = pseudonym(linkKey, id, { purpose: PORTAL_PURPOSE });
    return sendJson(res, 200, { self: pseudonym(linkKey, memberId, { purpose: PORTAL_PURPOSE }), dependants });
  }
  // Administration (not routed through the portal's gateway): revoke every session of a member.
  if (req.method === 'POST' && url.pathname === '/admin/revoke') {
    const { memberId } = (await readJson(req)) as { memberId?: unknown };
    let n = 0;
    for (const s of sessions.values()) {
      if (s.memberId === memberId && !s.revoked) {
        s.revoked = true;
        n++;
      }
    }
    return sendJson(res, 200, { revoked: n });
  }
  throw new HttpError(404, 'not found');
}, Number(process.env.DEMO_SERVICE_PORT ?? '0'));

process.on('exit', () => wipe(linkKey));
announce('key-env', server, port);
