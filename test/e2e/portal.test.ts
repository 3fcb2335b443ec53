// End to end through `npm run demo` in real Chromium: the test contract of the portal
// (data-testid sign-in on the portal; login-id, login-password, login-submit on the SSO's page;
// member-name, logoff, signed-out), sign-in through the OpenID Provider with the decrypted name,
// vitals, the address change surviving a reload (IndexedDB: a silent sign-in and a resume),
// logoff in one tab signing out the other, idle timeout, revocation, the content security
// policy, and the residue scan after logoff (G4) with the keys taken from the demo's key log
// (TOKUMEI_DEMO_KEYLOG).
import { spawnSync } from 'node:child_process';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPids, launchChromium, type LaunchedChromium } from '../browser/chromium.ts';
import { scanFiles, scanProcessMemory } from '../browser/residue.ts';
import { keyAndSubkeys, startDemo, type RunningDemo } from './demo-process.ts';
import { signInInBrowser } from './oidc-client.ts';

let demo: RunningDemo;
let browser: LaunchedChromium | undefined;

beforeAll(async () => {
  demo = await startDemo();
}, 300_000); // the first start seeds the embedded databases: PGlite's initdb, ~13 s of CPU
afterEach(async () => {
  await browser?.close();
  browser = undefined;
});
afterAll(async () => {
  await demo?.stop();
});

/** The first member number from `from` on who has dependants (each test uses its own members). */
function memberWithDependants(from: number): number {
  for (let n = from; ; n++) if (demo.member(n).dependants.length > 0) return n;
}

async function newPage(): Promise<Page> {
  browser ??= await launchChromium();
  const page = await browser.context.newPage();
  page.setDefaultTimeout(20_000);
  return page;
}

const signIn = (page: Page, memberId: string, query = ''): Promise<void> => signInInBrowser(page, demo.url, memberId, query);

async function signedOutReason(page: Page): Promise<string | null> {
  const el = page.getByTestId('signed-out');
  await el.waitFor();
  return el.getAttribute('data-reason');
}

function jpDate(iso: string): string {
  const [y, m, d] = iso.split('-').map(Number);
  return `${y}年${m}月${d}日`;
}

describe('the demo portal in Chromium', () => {
  it('signs in, shows identity decrypted in the browser and a dependant, records vitals, logs off', async () => {
    const m = demo.member(memberWithDependants(1));
    const page = await newPage();
    await signIn(page, m.memberId);

    expect(await page.getByTestId('member-name').textContent()).toBe(m.identity.fullName);
    expect(await page.getByTestId('member-kana').textContent()).toBe(m.identity.fullNameKana);
    expect(await page.getByTestId('member-birth-date').textContent()).toBe(jpDate(m.identity.birthDate));
    expect(await page.getByTestId('member-address').textContent()).toBe(m.identity.address);
    expect(await page.getByTestId('member-insured-number').textContent()).toBe(m.identity.insuredNumber);
    // What the data environment sent was sealed: the name is nowhere in it.
    const stored = JSON.stringify(await demo.readDataEnvironment((db) => db.identity(m.memberId)));
    expect(stored).not.toContain(m.identity.fullName);
    expect(JSON.parse(stored).fullName).toMatch(/^tk1\./);

    // A dependant's record opens with the dependant's key from the member's keyring.
    const dep = m.dependants[0]!;
    await page.getByTestId(`dependant-${dep.recordId}`).click();
    expect(await page.getByTestId('dependant-detail').textContent()).toContain(dep.identity.fullName);

    // Ranking and points come from attribute data under a pseudonym.
    expect(await page.getByTestId('walker-ranking').locator('tr').count()).toBeGreaterThan(0);
    expect(await page.getByTestId('health-points').textContent()).toMatch(/^[\d,]+ pt$/);

    await page.getByTestId('vitals-weight').fill('65.4');
    await page.getByTestId('vitals-systolic').fill('128');
    await page.getByTestId('vitals-diastolic').fill('82');
    await page.getByTestId('vitals-submit').click();
    await expect.poll(() => page.getByTestId('vitals-saved').textContent()).toContain('保存しました');
    expect(await page.getByTestId('vitals-recent').textContent()).toContain('65.4 kg, 128/82 mmHg');

    await page.getByTestId('logoff').click();
    expect(await signedOutReason(page)).toBe('logoff');
    expect(await page.getByTestId('member-name').count()).toBe(0);
    expect(await page.content()).not.toContain(m.identity.fullName);
    // Logoff ended the SSO's session too (RP-initiated logout): signing in asks for the password.
    await page.getByTestId('sign-in').click();
    await page.getByTestId('login-id').waitFor();
    expect(page.url().startsWith(demo.issuer)).toBe(true);
  }, 120_000); // reads the data environment's database from a copy: seconds on a busy machine

  it('runs under a CSP without inline styles and with Trusted Types, and the browser enforces it', async () => {
    const m = demo.member(memberWithDependants(90));
    const page = await newPage();
    // Recorded from the first script on, before the portal's own.
    await page.addInitScript(() => {
      const seen: string[] = [];
      (window as unknown as { cspViolations: string[] }).cspViolations = seen;
      document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.effectiveDirective} ${e.blockedURI}`));
    });
    const response = await page.goto(demo.url);
    const csp = response!.headers()['content-security-policy']!;
    expect(csp).toContain("require-trusted-types-for 'script'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    await signIn(page, m.memberId);
    await page.getByTestId(`dependant-${m.dependants[0]!.recordId}`).click();
    await page.getByTestId('dependant-detail').waitFor();
    await page.locator('.uplot').first().waitFor(); // the checkup chart drew
    await page.getByTestId('vitals-weight').fill('70.1');
    await page.getByTestId('vitals-systolic').fill('120');
    await page.getByTestId('vitals-diastolic').fill('80');
    await page.getByTestId('vitals-submit').click();
    await expect.poll(() => page.getByTestId('vitals-saved').textContent()).toContain('保存しました');
    const violations = (): Promise<string[]> => page.evaluate(() => [...(window as unknown as { cspViolations: string[] }).cspViolations]);
    expect(await violations()).toEqual([]);

    // The positive control, in the same page: an HTML string, an inline style attribute and a
    // script made from a string are each refused, and the listener sees the violations.
    const refused = await page.evaluate(() => {
      const out: string[] = [];
      try {
        document.body.insertAdjacentHTML('beforeend', '<b>x</b>');
        out.push('html accepted');
      } catch (e) {
        out.push((e as Error).name);
      }
      const el = document.createElement('div');
      el.setAttribute('style', 'color: red');
      document.body.append(el);
      out.push(getComputedStyle(el).color);
      const script = document.createElement('script');
      try {
        script.textContent = 'window.inlineRan = true';
        document.body.append(script);
        out.push(String((window as unknown as { inlineRan?: boolean }).inlineRan === true));
      } catch (e) {
        out.push((e as Error).name);
      }
      return out;
    });
    expect(refused[0]).toBe('TypeError');
    expect(refused[1]).not.toBe('rgb(255, 0, 0)');
    expect(refused[2]).toBe('TypeError');
    await expect.poll(async () => (await violations()).map((v) => v.split(' ')[0]).sort()).toEqual(['require-trusted-types-for', 'require-trusted-types-for', 'style-src-attr']);
    await page.getByTestId('logoff').click();
    expect(await signedOutReason(page)).toBe('logoff');
  }, 60_000);

  it('fits a phone screen, with the vitals form first and touch-sized inputs', async () => {
    const page = await newPage();
    await page.setViewportSize({ width: 390, height: 844 });
    await signIn(page, demo.member(70).memberId);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    const cards = await page.locator('.grid > section').evaluateAll((els) => els.map((e) => [e.className, e.getBoundingClientRect().top] as const));
    const vitalsTop = cards.find(([c]) => c.includes('vitals'))![1];
    expect(Math.min(...cards.map(([, top]) => top))).toBe(vitalsTop);
    for (const id of ['vitals-weight', 'vitals-systolic', 'vitals-diastolic', 'vitals-submit']) {
      const box = (await page.getByTestId(id).boundingBox())!;
      expect(box.height).toBeGreaterThanOrEqual(44);
      expect(box.x + box.width).toBeLessThanOrEqual(390);
    }
    expect(await page.getByTestId('vitals-weight').getAttribute('inputmode')).toBe('decimal');
  }, 60_000);

  it('rejects a wrong password at the SSO, without a session', async () => {
    const page = await newPage();
    await page.goto(demo.url);
    await page.getByTestId('sign-in').click();
    await page.getByTestId('login-id').fill('M000002');
    await page.getByTestId('login-password').fill('wrong');
    await page.getByTestId('login-submit').click();
    await expect.poll(() => page.locator('.error').textContent()).toContain('パスワードが違います');
    // Still at the SSO, which is its own origin (another host than the portal's).
    expect(new URL(page.url()).origin).toBe(demo.issuer);
    expect(new URL(page.url()).hostname).not.toBe(new URL(demo.url).hostname);
    expect(await page.getByTestId('member-name').count()).toBe(0);
  }, 60_000);

  it('indexeddb: the address is sealed in the browser, and a reload resumes the session without a new sign-in', async () => {
    const m = demo.member(30);
    const page = await newPage();
    await signIn(page, m.memberId, '?persistence=indexeddb');
    const newAddress = '〒100-0001 東京都千代田区千代田1-1 テスト棟101';
    await page.getByTestId('address-input').fill(newAddress);
    await page.getByTestId('address-submit').click();
    await expect.poll(() => page.getByTestId('address-saved').textContent()).toContain('保存しました');
    expect(await page.getByTestId('member-address').textContent()).toBe(newAddress);
    // The data environment received a sealed value, never the new address itself.
    const stored = JSON.stringify(await demo.readDataEnvironment((db) => db.identity(m.memberId)));
    expect(stored).not.toContain('テスト棟');
    expect(JSON.parse(stored).address).toMatch(/^tk1\./);

    const deliveries = demo.deliveredKeys().size;
    await page.reload();
    await page.getByTestId('member-name').waitFor();
    expect(await page.getByTestId('member-address').textContent()).toBe(newAddress);
    // Resumed: a silent sign-in at the SSO (no form on the way), and the key environment
    // re-delivered the same session's keys (no new key version).
    expect(demo.deliveredKeys().size).toBe(deliveries);

    await page.getByTestId('logoff').click();
    expect(await signedOutReason(page)).toBe('logoff');
    // Logoff ended the SSO's session too: a reload finds nothing to resume, and signing in
    // again asks for the password.
    await page.reload();
    await page.getByTestId('sign-in').click();
    await page.getByTestId('login-password').waitFor();
    expect(await page.getByTestId('member-name').count()).toBe(0);
  }, 120_000); // reads the data environment's database from a copy: seconds on a busy machine

  it('logoff in one tab signs out the other', async () => {
    const m = demo.member(40);
    const first = await newPage();
    await signIn(first, m.memberId, '?persistence=indexeddb');
    const second = await newPage();
    await second.goto(`${demo.url}?persistence=indexeddb`);
    await second.getByTestId('member-name').waitFor();
    expect(await second.getByTestId('member-name').textContent()).toBe(m.identity.fullName);

    await first.getByTestId('logoff').click();
    expect(await signedOutReason(first)).toBe('logoff');
    expect(await signedOutReason(second)).toBe('remote-logoff');
    expect(await second.getByTestId('member-name').count()).toBe(0);
  }, 120_000);

  it('the idle timeout from ?idleMs wipes the session', async () => {
    const m = demo.member(50);
    const page = await newPage();
    await signIn(page, m.memberId, '?idleMs=1500');
    expect(await signedOutReason(page)).toBe('idle');
  }, 60_000);

  it('wipes with reason "revoked" when the key environment revokes the session', async () => {
    const m = demo.member(60);
    const page = await newPage();
    await signIn(page, m.memberId, '?revocationCheckMs=300');
    // An administrator acts on the key environment directly (its admin route is not public).
    const res = await fetch(new URL('/admin/revoke', demo.keyEnvironmentUrl), { method: 'POST', body: JSON.stringify({ memberId: m.memberId }) });
    expect(await res.json()).toEqual({ revoked: 1 });
    expect(await signedOutReason(page)).toBe('revoked');
    // The gateway does not route the admin endpoint from the portal's origin.
    expect((await fetch(new URL('/key-env/admin/revoke', demo.url), { method: 'POST', body: '{}' })).status).toBe(404);
  }, 60_000);

  it('leaves no member key or subkey in any Chromium process or profile file after logoff (G4)', async () => {
    const m = demo.member(memberWithDependants(100));
    const before = new Set(demo.deliveredKeys().keys());
    const page = await newPage();
    await signIn(page, m.memberId);
    await page.getByTestId(`dependant-${m.dependants[0]!.recordId}`).click();
    await page.getByTestId('dependant-detail').waitFor();

    const delivered = [...demo.deliveredKeys()].filter(([id]) => !before.has(id));
    expect(delivered.length).toBe(1 + m.dependants.length); // own key and each dependant's
    const needles = delivered.flatMap(([, key]) => keyAndSubkeys(key));
    const pids = chromiumPids(browser!.userDataDir);
    expect(pids.length).toBeGreaterThan(1);
    // The positive control: while signed in, the scan finds the keys the page holds.
    const signedIn = await scanProcessMemory(pids, needles);
    expect(signedIn.perNeedle[0]).toBeGreaterThan(0); // the member's own key
    expect(signedIn.perNeedle[1]).toBeGreaterThan(0); // its field-encryption subkey

    await page.getByTestId('logoff').click();
    expect(await signedOutReason(page)).toBe('logoff');
    const after = await scanProcessMemory(chromiumPids(browser!.userDataDir), needles);
    expect(after.perNeedle).toEqual(needles.map(() => 0));
    expect(await scanFiles(browser!.userDataDir, needles)).toEqual({ hits: 0, files: [] });
  }, 240_000);

  it('passes the separation audit after the browser wrote to the data environment, and stops cleanly on Ctrl-C', async () => {
    const audit = spawnSync(process.execPath, [new URL('../../examples/portal/demo.mjs', import.meta.url).pathname, 'audit'], {
      env: { ...process.env, TOKUMEI_DEMO_DATA: demo.dataDir },
      encoding: 'utf8',
    });
    expect(audit.stdout).toContain('Audit passed');
    expect(audit.status).toBe(0);
    expect(demo.output()).toContain('TOKUMEI_DEMO_KEYLOG is set');
    expect(await demo.stop()).toBe(0);
  }, 180_000);
});
