// The browser side of the credential rules in real Chromium: the page signs DPoP proofs with its
// own non-extractable key (WebCrypto), answers the key environment's nonce challenge once, is
// refused a delivery for another member, extends its session with a renewed token, and ends the
// key-environment session when the tab is closed in memory mode — but not when the page goes
// away in IndexedDB mode, where the reload resumes. Then the attacks, each with its positive
// control in the same test: a proof for another URL, another method or of another key; a
// replayed proof; a spent token; and a resume after each wipe reason by an attacker holding the
// member's next token and the device key itself.
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { keyEnvironmentHandler, memorySessionRegistry, type KeyEnvironment, type SessionRegistry } from '../../src/server.ts';
import { generateRecipientKeyPair, openBase } from '../../src/delivery/open.ts';
import { decodeKeyringPayload, deliveryInfo, DELIVERY_PROTOCOL, suiteFor } from '../../src/delivery/payload.ts';
import { dpopKey as otherKey, dpopKeyEnvironment, proof as proofOf, testIssuer, type TestIssuer } from '../server/auth/helpers.ts';
import { launchChromium, type LaunchedChromium } from './chromium.ts';
import type { CredentialsPageApi } from './credentials.page.ts';
import { servePage, type PageServer } from './server.ts';

declare const tkc: CredentialsPageApi;
const KEY_ENV = '/key-env/session';

let issuer: TestIssuer;
let env: KeyEnvironment;
let sessions: SessionRegistry;
let server: PageServer;
let browser: LaunchedChromium;

beforeAll(async () => {
  issuer = await testIssuer();
  sessions = memorySessionRegistry();
  env = await dpopKeyEnvironment(issuer, { sessions, sessionLifetimeMs: 3_600_000 });
  const handler = keyEnvironmentHandler(env, { path: KEY_ENV });
  server = await servePage(new URL('./credentials.page.ts', import.meta.url).pathname, { handler: (req, res, next) => handler(req, res, next) });
  browser = await launchChromium();
}, 90_000);
afterAll(async () => {
  await browser.close();
  await server.close();
});

async function app(): Promise<Page> {
  const page = await browser.context.newPage();
  await page.goto(`${server.origin}/app`);
  await page.waitForFunction(() => 'tkc' in globalThis);
  return page;
}

/** A token from the "OIDC client", bound to the page's DPoP key. */
async function giveToken(page: Page, claims: Record<string, unknown> = {}): Promise<string> {
  const jkt = await calculateJwkThumbprint((await page.evaluate(() => tkc.publicJwk())) as JWK);
  const token = await issuer.token({ cnf: { jkt }, ...claims });
  await page.evaluate((t) => tkc.setToken(t), token);
  return jkt;
}

const reasonAtKeyEnvironment = async (id: string) => (await sessions.get(id))?.revoked?.reason;

describe('DPoP in Chromium', () => {
  it('signs in with proofs from a non-extractable key; the nonce challenge is answered once; refresh extends the session', async () => {
    const page = await app();
    expect(await page.evaluate(() => tkc.privateKeyExportable())).toBe(false);
    const jkt = await giveToken(page, { exp: Math.floor(Date.now() / 1000) + 120 });
    const signedIn = await page.evaluate((url) => tkc.signIn({ url, persistence: 'memory' }), KEY_ENV);
    if (typeof signedIn === 'string') throw new Error(signedIn);
    expect((await sessions.get(signedIn.sessionId))?.keyThumbprint).toBe(jkt);
    expect((await page.evaluate(() => tkc.status())).wire).toEqual([
      { path: KEY_ENV, status: 401 }, // use_dpop_nonce
      { path: KEY_ENV, status: 200 },
    ]);
    // The OIDC client renews the token: the session is extended, no new delivery, no challenge.
    const later = Math.floor(Date.now() / 1000) + 900;
    await giveToken(page, { exp: later });
    expect(await page.evaluate(() => tkc.refresh())).toBe(later * 1000);
    expect((await page.evaluate(() => tkc.status())).wire.slice(2)).toEqual([{ path: `${KEY_ENV}/refresh`, status: 200 }]);
    expect((await sessions.get(signedIn.sessionId))?.expiresAt).toBe(later * 1000);
    await page.evaluate(() => tkc.logoff());
    await vi.waitFor(async () => expect(await reasonAtKeyEnvironment(signedIn.sessionId)).toBe('logoff'), { timeout: 10_000 });
    await page.close();
  }, 90_000);

  it('a delivery for another member than the one the app signed in is refused', async () => {
    const page = await app();
    await giveToken(page, { sub: 'M000002' });
    expect(await page.evaluate((url) => tkc.signIn({ url, persistence: 'memory', memberId: 'M000001' }), KEY_ENV)).toBe('ERR_AUTH');
    await page.close();
  }, 90_000);

  it('memory mode: closing the tab ends the key-environment session (pagehide, keepalive, no proof)', async () => {
    const page = await app();
    await giveToken(page);
    const signedIn = await page.evaluate((url) => tkc.signIn({ url, persistence: 'memory' }), KEY_ENV);
    if (typeof signedIn === 'string') throw new Error(signedIn);
    expect(await env.sessionStatus(signedIn.sessionId)).toBe('active');
    await page.close({ runBeforeUnload: true });
    await vi.waitFor(async () => expect(await reasonAtKeyEnvironment(signedIn.sessionId)).toBe('pagehide'), { timeout: 10_000, interval: 50 });
  }, 90_000);

  it('IndexedDB mode: leaving the page keeps the session, and the reload resumes it with the same key', async () => {
    const page = await app();
    await giveToken(page);
    const signedIn = await page.evaluate((url) => tkc.signIn({ url, persistence: 'indexeddb' }), KEY_ENV);
    if (typeof signedIn === 'string') throw new Error(signedIn);
    await page.goto(`${server.origin}/other`); // pagehide
    await new Promise((r) => setTimeout(r, 500));
    expect(await env.sessionStatus(signedIn.sessionId)).toBe('active');
    await page.goto(`${server.origin}/app`);
    await page.waitForFunction(() => 'tkc' in globalThis);
    await giveToken(page); // the OIDC client's silent sign-in: a new token for the same key
    const resumed = await page.evaluate((url) => tkc.signIn({ url, persistence: 'indexeddb' }), KEY_ENV);
    expect(resumed).toMatchObject({ sessionId: signedIn.sessionId, resumed: true });
    await page.evaluate(() => tkc.logoff());
    await vi.waitFor(async () => expect(await reasonAtKeyEnvironment(signedIn.sessionId)).toBe('logoff'), { timeout: 10_000 });
    await page.close();
  }, 90_000);
});

/** The key environment's current DPoP nonce (every answer carries it; an unknown session's status is public). */
async function currentNonce(): Promise<string> {
  const res = await fetch(`${server.origin}${KEY_ENV}/status`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ protocol: DELIVERY_PROTOCOL, sessionId: 's1.unknown' }) });
  await res.body?.cancel();
  return res.headers.get('dpop-nonce') ?? '';
}

/** A proof signed in the page with its DPoP key (what an attacker holding the device key can make). */
const pageProof = (page: Page, c: { htu: string; htm?: string; nonce?: string; token?: string }): Promise<string> => page.evaluate((c) => tkc.proof(c), c);

/**
 * A delivery (with `sessionId`: a resume) sent from outside the browser, as an attacker would:
 * a fresh ephemeral key of the attacker's, the given token, and the proof `sign` makes for the
 * server's current nonce. `keyring` says whether a keyring came back and opened.
 */
async function deliverAs(sign: (nonce: string, htu: string) => Promise<string>, token: string, sessionId?: string): Promise<{ status: number; keyring: boolean }> {
  const htu = `${server.origin}${KEY_ENV}`;
  const nonce = await currentNonce();
  const recipient = await generateRecipientKeyPair(suiteFor('P-256')!.kem);
  const res = await fetch(htu, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `DPoP ${token}`, dpop: await sign(nonce, htu) },
    body: JSON.stringify({ protocol: DELIVERY_PROTOCOL, kem: 'P-256', publicKey: Buffer.from(recipient.publicKey).toString('base64url'), ...(sessionId === undefined ? {} : { sessionId }) }),
  });
  const body = (await res.json()) as { enc: string; ciphertext: string; memberId: string; sessionId: string; expiresAt: number };
  if (res.status !== 200) return { status: res.status, keyring: false };
  const bytes = (v: string): Uint8Array => new Uint8Array(Buffer.from(v, 'base64url'));
  const payload = await openBase(suiteFor('P-256')!, recipient, bytes(body.enc), deliveryInfo(body.memberId, body.sessionId, body.expiresAt), new Uint8Array(0), bytes(body.ciphertext));
  decodeKeyringPayload(payload).destroy();
  payload.fill(0);
  return { status: 200, keyring: true };
}

describe('attacks on the credentials, in Chromium (each with its positive control)', () => {
  it('a proof for another URL or method, or of another key, is refused; the page\'s own proof with the same token opens (control); that token is then spent', async () => {
    const page = await app();
    const jkt = await giveToken(page);
    const token = await issuer.token({ cnf: { jkt } });
    // A proof made for another endpoint, for another method, or signed with a key the token is not bound to.
    expect(await deliverAs((nonce, htu) => pageProof(page, { htu: `${htu}/status`, nonce, token }), token)).toEqual({ status: 401, keyring: false });
    expect(await deliverAs((nonce, htu) => pageProof(page, { htu, htm: 'GET', nonce, token }), token)).toEqual({ status: 401, keyring: false });
    const other = await otherKey();
    expect(await deliverAs((nonce, htu) => proofOf(other, { htu, nonce, accessToken: token }), token)).toEqual({ status: 401, keyring: false });
    // Control: none of those refusals used the token up — with a proof of its own key it opens.
    expect(await deliverAs((nonce, htu) => pageProof(page, { htu, nonce, token }), token)).toEqual({ status: 200, keyring: true });
    // Spent: the same token with another fresh, valid proof opens no second session.
    expect(await deliverAs((nonce, htu) => pageProof(page, { htu, nonce, token }), token)).toEqual({ status: 401, keyring: false });
    await page.close();
  }, 90_000);

  it('a proof replayed is refused (the first use of the same proof is the control)', async () => {
    const page = await app();
    await giveToken(page);
    const signedIn = await page.evaluate((url) => tkc.signIn({ url, persistence: 'memory' }), KEY_ENV);
    if (typeof signedIn === 'string') throw new Error(signedIn);
    const htu = `${server.origin}${KEY_ENV}/status`;
    const nonce = await currentNonce();
    const held = await pageProof(page, { htu, nonce });
    const send = () => fetch(htu, { method: 'POST', headers: { 'content-type': 'application/json', dpop: held }, body: JSON.stringify({ protocol: DELIVERY_PROTOCOL, sessionId: signedIn.sessionId }) });
    const first = await send();
    expect([first.status, await first.json()]).toEqual([200, { status: 'active' }]);
    expect((await send()).status).toBe(401); // the same proof (same jti) a second time
    await page.evaluate(() => tkc.logoff());
    await page.close();
  }, 90_000);

  /** How each wipe is brought about in the page (`page` signed in already, `second` a tab of the same member). */
  const wipes: { reason: string; options?: Record<string, unknown>; wipe: (page: Page, sessionId: string) => Promise<void> }[] = [
    { reason: 'logoff', wipe: (page) => page.evaluate(() => tkc.logoff()) },
    { reason: 'idle', options: { idleTimeoutMs: 12_000 }, wipe: () => Promise.resolve() },
    { reason: 'expired', options: { maxLifetimeMs: 14_000 }, wipe: () => Promise.resolve() },
    { reason: 'revoked', options: { revocationCheckMs: 200 }, wipe: async (_, id) => void (await env.revokeSession(id, 'revoked')) },
    { reason: 'pagehide', wipe: (page) => page.close({ runBeforeUnload: true }) },
    {
      reason: 'remote-logoff',
      options: { crossTab: true },
      wipe: async (page) => {
        // The member logs off in another tab of the same portal.
        const other = await app();
        await giveToken(other);
        const s = await other.evaluate((url) => tkc.signIn({ url, persistence: 'memory', crossTab: true }), KEY_ENV);
        if (typeof s === 'string') throw new Error(s);
        await other.evaluate(() => tkc.logoff());
        await page.waitForFunction(() => tkc.status().state === 'closed', undefined, { timeout: 10_000 });
        await other.close();
      },
    },
  ];

  it.each(wipes)('resume after $reason: before the wipe a fresh token with a proof of the device key resumes (control); after it, nothing does', async ({ reason, options, wipe }) => {
    // The strongest attacker: the member's next tokens (bound to the device key) and proofs of
    // that key, made in a tab of the origin (it holds the same stored key after the first closes).
    const attacker = await app();
    const page = await app();
    const jkt = await giveToken(page);
    const signedIn = await page.evaluate(([url, o]) => tkc.signIn({ url, persistence: 'memory', ...o }), [KEY_ENV, options ?? {}] as const);
    if (typeof signedIn === 'string') throw new Error(signedIn);
    const { sessionId } = signedIn;
    let token = '';
    const resume = async () => deliverAs((nonce, htu) => pageProof(attacker, { htu, nonce, token }), (token = await issuer.token({ cnf: { jkt } })), sessionId);
    expect(await resume()).toEqual({ status: 200, keyring: true }); // control: the session is live, so the attack works now
    await wipe(page, sessionId);
    await vi.waitFor(async () => expect(await reasonAtKeyEnvironment(sessionId)).toBe(reason), { timeout: 15_000, interval: 100 });
    expect(await resume()).toEqual({ status: 410, keyring: false });
    await attacker.close();
    if (!page.isClosed()) await page.close();
  }, 90_000);
});
