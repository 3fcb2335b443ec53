// The demo's two environments at the HTTP level, with members signed in through the real
// OpenID Provider from Node: each environment accepts only the access token issued for it
// (RFC 8707 audiences), the data environment checks DPoP proofs, refuses identity values that
// are not sealed, and serves attribute records only for the pseudonyms a key-environment ticket
// names — one member cannot read or write another's checkups or vitals.
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TicketResponse } from '../../examples/portal/shared/ticket.ts';
import { httpKeyProvider } from '../../src/index.ts';
import { startDemo, type RunningDemo } from './demo-process.ts';
import { demoSso, newDpopKey, signInFromNode, type DemoSso, type NodeMember } from './oidc-client.ts';

let demo: RunningDemo;
let sso: DemoSso;

beforeAll(async () => {
  demo = await startDemo({ members: 60 });
  sso = await demoSso(demo.url);
}, 300_000); // the first start creates the key environment's embedded database (PGlite's initdb, ~13 s of CPU)
afterAll(async () => {
  await demo?.stop();
});

const claims = (jwt: string): Record<string, unknown> => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;

async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

/** Signs in, opens a key-environment session, and asks for the session's ticket. */
async function withTicket(memberId: string): Promise<{ member: NodeMember; sessionId: string; ticket: TicketResponse }> {
  const member = await signInFromNode(sso, memberId);
  const keys = await member.deliver();
  keys.keyring.destroy();
  const res = await member.fetch(member.keyToken, 'POST', `${sso.portal}/key-env/ticket`, { sessionId: keys.sessionId });
  expect(res.status).toBe(200);
  return { member, sessionId: keys.sessionId, ticket: (await res.json()) as TicketResponse };
}

function withTicketHeader(ticket: string, path: string, body: unknown): Promise<Response> {
  return fetch(`${sso.portal}${path}`, { method: 'POST', headers: { authorization: `Ticket ${ticket}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

describe('the demo environments over HTTP', () => {
  it('give each environment a token of its own audience: the key environment refuses the data environment\'s, and the other way round', async () => {
    const member = await signInFromNode(sso, 'M000020');
    expect(claims(member.keyToken).aud).toBe(sso.keyEnvironment);
    expect(claims(member.dataToken).aud).toBe(sso.dataEnvironment);
    expect((claims(member.keyToken).cnf as { jkt?: string }).jkt).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(claims(member.dataToken).cnf).toEqual(claims(member.keyToken).cnf);

    // Positive controls: each token works where it belongs.
    const keys = await member.deliver();
    expect(keys.keyring.keyIds.length).toBeGreaterThan(0);
    keys.keyring.destroy();
    expect((await member.fetch(member.dataToken, 'GET', `${sso.portal}/data-env/persons/M000020`)).status).toBe(200);

    // …and nowhere else.
    const asKeyToken = httpKeyProvider({ url: `${sso.portal}/key-env/session`, getToken: () => member.dataToken });
    expect(await errorCode(asKeyToken.fetchKeys({}))).toBe('ERR_AUTH');
    expect((await member.fetch(member.keyToken, 'GET', `${sso.portal}/data-env/persons/M000020`)).status).toBe(401);
    // The ID token is for the portal (its client id), not for either environment.
    expect(claims(member.idToken).aud).toBe(sso.clientId);
    const asIdToken = httpKeyProvider({ url: `${sso.portal}/key-env/session`, getToken: () => member.idToken });
    expect(await errorCode(asIdToken.fetchKeys({}))).toBe('ERR_AUTH');
  }, 60_000);

  it('the key environment requires DPoP: its own fresh token as a bearer token, or proven with another key, opens nothing; a ticket needs a proof of the session\'s key', async () => {
    const member = await signInFromNode(sso, 'M000023');
    const url = `${sso.portal}/key-env/session`;
    expect(await errorCode(httpKeyProvider({ url, getToken: () => member.keyToken }).fetchKeys({}))).toBe('ERR_AUTH');
    expect(await errorCode(httpKeyProvider({ url, getToken: () => member.keyToken, dpopKey: await newDpopKey() }).fetchKeys({}))).toBe('ERR_AUTH');
    // Positive control: the same token, proven with its own key, was not used up by the refusals.
    const keys = await member.deliver();
    keys.keyring.destroy();
    // A ticket: the token and the live session with a proof of another key, then with its own.
    const other = oauth.DPoP(member.client, await newDpopKey());
    const ticketUrl = new URL(`${sso.portal}/key-env/ticket`);
    const body = JSON.stringify({ sessionId: keys.sessionId });
    // The status of a request (oauth4webapi throws on a 401 with a challenge); the nonce challenge answered once.
    const status = (request: () => Promise<Response>): Promise<number> => {
      const once = (): Promise<number> => request().then((r) => r.status, (err: unknown) => {
        if (!oauth.isDPoPNonceError(err) && err instanceof oauth.WWWAuthenticateChallengeError) return err.status;
        throw err;
      });
      return once().catch((err: unknown) => (oauth.isDPoPNonceError(err) ? once() : Promise.reject(err)));
    };
    expect(await status(() => oauth.protectedResourceRequest(member.keyToken, 'POST', ticketUrl, new Headers({ 'content-type': 'application/json' }), body, { DPoP: other, [oauth.allowInsecureRequests]: true }))).toBe(401);
    expect((await member.fetch(member.keyToken, 'POST', ticketUrl.href, { sessionId: keys.sessionId })).status).toBe(200);
  }, 60_000);

  it('the data environment checks the DPoP proof: none, another key\'s, or one used before is refused', async () => {
    const member = await signInFromNode(sso, 'M000021');
    const url = `${sso.portal}/data-env/persons/M000021`;
    expect((await member.fetch(member.dataToken, 'GET', url)).status).toBe(200);
    expect((await fetch(url, { headers: { authorization: `Bearer ${member.dataToken}` } })).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: `DPoP ${member.dataToken}` } })).status).toBe(401);
    // A proof signed by another key than the one the token is bound to.
    const other = oauth.DPoP(member.client, await newDpopKey());
    const foreign = await oauth.protectedResourceRequest(member.dataToken, 'GET', new URL(url), new Headers(), null, { DPoP: other, [oauth.allowInsecureRequests]: true });
    expect(foreign.status).toBe(401);
    // A proof replayed: the first use works, the second is refused.
    let captured: Headers | undefined;
    const first = await oauth.protectedResourceRequest(member.dataToken, 'GET', new URL(url), new Headers(), null, {
      DPoP: member.dpop,
      [oauth.allowInsecureRequests]: true,
      [oauth.customFetch]: (u, init) => {
        captured = new Headers(init.headers);
        return fetch(u, init as RequestInit);
      },
    });
    expect(first.status).toBe(200);
    expect((await fetch(url, { headers: captured! })).status).toBe(401);
  }, 60_000);

  it('the data environment keeps identity values sealed and each member\'s records their own', async () => {
    const member = await signInFromNode(sso, 'M000022');
    const url = `${sso.portal}/data-env/persons/M000022`;
    const sealed = (await (await member.fetch(member.dataToken, 'GET', url)).json()) as Record<string, unknown>;
    expect(sealed.fullName).toMatch(/^tk1\./);
    const plaintext = await member.fetch(member.dataToken, 'PUT', url, { ...sealed, address: '東京都港区1-1' });
    expect(plaintext.status).toBe(400);
    // Plaintext dressed up as an envelope is refused too: it is not shaped like a sealed value.
    const dressed = await member.fetch(member.dataToken, 'PUT', url, { ...sealed, address: `tk1.${Buffer.from('東京都港区1-1').toString('base64url')}` });
    expect(dressed.status).toBe(400);
    expect(await dressed.json()).toEqual({ error: 'field "address" must be a sealed value: envelope version byte is not 1' });
    const stored = JSON.stringify(await demo.readDataEnvironment((db) => db.identity('M000022')));
    expect(stored).toContain(sealed.fullName as string); // the record is there, sealed
    expect(stored).not.toContain('東京都港区1-1');
    // The positive control: the record as it was is accepted.
    expect((await member.fetch(member.dataToken, 'PUT', url, sealed)).status).toBe(200);
    expect((await member.fetch(member.dataToken, 'GET', `${sso.portal}/data-env/persons/M000023`)).status).toBe(403);
    expect((await fetch(url)).status).toBe(401);
    // Key-environment administration is not routed by the portal's gateway.
    expect((await fetch(`${sso.portal}/key-env/admin/revoke`, { method: 'POST', body: '{}' })).status).toBe(404);
  }, 120_000); // reads the data environment's database from a copy: seconds on a busy machine

  it('attribute records need a ticket naming their pseudonym: one member cannot read or write another\'s checkups or vitals', async () => {
    const a = await withTicket('M000030');
    const b = await withTicket('M000031');
    // The ticket names pseudonyms only — no member id — and only the data environment accepts it.
    const t = claims(a.ticket.ticket);
    expect(t.aud).toBe(sso.dataEnvironment);
    expect(t.psn).toEqual([a.ticket.self, ...Object.values(a.ticket.dependants)]);
    expect(JSON.stringify(t)).not.toMatch(/M0000/);
    expect((t.exp as number) - (t.iat as number)).toBeLessThanOrEqual(300);

    // Positive controls: each member reads and writes their own.
    const own = await withTicketHeader(a.ticket.ticket, '/data-env/attributes/read', { pseudonym: a.ticket.self });
    expect(own.status).toBe(200);
    expect(((await own.json()) as { checkups: unknown[] }).checkups.length).toBe(5);
    expect((await withTicketHeader(a.ticket.ticket, '/data-env/attributes/vitals', { pseudonym: a.ticket.self, weightKg: 60, systolic: 120, diastolic: 80 })).status).toBe(200);
    const today = new Date().toISOString().slice(0, 10);
    expect((await demo.readDataEnvironment((db) => db.attributes(a.ticket.self)))?.vitals).toEqual([{ date: today, weightKg: 60, systolic: 120, diastolic: 80 }]);

    // The attack: A's ticket with B's pseudonym.
    const bRecord = (): Promise<unknown> => demo.readDataEnvironment((db) => db.attributes(b.ticket.self));
    const before = await bRecord();
    expect(before).toMatchObject({ pseudonym: b.ticket.self });
    expect((await withTicketHeader(a.ticket.ticket, '/data-env/attributes/read', { pseudonym: b.ticket.self })).status).toBe(403);
    expect((await withTicketHeader(a.ticket.ticket, '/data-env/attributes/vitals', { pseudonym: b.ticket.self, weightKg: 99, systolic: 200, diastolic: 120 })).status).toBe(403);
    expect(await bRecord()).toEqual(before);
    expect((before as { vitals: unknown[] }).vitals).toEqual([]);
    expect((await withTicketHeader(b.ticket.ticket, '/data-env/attributes/read', { pseudonym: b.ticket.self })).status).toBe(200);

    // No ticket, an access token instead of a ticket, a forged ticket: refused.
    const read = `${sso.portal}/data-env/attributes/read`;
    expect((await fetch(read, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pseudonym: a.ticket.self }) })).status).toBe(401);
    expect((await a.member.fetch(a.member.dataToken, 'POST', read, { pseudonym: a.ticket.self })).status).toBe(401);
    const [h, , s] = a.ticket.ticket.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...t, psn: [b.ticket.self] })).toString('base64url')}.${s}`;
    expect((await withTicketHeader(forged, '/data-env/attributes/read', { pseudonym: b.ticket.self })).status).toBe(401);
    // The old address of attribute records (a pseudonym in the URL) is gone.
    expect((await fetch(`${sso.portal}/data-env/attributes/${a.ticket.self}`, { headers: { authorization: `Ticket ${a.ticket.ticket}` } })).status).toBe(404);

    // A ticket only for a live session of the token's own member.
    const ticketFor = (m: NodeMember, sessionId: string): Promise<Response> => m.fetch(m.keyToken, 'POST', `${sso.portal}/key-env/ticket`, { sessionId });
    expect((await ticketFor(a.member, b.sessionId)).status).not.toBe(200);
    await a.member.endSession(a.sessionId);
    expect((await ticketFor(a.member, a.sessionId)).status).toBe(410);
  }, 180_000);
});
