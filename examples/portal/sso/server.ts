// The mock SSO identity provider: members sign in with their member id and the password
// `demo`, and receive an opaque bearer token. The key and data environments verify tokens by
// introspection (RFC 7662 in spirit). Tokens live only in this process's memory.
import { randomBytes } from 'node:crypto';
import { announce, bearerToken, HttpError, readJson, sendJson, serve } from '../shared/http.ts';

const MEMBERS = Number(process.env.DEMO_MEMBERS ?? '1000');
const TOKEN_TTL_MS = 60 * 60_000;
const tokens = new Map<string, { sub: string; exp: number }>();

function validMember(id: unknown): id is string {
  if (typeof id !== 'string' || !/^M\d{6}$/.test(id)) return false;
  const n = Number(id.slice(1));
  return n >= 1 && n <= MEMBERS;
}

const { server, port } = await serve(async (req, res, url) => {
  if (req.method === 'POST' && url.pathname === '/token') {
    const body = (await readJson(req)) as { id?: unknown; password?: unknown };
    if (!validMember(body.id) || body.password !== 'demo') throw new HttpError(401, 'unknown member id or wrong password');
    const token = randomBytes(32).toString('base64url');
    tokens.set(token, { sub: body.id, exp: Date.now() + TOKEN_TTL_MS });
    sendJson(res, 200, { accessToken: token, tokenType: 'Bearer', expiresIn: TOKEN_TTL_MS / 1000, memberId: body.id });
  } else if (req.method === 'POST' && url.pathname === '/introspect') {
    const { token } = (await readJson(req)) as { token?: unknown };
    const entry = typeof token === 'string' ? tokens.get(token) : undefined;
    if (entry === undefined || entry.exp < Date.now()) sendJson(res, 200, { active: false });
    else sendJson(res, 200, { active: true, sub: entry.sub, exp: Math.floor(entry.exp / 1000) });
  } else if (req.method === 'POST' && url.pathname === '/logout') {
    const token = bearerToken(req);
    if (token !== undefined) tokens.delete(token);
    sendJson(res, 200, { ok: true });
  } else {
    throw new HttpError(404, 'not found');
  }
}, Number(process.env.DEMO_SERVICE_PORT ?? '0'));

announce('sso', server, port);
