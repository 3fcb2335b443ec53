// Only the member's own signed-in device can turn a credential into keys — attacked through the
// demo in real Chromium, each attack beside a positive control in the same test:
//
// (a) everything the data environment receives during a full portal session (every header, body
//     field and URL, recorded by the data environment itself), replayed to the key environment
//     as a delivery or a resume with a fresh ephemeral key: no keyring;
// (b) a key-environment request captured whole while the member is signed in, replayed later
//     with a fresh ephemeral key: no keyring — while the same kind of capture, replayed before
//     the key environment saw the original, does get one;
// (c) every token-like string in any Chromium process's memory or any profile file after
//     logoff, after an idle wipe and after a tab close in memory mode, replayed to the key
//     environment (and each opaque one to the SSO as a refresh token): no keyring, and no live
//     refresh token left — while signed in, the same scan finds the access, refresh and ID
//     tokens and the DPoP proofs.
import * as oauth from 'oauth4webapi';
import type { Page, Request, Route } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPids, launchChromium, type LaunchedChromium } from '../browser/chromium.ts';
import { startDemo, type RunningDemo } from './demo-process.ts';
import { demoSso, newDpopKey, signInFromNode, signInInBrowser, type DemoSso } from './oidc-client.ts';
import { attemptsFor, flatHeaders, replay, replayAll, stringsOf, type ReplayAttempt, type ReplayResult } from './replay.ts';
import { jwtParts, noCandidates, tokensInFiles, tokensInMemory, type TokenCandidates } from './token-scan.ts';

let demo: RunningDemo;
let sso: DemoSso;
let browser: LaunchedChromium | undefined;
let attackerKey: CryptoKeyPair;

beforeAll(async () => {
  demo = await startDemo({ members: 200 });
  sso = await demoSso(demo.url);
  attackerKey = await newDpopKey();
}, 300_000); // the first start creates the key environment's embedded database (PGlite's initdb)
afterEach(async () => {
  await browser?.close();
  browser = undefined;
});
afterAll(async () => {
  await demo?.stop();
});

/** What the browser sent and received, as a network observer inside the device would see it. */
interface Traffic {
  /** Token endpoint answers: access, refresh and ID tokens. */
  accessTokens: Set<string>;
  refreshTokens: Set<string>;
  idTokens: Set<string>;
  /** Every DPoP proof the page sent, to any server. */
  proofs: Set<string>;
  /** Every key-environment request, whole. */
  keyEnvironment: { url: string; headers: Record<string, string>; body: string | null }[];
  /** The key-environment session ids delivered to the page. */
  sessionIds: Set<string>;
  /** Authorization codes the SSO sent the page back with. */
  codes: Set<string>;
}

function watch(page: Page): Traffic {
  const t: Traffic = { accessTokens: new Set(), refreshTokens: new Set(), idTokens: new Set(), proofs: new Set(), keyEnvironment: [], sessionIds: new Set(), codes: new Set() };
  page.on('request', (req: Request) => {
    const code = req.url().startsWith(sso.portal) ? new URL(req.url()).searchParams.get('code') : null;
    if (code !== null) t.codes.add(code);
    void req.allHeaders().then((headers) => {
      if (headers.dpop !== undefined) t.proofs.add(headers.dpop);
      if (req.url().startsWith(`${sso.portal}/key-env/`)) t.keyEnvironment.push({ url: req.url(), headers, body: req.postData() });
    });
  });
  page.on('response', (res) => {
    const url = res.url();
    if (url === `${sso.issuer}/token` && res.ok()) {
      void res.json().then((body: { access_token?: string; refresh_token?: string; id_token?: string }) => {
        if (body.access_token !== undefined) t.accessTokens.add(body.access_token);
        if (body.refresh_token !== undefined) t.refreshTokens.add(body.refresh_token);
        if (body.id_token !== undefined) t.idTokens.add(body.id_token);
      });
    }
    if (url === `${sso.portal}/key-env/session` && res.ok()) void res.json().then((body: { sessionId?: string }) => body.sessionId !== undefined && t.sessionIds.add(body.sessionId));
  });
  return t;
}

async function newPage(): Promise<Page> {
  browser ??= await launchChromium();
  const page = await browser.context.newPage();
  page.setDefaultTimeout(30_000);
  return page;
}

const signIn = (page: Page, memberId: string, query = ''): Promise<void> => signInInBrowser(page, demo.url, memberId, query);

/** Uses the portal as a member does: a dependant's record, the vitals form. */
async function usePortal(page: Page, dependantId: string | undefined): Promise<void> {
  if (dependantId !== undefined) {
    await page.getByTestId(`dependant-${dependantId}`).click();
    await page.getByTestId('dependant-detail').waitFor();
  }
  await page.getByTestId('vitals-weight').fill('61.5');
  await page.getByTestId('vitals-systolic').fill('118');
  await page.getByTestId('vitals-diastolic').fill('76');
  await page.getByTestId('vitals-submit').click();
  await expect.poll(() => page.getByTestId('vitals-saved').textContent()).toContain('保存しました');
}

function memberWithDependants(from: number): number {
  for (let n = from; ; n++) if (demo.member(n).dependants.length > 0) return n;
}

/** The attacker's own legitimate sign-in, through the same harness: it must get a keyring. */
async function harnessControl(memberId: string): Promise<ReplayResult> {
  const own = await signInFromNode(sso, memberId);
  return replay(sso.portal, { label: 'the attacker\'s own sign-in', token: own.keyToken, proofKey: own.dpopKey });
}

const keyrings = (results: ReplayResult[]): string[] => results.filter((r) => r.keyring).map((r) => r.label);

describe('credentials outside the device\'s key-delivery channel yield no keys (Chromium, through the demo)', () => {
  it('(a) nothing the data environment receives during a full portal session opens a key session', async () => {
    const m = demo.member(memberWithDependants(1));
    const page = await newPage();
    const traffic = watch(page);
    const recordedBefore = demo.dataEnvironmentRequests().length;
    await signIn(page, m.memberId);
    await usePortal(page, m.dependants[0]!.recordId);
    await page.getByTestId('address-input').fill('〒100-0001 東京都千代田区千代田1-1');
    await page.getByTestId('address-submit').click();
    await expect.poll(() => page.getByTestId('address-saved').textContent()).toContain('保存しました');
    const received = demo.dataEnvironmentRequests().slice(recordedBefore);
    // What the data environment saw: its own DPoP-bound token and proofs, tickets, sealed values.
    expect(received.some((r) => /^DPoP /.test(String(r.headers.authorization)) && r.headers.dpop !== undefined)).toBe(true);
    expect(received.some((r) => /^Ticket /.test(String(r.headers.authorization)))).toBe(true);
    const seen = new Set(received.flatMap((r) => [...stringsOf(r)]));
    // No token it received is addressed to the key environment.
    for (const s of seen) expect(jwtParts(s)?.payload.aud).not.toBe(sso.keyEnvironment);
    const sessionId = [...traffic.sessionIds][0]!;
    expect(sessionId).toMatch(/^s1\./);

    const attempts: ReplayAttempt[] = [];
    [...seen].forEach((s, i) => {
      attempts.push({ label: `string #${i} as a bearer token`, token: s });
      attempts.push({ label: `string #${i} proven with the attacker's key`, token: s, proofKey: attackerKey });
      attempts.push({ label: `string #${i} resuming the live session with the attacker's key`, token: s, proofKey: attackerKey, resume: sessionId });
    });
    received.forEach((r, i) => {
      attempts.push({ label: `request #${i}'s headers, whole`, headers: flatHeaders(r) });
      attempts.push({ label: `request #${i}'s headers, whole, resuming the live session`, headers: flatHeaders(r), resume: sessionId });
    });
    const results = await replayAll(sso.portal, attempts);
    expect(results.length).toBe(attempts.length);
    expect(keyrings(results)).toEqual([]);

    // Positive controls, in the same test: the member's own session worked (the page shows the
    // decrypted name), and the same harness gets a keyring from a key-environment credential.
    expect(await page.getByTestId('member-name').textContent()).toBe(m.identity.fullName);
    expect(await harnessControl('M000150')).toEqual({ label: 'the attacker\'s own sign-in', keyring: true });
    await page.getByTestId('logoff').click();
    await page.getByTestId('signed-out').waitFor();
  }, 300_000);

  it('(b) a key-environment request captured whole, replayed later with a fresh ephemeral key, gets no keyring', async () => {
    const m = demo.member(memberWithDependants(20));
    let page = await newPage();
    // The positive control first: a delivery request captured on its way and held, so the key
    // environment has not seen it, replayed instead of it with a fresh ephemeral key.
    let held: { route: Route; headers: Record<string, string> } | undefined;
    let heldSeen: () => void = () => undefined;
    const heldReady = new Promise<void>((resolve, reject) => {
      heldSeen = resolve;
      setTimeout(() => reject(new Error('no delivery request with a nonce-bearing DPoP proof within 60 s')), 60_000).unref();
    });
    await page.route(`${sso.portal}/key-env/session`, async (route) => {
      const headers = await route.request().allHeaders();
      // Hold the first request the key environment would accept: one whose proof carries the
      // server's nonce (the first, without one, only earns the nonce challenge).
      if (held === undefined && jwtParts(headers.dpop ?? '')?.payload.nonce !== undefined) {
        held = { route, headers };
        heldSeen();
        return;
      }
      await route.continue();
    });
    await page.goto(demo.url);
    await page.getByTestId('sign-in').click();
    await page.getByTestId('login-id').fill(m.memberId);
    await page.getByTestId('login-password').fill('demo');
    await page.getByTestId('login-submit').click();
    await heldReady;
    const instead = await replay(sso.portal, { label: 'the held request, replayed instead of it', headers: held!.headers });
    expect(instead).toEqual({ label: 'the held request, replayed instead of it', keyring: true });
    await held!.route.abort();
    // The page's own delivery now fails: its token has opened a session already (the attacker's).
    await expect.poll(() => page.locator('.error').textContent()).toMatch(/\S/);
    expect(await page.getByTestId('member-name').count()).toBe(0);
    await page.unrouteAll();
    await browser!.close(); // a fresh browser: this one is still signed in at the SSO
    browser = undefined;

    // The attack: the member signs in again and uses the portal; every key-environment request
    // is captured whole meanwhile and replayed once it has been used.
    page = await newPage();
    const traffic = watch(page);
    await signIn(page, m.memberId);
    await usePortal(page, m.dependants[0]!.recordId);
    const captured = traffic.keyEnvironment.filter((r) => r.url === `${sso.portal}/key-env/session`);
    expect(captured.length).toBeGreaterThan(0);
    const sessionId = [...traffic.sessionIds][0]!;
    const attempts: ReplayAttempt[] = traffic.keyEnvironment.flatMap((r, i) => [
      { label: `captured key-environment request #${i} (${new URL(r.url).pathname}) as a delivery`, headers: r.headers },
      { label: `captured key-environment request #${i} (${new URL(r.url).pathname}) resuming the live session`, headers: r.headers, resume: sessionId },
    ]);
    const results = await replayAll(sso.portal, attempts);
    expect(keyrings(results)).toEqual([]);
    expect(await page.getByTestId('member-name').textContent()).toBe(m.identity.fullName); // the member is still signed in
    await page.getByTestId('logoff').click();
    await page.getByTestId('signed-out').waitFor();
  }, 300_000);
});

/**
 * Every token-like string in every process of the browser and every file of its profile (the
 * SSO's opaque tokens: those it handed this device, token-scan.ts says why).
 */
async function scanDevice(b: LaunchedChromium, t: Traffic): Promise<TokenCandidates> {
  const known = [...t.refreshTokens, ...t.codes];
  const found = noCandidates();
  await tokensInMemory(chromiumPids(b.userDataDir), known, found);
  await tokensInFiles(b.userDataDir, known, found);
  return found;
}

/**
 * Each opaque string tried at the SSO as a refresh token, with the attacker's DPoP key: the
 * SSO's test log tells "no such token" from "a live token bound to another key".
 */
async function refreshAttempts(strings: Iterable<string>): Promise<{ granted: number; liveButBound: number; tried: number }> {
  const as = await oauth.processDiscoveryResponse(new URL(sso.issuer), await oauth.discoveryRequest(new URL(sso.issuer), { [oauth.allowInsecureRequests]: true }));
  const client: oauth.Client = { client_id: sso.clientId };
  const dpop = oauth.DPoP(client, attackerKey);
  const before = demo.ssoEvents().length;
  let granted = 0;
  let tried = 0;
  for (const rt of strings) {
    tried++;
    const res = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), rt, { DPoP: dpop, additionalParameters: { resource: sso.keyEnvironment }, [oauth.allowInsecureRequests]: true });
    if (res.ok) granted++;
  }
  const liveButBound = demo.ssoEvents().slice(before).filter((e) => e.event === 'grant.error' && e.grantType === 'refresh_token' && e.detail === 'failed jkt verification').length;
  return { granted, liveButBound, tried };
}

/** The known credentials of a session that a scan found, by kind. */
function knownFound(found: TokenCandidates, t: Traffic): Record<string, number> {
  const all = new Set([...found.jwts, ...found.opaque]);
  const count = (s: Set<string>): number => [...s].filter((x) => all.has(x)).length;
  return { accessTokens: count(t.accessTokens), refreshTokens: count(t.refreshTokens), idTokens: count(t.idTokens), proofs: count(t.proofs) };
}

describe('a device after each wipe holds no credential that yields keys (Chromium, through the demo)', () => {
  /**
   * Signs in, scans while signed in (the positive control: the scan sees the access, refresh
   * and ID tokens and the DPoP proofs), wipes with `wipe`, scans again and replays everything.
   */
  async function attackAfter(wipe: (page: Page) => Promise<void>, query: string, memberNumber: number, source: string): Promise<void> {
    const m = demo.member(memberWithDependants(memberNumber));
    const page = await newPage();
    const traffic = watch(page);
    await signIn(page, m.memberId, query);
    await usePortal(page, m.dependants[0]!.recordId);
    const b = browser!;

    const signedIn = await scanDevice(b, traffic);
    await page.keyboard.press('Shift'); // activity: an idle timeout counts from the end of the scan
    const seen = knownFound(signedIn, traffic);
    expect(seen.accessTokens).toBeGreaterThan(0);
    expect(seen.refreshTokens).toBeGreaterThan(0);
    expect(seen.idTokens).toBeGreaterThan(0);
    expect(seen.proofs).toBeGreaterThan(0);
    // …and the SSO tells a live refresh token from a dead one: the live one, tried with the
    // attacker's key, is refused as bound to another key.
    const live = await refreshAttempts(traffic.refreshTokens);
    expect(live.granted).toBe(0);
    expect(live.liveButBound).toBeGreaterThan(0);

    await wipe(page);
    const after = await scanDevice(b, traffic);
    const sessionIds = [...traffic.sessionIds];
    // Every JWT and session id found, and every opaque token the device was ever handed.
    const attempts = attemptsFor({ ...after, opaque: new Set([...after.opaque, ...traffic.refreshTokens, ...traffic.codes]) }, attackerKey, source, sessionIds);
    expect(attempts.length).toBeGreaterThan(0);
    const results = await replayAll(sso.portal, attempts);
    expect(keyrings(results)).toEqual([]);
    // Refresh tokens: every one the page ever held, found or not (and every code).
    const refresh = await refreshAttempts(new Set([...traffic.refreshTokens, ...traffic.codes]));
    expect(refresh).toEqual({ granted: 0, liveButBound: 0, tried: refresh.tried });
    console.log(`${source}: ${after.jwts.size} JWT-like, ${after.opaque.size} opaque and ${after.sessionIds.size} session-id-like strings found; ${attempts.length} key requests and ${refresh.tried} refreshes tried; known credentials still found: ${JSON.stringify(knownFound(after, traffic))}`);
  }

  it('(c) after logoff', async () => {
    await attackAfter(async (page) => {
      await page.getByTestId('logoff').click();
      await page.getByTestId('signed-out').waitFor();
      expect(await page.getByTestId('signed-out').getAttribute('data-reason')).toBe('logoff');
    }, '', 40, 'after logoff');
  }, 600_000);

  it('(c) after an idle wipe', async () => {
    await attackAfter(async (page) => {
      // No input from here on: the idle timeout fires.
      await page.getByTestId('signed-out').waitFor({ timeout: 120_000 });
      expect(await page.getByTestId('signed-out').getAttribute('data-reason')).toBe('idle');
    }, '?idleMs=60000', 60, 'after an idle wipe');
  }, 600_000);

  it('(c) after a tab close in memory mode — and what remains: the SSO\'s own session', async () => {
    const m = demo.member(memberWithDependants(80));
    await attackAfter(async (page) => {
      const keep = await browser!.context.newPage(); // the browser stays open; only the tab goes
      await keep.goto('about:blank');
      await page.close({ runBeforeUnload: true });
      await new Promise((r) => setTimeout(r, 1000)); // the keepalive requests of pagehide
    }, '?persistence=memory', 80, 'after a tab close');
    // What the threat model states as remaining: a tab cannot end the SSO's session as it
    // closes (that takes a top-level navigation), so while the browser runs, its session cookie
    // signs the member in again without the password — the SSO's session policy (here: a
    // browser-session cookie, eight hours at most).
    const again = await browser!.context.newPage();
    await again.goto(demo.url);
    await again.getByTestId('sign-in').click();
    await again.getByTestId('member-name').waitFor();
    expect(await again.getByTestId('member-name').textContent()).toBe(m.identity.fullName);
    await again.getByTestId('logoff').click();
    await again.getByTestId('signed-out').waitFor();
  }, 600_000);
});
