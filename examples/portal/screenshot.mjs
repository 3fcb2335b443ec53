#!/usr/bin/env node
// Takes the README's screenshots of the signed-in portal (headless Chromium via playwright-core):
//   npm run demo   (in another terminal), then
//   node examples/portal/screenshot.mjs http://127.0.0.1:8080/ [docs/portal.png] [M000016]
//   node examples/portal/screenshot.mjs --phone http://127.0.0.1:8080/ docs/portal-phone.png
// (M000016 has a spouse and a child with the demo's default seed.) `--phone` is a 390 × 844 CSS px
// touch screen at twice the pixel density, as on a common smartphone.
import { chromium } from 'playwright-core';

const args = process.argv.slice(2);
const phone = args[0] === '--phone';
const [url, out = phone ? 'docs/portal-phone.png' : 'docs/portal.png', memberId = 'M000016'] = phone ? args.slice(1) : args;
if (url === undefined) {
  console.error('usage: node examples/portal/screenshot.mjs [--phone] <portal url> [output.png] [member id]');
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const screen = phone ? { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true } : { viewport: { width: 1200, height: 2000 } };
  const page = await browser.newPage({ ...screen, locale: 'ja-JP', timezoneId: 'Asia/Tokyo' });
  await page.goto(url);
  await page.getByTestId('sign-in').click(); // to the SSO's sign-in page, and back
  await page.getByTestId('login-id').fill(memberId);
  await page.getByTestId('login-password').fill('demo');
  await page.getByTestId('login-submit').click();
  await page.getByTestId('member-name').waitFor();
  await page.getByTestId('vitals-weight').fill('68.2');
  await page.getByTestId('vitals-systolic').fill('124');
  await page.getByTestId('vitals-diastolic').fill('79');
  await page.getByTestId('vitals-submit').click();
  await page.getByTestId('vitals-recent').waitFor();
  // The desktop shot shows a dependant's record too; the phone shot the top of the page, as a
  // member sees it after saving today's vitals.
  if (!phone) await page.locator('[data-testid^="dependant-M"]').first().click();
  await page.waitForTimeout(300);
  await page.evaluate(() => scrollTo(0, 0));
  await page.screenshot({ path: out });
  console.log(`Saved ${out}`);
} finally {
  await browser.close();
}
