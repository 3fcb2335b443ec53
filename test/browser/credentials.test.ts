// The browser side of the credential rules in real Chromium: the page signs DPoP proofs with its
// own non-extractable key (WebCrypto), answers the key environment's nonce challenge once, is
// refused a delivery for another member, extends its session with a renewed token, and ends the
// key-environment session when the tab is closed in memory mode — but not when the page goes
// away in IndexedDB mode, where the reload resumes.
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { keyEnvironmentHandler, memorySessionRegistry, type KeyEnvironment, type SessionRegistry } from '../../src/server.ts';
import { dpopKeyEnvironment, testIssuer, type TestIssuer } from '../server/auth/helpers.ts';
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
