// The demo's ticket endpoint (examples/portal/key-env/ticket-endpoint.ts) answers each refused
// credential as RFC 9449 asks (401; `WWW-Authenticate: DPoP error="…"`; `DPoP-Nonce` with the
// nonce challenge), read from tokumei's refusal (`authRefusal`), and so a bad proof costs the
// page one round trip. Positive control: the endpoint as it was before, which could not tell the
// nonce challenge from a bad proof through the public API and guessed from the proof's nonce
// claim, sent the page through the nonce challenge first: two round trips for the same requests.
// The client is the page's own (oauth4webapi with one nonce challenge answered, web/sso.ts).
import type { IncomingMessage, ServerResponse, Server } from 'node:http';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ticketEndpoint } from '../../examples/portal/key-env/ticket-endpoint.ts';
import { ticketIssuer } from '../../examples/portal/key-env/tickets.ts';
import { HttpError, readJson, sendJson, serve } from '../../examples/portal/shared/http.ts';
import type { TicketResponse } from '../../examples/portal/shared/ticket.ts';
import { dpopVerifier, memorySessionRegistry, oidcAuthenticator, TokumeiError, type Authenticate, type DpopVerifier, type SessionRegistry } from '../../src/server.ts';
import { ISSUER, KEY_ENV_AUDIENCE, proof, testIssuer, type TestIssuer } from '../server/auth/helpers.ts';

const WINDOW_S = 10;
let clock = Date.now();
let server: Server;
let origin = '';
let served: (req: IncomingMessage, res: ServerResponse) => Promise<void> = () => Promise.reject(new Error('not ready'));
let requests = 0;
let issuer: TestIssuer;
let page: CryptoKeyPair;
let token = '';
const sessions = memorySessionRegistry();
const client: oauth.Client = { client_id: 'portal' };
const insecure = { [oauth.allowInsecureRequests]: true } as const;

interface Parts {
  authenticate: Authenticate;
  proofs: DpopVerifier;
  sessions: Pick<SessionRegistry, 'get'>;
  url: string;
  issue(memberId: string): Promise<TicketResponse>;
}

/**
 * The endpoint before this change (its ticketFor and refusal answer, as they were in
 * examples/portal/key-env/server.ts): every refused proof was `use_dpop_nonce` unless the proof
 * carried the nonce of this very response.
 */
function previousEndpoint(parts: Parts): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  class TicketRefused extends Error {
    constructor(readonly challenge: 'invalid_token' | 'invalid_dpop_proof' | 'use_dpop_nonce') {
      super(challenge);
    }
  }
  const isRefusal = (err: unknown): boolean => err instanceof TokumeiError && err.code === 'ERR_AUTH';
  const nonceClaim = (proof: string): unknown => {
    try {
      return (JSON.parse(Buffer.from(proof.split('.')[1] ?? '', 'base64url').toString('utf8')) as { nonce?: unknown }).nonce;
    } catch {
      return undefined;
    }
  };
  async function ticketFor(req: IncomingMessage, sessionId: unknown): Promise<TicketResponse> {
    const t = /^DPoP (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const proof = req.headers.dpop;
    if (t === undefined || typeof proof !== 'string') throw new TicketRefused('invalid_token');
    let who: Awaited<ReturnType<Authenticate>>;
    try {
      who = await parts.authenticate({ token: t, scheme: 'DPoP', method: 'POST', url: parts.url });
    } catch (err) {
      if (isRefusal(err)) throw new TicketRefused('invalid_token');
      throw err;
    }
    if (who?.keyThumbprint === undefined) throw new TicketRefused('invalid_token');
    const session = typeof sessionId === 'string' ? await parts.sessions.get(sessionId) : undefined;
    if (session === undefined || session.revoked !== undefined || session.expiresAt <= Date.now() || session.memberId !== who.memberId || session.keyThumbprint !== who.keyThumbprint) throw new HttpError(410, 'no live session');
    try {
      await parts.proofs.verify({ proof, method: 'POST', url: parts.url, accessToken: t, thumbprint: who.keyThumbprint });
    } catch (err) {
      if (!isRefusal(err)) throw err;
      throw new TicketRefused(nonceClaim(proof) === parts.proofs.nonce() ? 'invalid_dpop_proof' : 'use_dpop_nonce');
    }
    return parts.issue(who.memberId);
  }
  return async (req, res) => {
    const { sessionId } = (await readJson(req)) as { sessionId?: unknown };
    const nonce = parts.proofs.nonce();
    if (nonce !== undefined) res.setHeader('DPoP-Nonce', nonce);
    let ticket: TicketResponse;
    try {
      ticket = await ticketFor(req, sessionId);
    } catch (err) {
      if (!(err instanceof TicketRefused)) throw err;
      res.setHeader('WWW-Authenticate', `DPoP error="${err.challenge}", algs="ES256"`);
      return sendJson(res, 401, { error: 'ERR_AUTH' });
    }
    return sendJson(res, 200, ticket);
  };
}

beforeAll(async () => {
  ({ server } = await serve(async (req, res) => {
    requests++;
    await served(req, res);
  }));
  origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  issuer = await testIssuer();
  page = await generateKeyPair('ES256');
  const jkt = await calculateJwkThumbprint(await exportJWK(page.publicKey));
  token = await issuer.token({ cnf: { jkt } });
  await sessions.add({ sessionId: 's1', memberId: 'M000001', createdAt: Date.now(), expiresAt: Date.now() + 3_600_000, keyThumbprint: jkt, primaryKeyId: 'k1' });
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** A fresh endpoint of either kind, with its own proof verifier (clock `clock`, nonce window 10 s). */
async function endpoint(kind: 'current' | 'previous'): Promise<DpopVerifier> {
  const proofs = dpopVerifier({ nonceSecret: crypto.getRandomValues(new Uint8Array(32)), nonceWindowSeconds: WINDOW_S, now: () => clock, replay: sessions });
  const tickets = await ticketIssuer({ portal: origin, issuer: ISSUER, keyEnvironment: KEY_ENV_AUDIENCE, dataEnvironment: 'https://data.example' });
  const parts: Parts = {
    authenticate: oidcAuthenticator({ issuer: ISSUER, audience: KEY_ENV_AUDIENCE, jwks: issuer.jwks }),
    proofs,
    sessions,
    url: `${origin}/ticket`,
    issue: async (memberId) => ({ ...(await tickets.issue([`p-${memberId}`])), self: `p-${memberId}`, dependants: {} }),
  };
  served = kind === 'current' ? ticketEndpoint(parts) : previousEndpoint(parts);
  return proofs;
}

interface Outcome {
  status: number;
  requests: number;
  /** The last answer's WWW-Authenticate and DPoP-Nonce. */
  challenge: string | null;
  nonce: string | null;
}

/** The page's ticket request (web/sso.ts: oauth4webapi, one nonce challenge answered), counted at the server. */
async function ask(dpop: oauth.DPoPHandle, at = `${origin}/ticket`): Promise<Outcome> {
  const before = requests;
  const once = (): Promise<Response> => oauth.protectedResourceRequest(token, 'POST', new URL(at), new Headers({ 'content-type': 'application/json' }), JSON.stringify({ sessionId: 's1' }), { DPoP: dpop, ...insecure });
  let res: Response;
  try {
    try {
      res = await once();
    } catch (err) {
      if (!oauth.isDPoPNonceError(err)) throw err;
      res = await once();
    }
  } catch (err) {
    if (!(err instanceof oauth.WWWAuthenticateChallengeError)) throw err;
    res = err.response;
  }
  await res.arrayBuffer();
  return { status: res.status, requests: requests - before, challenge: res.headers.get('www-authenticate'), nonce: res.headers.get('dpop-nonce') };
}

const otherKey = (): Promise<CryptoKeyPair> => generateKeyPair('ES256');

/** The three requests whose count differs, and the one that does not, against one endpoint. */
async function run(kind: 'current' | 'previous'): Promise<Record<string, Outcome>> {
  await endpoint(kind);
  const out: Record<string, Outcome> = {};
  // The member's page, first request (no nonce yet): the nonce challenge, then the ticket.
  out.good = await ask(oauth.DPoP(client, page));
  // A proof by another key than the token's and the session's (no nonce yet).
  out.otherKey = await ask(oauth.DPoP(client, await otherKey()));
  // A proof for another URL (the page called localhost, the endpoint is 127.0.0.1): a bad proof.
  out.otherUrl = await ask(oauth.DPoP(client, page), `${origin.replace('127.0.0.1', 'localhost')}/ticket`);
  // Another key's proof with the previous window's nonce, still valid but no longer the current one.
  const stale = oauth.DPoP(client, await otherKey());
  await ask(stale); // the handle learns the nonce of this window
  clock += WINDOW_S * 1000;
  try {
    out.staleNonce = await ask(stale);
    // Control: the previous nonce still opens the ticket from the member's own key, in one round trip.
    const own = oauth.DPoP(client, page);
    clock -= WINDOW_S * 1000;
    await ask(own); // learns this window's nonce (and uses it)
    clock += WINDOW_S * 1000;
    out.goodStaleNonce = await ask(own);
  } finally {
    clock -= WINDOW_S * 1000;
  }
  return out;
}

describe('the demo\'s ticket endpoint answers refusals from tokumei\'s public refusal (authRefusal)', () => {
  it('a bad proof costs the page one round trip (the previous endpoint: two); the answers are RFC 9449\'s', async () => {
    const previous = await run('previous');
    const current = await run('current');
    const trips = (o: Record<string, Outcome>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, [v.status, v.requests]]));
    // Positive control: the previous endpoint sent every bad proof through the nonce challenge first.
    expect(trips(previous)).toEqual({ good: [200, 2], otherKey: [401, 2], otherUrl: [401, 2], staleNonce: [401, 2], goodStaleNonce: [200, 1] });
    expect(trips(current)).toEqual({ good: [200, 2], otherKey: [401, 1], otherUrl: [401, 1], staleNonce: [401, 1], goodStaleNonce: [200, 1] });
    // RFC 9449 §7.1: a token bound to another key is invalid_token; a proof for another URL is invalid_dpop_proof.
    expect(current.otherKey!.challenge).toBe('DPoP error="invalid_token", algs="ES256"');
    expect(current.staleNonce!.challenge).toBe('DPoP error="invalid_token", algs="ES256"');
    expect(current.otherUrl!.challenge).toBe('DPoP error="invalid_dpop_proof", algs="ES256"');
    for (const o of Object.values(current)) expect(o.nonce).toMatch(/^[A-Za-z0-9_-]{22}$/);
  }, 60_000);

  it('the nonce challenge: 401, WWW-Authenticate use_dpop_nonce, and the nonce to sign in DPoP-Nonce', async () => {
    const proofs = await endpoint('current');
    const before = requests;
    const res = await fetch(`${origin}/ticket`, { method: 'POST', headers: { authorization: `DPoP ${token}`, dpop: await selfProof(), 'content-type': 'application/json' }, body: '{"sessionId":"s1"}' });
    expect(requests - before).toBe(1);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('DPoP error="use_dpop_nonce", algs="ES256"');
    expect(res.headers.get('dpop-nonce')).toBe(proofs.nonce());
    expect(await res.json()).toEqual({ error: 'ERR_AUTH' });
    // No token: invalid_token; no proof: invalid_dpop_proof; no live session: 410, not a credential refusal.
    const bare = await fetch(`${origin}/ticket`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"sessionId":"s1"}' });
    expect([bare.status, bare.headers.get('www-authenticate')]).toEqual([401, 'DPoP error="invalid_token", algs="ES256"']);
    const noProof = await fetch(`${origin}/ticket`, { method: 'POST', headers: { authorization: `DPoP ${token}`, 'content-type': 'application/json' }, body: '{"sessionId":"s1"}' });
    expect([noProof.status, noProof.headers.get('www-authenticate')]).toEqual([401, 'DPoP error="invalid_dpop_proof", algs="ES256"']);
    const gone = await fetch(`${origin}/ticket`, { method: 'POST', headers: { authorization: `DPoP ${token}`, dpop: await selfProof(), 'content-type': 'application/json' }, body: '{"sessionId":"s-unknown"}' });
    expect([gone.status, gone.headers.get('www-authenticate')]).toEqual([410, null]);
  });
});

/** A proof of the page's key for the ticket URL, without a nonce. */
async function selfProof(): Promise<string> {
  const jwk = await exportJWK(page.publicKey);
  return proof({ privateKey: page.privateKey, jwk, thumbprint: await calculateJwkThumbprint(jwk) }, { htu: `${origin}/ticket`, accessToken: token });
}
