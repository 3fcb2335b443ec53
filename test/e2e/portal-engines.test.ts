// The demo's main flow on a phone screen (390 × 844 CSS px) in every engine (Chromium, Firefox,
// WebKit), through `npm run demo` as a member would use it: sign-in at the SSO, the decrypted
// profile and a dependant, the checkup table with its newest year in view, the charts with
// Japanese dates and checkup results apart from home readings, today's vitals entered twice
// (points once a day, and the page says so), logoff shown in words — and the residue scan over
// every process of the browser (G4): the member's keys found while signed in, none after logoff.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, launchEngine, type Browser, type Tab } from '../browser/engines/engine.ts';
import { scanBrowser, scanFiles } from '../browser/residue.ts';
import { keyAndSubkeys, startDemo, type RunningDemo } from './demo-process.ts';

const PHONE = { width: 390, height: 844 };
let demo: RunningDemo;

beforeAll(async () => {
  demo = await startDemo({ members: 200 });
}, 300_000); // the first start creates the key environment's embedded database (PGlite's initdb, ~13 s of CPU)
afterAll(async () => {
  await demo?.stop();
});

const sel = (testid: string): string => `[data-testid="${testid}"]`;

async function text(tab: Tab, testid: string): Promise<string | null> {
  return tab.evaluate((s) => document.querySelector(s)?.textContent ?? null, sel(testid));
}

async function shown(tab: Tab, testid: string, timeoutMs = 20_000): Promise<void> {
  try {
    await tab.waitFor((s) => document.querySelector(s) !== null, sel(testid), timeoutMs);
  } catch (err) {
    const where = await tab.evaluate(() => `${location.href}: ${document.body?.innerText.slice(0, 300) ?? ''}`).catch(() => '');
    throw new Error(`${testid} not shown (${where})`, { cause: err });
  }
}

function memberWithDependants(from: number): number {
  for (let n = from; ; n++) if (demo.member(n).dependants.length > 0) return n;
}

ENGINES.forEach((engine, i) => {
  describe(`the demo on a phone in ${engine}`, () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await launchEngine(engine);
    });
    afterAll(async () => {
      await browser?.close();
    });

    it('signs in, reads well at 390 px, records vitals twice, logs off in words, and leaves no key behind', async () => {
      // Each engine signs in as its own member, so no run sees another's vitals.
      const m = demo.member(memberWithDependants(120 + i * 20));
      const before = new Set(demo.deliveredKeys().keys());
      const tab = await browser.newTab();
      await tab.setViewport(PHONE);
      await tab.goto(demo.url);
      await shown(tab, 'sign-in');
      await tab.click(sel('sign-in'));
      await shown(tab, 'login-id');
      await tab.fill(sel('login-id'), m.memberId);
      await tab.fill(sel('login-password'), 'demo');
      await tab.click(sel('login-submit'));
      await shown(tab, 'member-name', 30_000);
      expect(await tab.evaluate(() => innerWidth)).toBe(PHONE.width);

      // The profile, decrypted in this browser; a dependant, opened with the dependant's key.
      expect(await text(tab, 'member-name')).toBe(m.identity.fullName);
      expect(await text(tab, 'member-address')).toBe(m.identity.address);
      const dep = m.dependants[0]!;
      await tab.click(sel(`dependant-${dep.recordId}`));
      await shown(tab, 'dependant-detail');
      expect(await text(tab, 'dependant-detail')).toContain(dep.identity.fullName);

      // Nothing wider than the screen; the newest checkup year is in view without scrolling.
      expect(await tab.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
      const newest = m.checkups.at(-1)!.date.slice(0, 4);
      const column = await tab.evaluate((year) => {
        const th = document.querySelector(`[data-testid="checkup-table"] th[data-year="${year}"]`);
        const box = th?.getBoundingClientRect();
        return box === undefined ? null : { left: box.left, right: box.right };
      }, newest);
      expect(column).not.toBeNull();
      expect(column!.left).toBeGreaterThanOrEqual(0);
      expect(column!.right).toBeLessThanOrEqual(PHONE.width);

      // The charts: Japanese legends, checkups and home readings as series of their own.
      const legends = await tab.evaluate(() => [...document.querySelectorAll('.checkups .u-legend .u-series th')].map((e) => e.textContent?.trim() ?? ''));
      expect(legends).toEqual(expect.arrayContaining(['日付', '最高血圧 (健診)', '最低血圧 (健診)', '最高血圧 (自宅)', '最低血圧 (自宅)', '体重 (健診)', '体重 (自宅)']));
      expect(legends.join(' ')).not.toMatch(/[A-Za-z]{3,}/);

      // Today's vitals: the first entry earns the day's points, a second one replaces it and
      // says that it earns none.
      const points = async (): Promise<number> => Number((await text(tab, 'health-points'))!.replace(/[^\d]/g, ''));
      const start = await points();
      for (const [weight, systolic, diastolic] of [['65.4', '128', '82'], ['65.0', '126', '80']] as const) {
        await tab.fill(sel('vitals-weight'), weight);
        await tab.fill(sel('vitals-systolic'), systolic);
        await tab.fill(sel('vitals-diastolic'), diastolic);
        const previous = (await text(tab, 'vitals-saved')) ?? '';
        await tab.click(sel('vitals-submit'));
        await tab.waitFor(([s, p]) => !['', p].includes(document.querySelector(s!)?.textContent ?? ''), [sel('vitals-saved'), previous]);
        if (weight === '65.4') {
          expect(await text(tab, 'vitals-saved')).toContain('+5 pt');
          expect(await points()).toBe(start + 5);
        } else {
          expect(await text(tab, 'vitals-saved')).not.toContain('+5 pt');
          expect(await text(tab, 'vitals-saved')).toContain('ポイントは1日1回');
          expect(await points()).toBe(start + 5);
        }
      }
      await tab.screenshot(`${demo.dataDir}/phone-${engine}.png`);

      // The positive control: the member's keys are in this browser's memory while signed in.
      const delivered = [...demo.deliveredKeys()].filter(([id]) => !before.has(id));
      expect(delivered.length).toBe(1 + m.dependants.length);
      const names = delivered.flatMap(([id]) => [`${id}`, `${id}.field`, `${id}.search`]);
      const needles = delivered.flatMap(([, key]) => keyAndSubkeys(key));
      const signedIn = await scanBrowser(browser, names, needles);
      expect(signedIn[delivered[0]![0]]).toBeGreaterThan(0);
      expect(signedIn[`${delivered[0]![0]}.field`]).toBeGreaterThan(0);

      // Logoff ends the SSO session too (a round trip through the SSO): wait for the portal page
      // that comes back, a new document without this marker.
      await tab.evaluate(() => void ((globalThis as { beforeLogoff?: boolean }).beforeLogoff = true));
      await tab.click(sel('logoff'));
      await tab.waitFor((s) => !('beforeLogoff' in globalThis) && document.querySelector(s) !== null, sel('signed-out'), 30_000);
      const said = (await text(tab, 'signed-out'))!;
      expect(said).toContain('ログオフしました');
      expect(said).not.toMatch(/[A-Za-z]/); // words, never a code such as "logoff"
      expect(await tab.evaluate(() => document.querySelector('[data-testid="member-name"]'))).toBeNull();

      expect(await scanBrowser(browser, names, needles)).toEqual({});
      expect(await scanFiles(browser.profileDir, needles)).toEqual({ hits: 0, files: [] });
    }, 240_000);
  });
});
