#!/usr/bin/env node
// Takes the README's screenshot of the signed-in portal (headless Chromium via playwright-core):
//   npm run demo   (in another terminal), then
//   node examples/portal/screenshot.mjs http://127.0.0.1:8080/ [docs/portal.png] [M000016]
// (M000016 has a spouse and a child with the demo's default seed.)
import { chromium } from 'playwright-core';

const [url, out = 'docs/portal.png', memberId = 'M000016'] = process.argv.slice(2);
if (url === undefined) {
  console.error('usage: node examples/portal/screenshot.mjs <portal url> [output.png]');
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 1500 }, locale: 'ja-JP' });
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
  await page.locator('[data-testid^="dependant-M"]').first().click();
  await page.waitForTimeout(300);
  await page.screenshot({ path: out });
  console.log(`Saved ${out}`);
} finally {
  await browser.close();
}
