// The demo with its master key in SoftHSM2 (TOKUMEI_DEMO_MASTER_KEY=softhsm2): seeded, signed in
// to in Chromium (every delivered member key unwrapped inside the token), audited, and stopped
// cleanly — with no master key file anywhere in the data folder.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type LaunchedChromium } from '../browser/chromium.ts';
import { scanFiles } from '../browser/residue.ts';
import { startDemo, type RunningDemo } from './demo-process.ts';

const HSM = { TOKUMEI_DEMO_MASTER_KEY: 'softhsm2' };
let demo: RunningDemo;
let browser: LaunchedChromium | undefined;

beforeAll(async () => {
  demo = await startDemo({ members: 12, env: HSM });
}, 300_000); // the first start creates the key environment's embedded database (PGlite's initdb, ~13 s of CPU)
afterAll(async () => {
  await browser?.close();
  await demo?.stop();
});

describe('the demo on SoftHSM2', () => {
  it('keeps its master key in a SoftHSM2 token: the key environment says so, and no key file exists', async () => {
    expect(demo.output()).toMatch(/key-env master key: SoftHSM2 token "tokumei-demo", key "tokumei-demo-master" \(p11\.[A-Za-z0-9_-]{22}\)/);
    expect(existsSync(join(demo.dataDir, 'key-env', 'softhsm2', 'tokens'))).toBe(true);
    expect(existsSync(join(demo.dataDir, 'key-env', 'master.key'))).toBe(false);
  });

  it('a member signs in and sees their name, decrypted with a key unwrapped inside the token', async () => {
    browser = await launchChromium();
    const page = await browser.context.newPage();
    page.setDefaultTimeout(30_000);
    const member = demo.member(1);
    await page.goto(demo.url);
    await page.getByTestId('sign-in').click(); // to the SSO's own form
    await page.getByTestId('login-id').fill(member.memberId);
    await page.getByTestId('login-password').fill('demo');
    await page.getByTestId('login-submit').click();
    await expect.poll(() => page.getByTestId('member-name').textContent(), { timeout: 30_000 }).toContain(member.identity.fullName);
    // The delivered key was a real member key of the store (positive control for the key log).
    expect(demo.deliveredKeys().size).toBeGreaterThan(0);
    // Nothing in the data folder holds a delivered member key in the clear.
    const keys = [...demo.deliveredKeys().values()];
    const { files } = await scanFiles(demo.dataDir, keys);
    expect(files.filter((f) => !f.endsWith('keylog.txt'))).toEqual([]);
  }, 120_000);

  it('passes the separation audit, and refuses to open this data folder with the local master key', async () => {
    const demoScript = new URL('../../examples/portal/demo.mjs', import.meta.url).pathname;
    const audit = spawnSync(process.execPath, [demoScript, 'audit'], { env: { ...process.env, ...HSM, TOKUMEI_DEMO_DATA: demo.dataDir }, encoding: 'utf8' });
    expect(audit.stdout).toContain('the master key is in SoftHSM2 and cannot be read out of it');
    expect(audit.stdout).toContain('Audit passed');
    expect(audit.status).toBe(0);
    const wrongKey = spawnSync(process.execPath, [demoScript, 'audit'], { env: { ...process.env, TOKUMEI_DEMO_MASTER_KEY: 'file', TOKUMEI_DEMO_DATA: demo.dataDir }, encoding: 'utf8' });
    expect(wrongKey.status).not.toBe(0);
    expect(wrongKey.stderr).toContain("this data folder's master key is in SoftHSM2");
  }, 120_000);

  it('stops cleanly on Ctrl-C', async () => {
    await browser?.close();
    browser = undefined;
    expect(await demo.stop()).toBe(0);
  }, 60_000);
});
