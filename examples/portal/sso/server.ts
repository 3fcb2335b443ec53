// The demo's SSO: a real OpenID Provider (panva's oidc-provider, configured in provider.ts) in
// its own process, at its own origin — `http://localhost:<port>`, a different host from the
// portal's 127.0.0.1, so its session cookie never reaches the portal, the key environment or
// the data environment (cookies are scoped by host, not by port). Members sign in with their
// member id and the password `demo`; tokens and sessions live only in this process's memory.
import { appendFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { announce } from '../shared/http.ts';
import { ASSETS, loginPage, ssoCsp } from './pages.ts';
import { createProvider, isMember } from './provider.ts';

const portal = process.env.DEMO_PORTAL_URL?.replace(/\/$/, '') ?? 'http://127.0.0.1:8080';
const members = Number(process.env.DEMO_MEMBERS ?? '1000');

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  let text = '';
  for await (const chunk of req) {
    text += (chunk as Buffer).toString('utf8');
    if (text.length > 4096) throw new Error('form too large');
  }
  return new URLSearchParams(text);
}

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': ssoCsp(portal), 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' });
  res.end(html);
}

// Listen first: the issuer identifier is this origin, port included.
let handle: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(503).end();
const server = createServer((req, res) => handle(req, res));
await new Promise<void>((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(process.env.DEMO_SERVICE_PORT ?? '0'), '127.0.0.1', resolve);
});
const { port } = server.address() as AddressInfo;
// `localhost` may resolve to ::1 first: answer there too when the machine has IPv6 loopback.
const servers: Server[] = [server];
await new Promise<void>((resolve) => {
  const v6 = createServer((req, res) => handle(req, res));
  v6.once('error', () => resolve());
  v6.listen(port, '::1', () => {
    servers.push(v6);
    resolve();
  });
});

const issuer = `http://localhost:${port}`;
const provider = await createProvider({ issuer, portal, members });
const oidc = provider.callback();

// Tests only: what the SSO did with tokens — event names and refusal details, never a token —
// one JSON line each, so a test can tell a refresh token that is gone from one that is live
// but bound to another key.
const eventLog = process.env.TOKUMEI_DEMO_SSO_LOG;
if (eventLog !== undefined && eventLog !== '') {
  console.warn(`TOKUMEI_DEMO_SSO_LOG is set: the SSO logs token events (names and refusal details, no token) to ${eventLog}; for tests only.`);
  const log = (entry: object): void => appendFileSync(eventLog, `${JSON.stringify({ at: Date.now(), ...entry })}\n`);
  provider.on('grant.error', (ctx: KoaContextWithOIDC, err: Error) => {
    const { error, error_detail: detail } = err as Error & { error?: string; error_detail?: string };
    log({ event: 'grant.error', grantType: ctx.oidc.params?.grant_type, error, detail });
  });
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => log({ event: 'grant.success', grantType: ctx.oidc.params?.grant_type }));
  provider.on('end_session.success', () => log({ event: 'end_session.success' }));
  provider.on('grant.revoked', () => log({ event: 'grant.revoked' }));
  provider.on('refresh_token.destroyed', () => log({ event: 'refresh_token.destroyed' }));
  provider.on('refresh_token.consumed', () => log({ event: 'refresh_token.consumed' }));
}

handle = (req, res) => {
  const url = new URL(req.url ?? '/', issuer);
  const asset = ASSETS[url.pathname];
  if (req.method === 'GET' && asset !== undefined) {
    res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
    res.end(asset.body);
    return;
  }
  const interaction = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/.exec(url.pathname);
  if (interaction === null) {
    // Everything else is the provider's: discovery, JWKS, /auth, /token, revocation, logout.
    // Its own pages (logout, errors) get the same content security policy as ours.
    res.setHeader('content-security-policy', ssoCsp(portal));
    oidc(req, res);
    return;
  }
  void (async () => {
    const uid = interaction[1]!;
    const details = await provider.interactionDetails(req, res);
    // The portal's grant is made without a consent screen (provider.ts): only the login prompt.
    if (details.uid !== uid || details.prompt.name !== 'login') throw new Error('unexpected interaction');
    if (req.method === 'GET' && interaction[2] === undefined) return sendHtml(res, 200, loginPage(uid));
    if (req.method !== 'POST' || interaction[2] === undefined) return sendHtml(res, 405, loginPage(uid));
    const form = await readForm(req);
    const id = form.get('id')?.trim().toUpperCase() ?? '';
    if (!isMember(id, members) || form.get('password') !== 'demo') return sendHtml(res, 401, loginPage(uid, '会員番号またはパスワードが違います', id));
    // `remember: false`: the SSO session lives in a browser-session cookie.
    await provider.interactionFinished(req, res, { login: { accountId: id, remember: false } }, { mergeWithLastSubmission: false });
  })().catch((err: unknown) => {
    // An expired or unknown interaction (a stale tab, a replayed form): start again.
    if (!res.headersSent) sendHtml(res, 400, loginPage(interaction[1]!, 'サインインの期限が切れました。ポータルからやり直してください。'));
    if (!(err instanceof Error && /interaction session not found|unexpected interaction/.test(err.message))) console.error('SSO interaction error:', err);
  });
};

announce('sso', servers[0]!, port);
for (const extra of servers.slice(1)) process.once('exit', () => extra.close());
